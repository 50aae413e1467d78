package embedded

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// syncDepth bounds the executed batches waiting for the syncer: while one
// group is in fdatasync, one executed batch waits in the channel and the
// committer may execute one more before it blocks. Deeper pipelines made
// smaller blocks (~11 instead of ~17 claims in BenchmarkClaim) and so more
// CPU per claim (bbolt commits, block hashing, fsyncs), for no lower
// latency: everything executed during one fdatasync waits for the next.
const syncDepth = 1

// run is the committer: the only writer of ledger.db and of the block log.
// It takes everything queued (up to maxBatch), executes it as one block,
// appends the block's record to the log, commits ledger.db without fsync and
// hands the batch to the syncer, then starts on the next batch at once: the
// next batch executes while the previous one's record is being fsync'd, and
// sees its state because ledger.db's commit came first.
func (l *Ledger) run() {
	defer close(l.committerDone)
	defer close(l.syncQ)
	batch := make([]*request, 0, l.cfg.maxBatch)
	for {
		req, ok := <-l.queue
		if !ok {
			return
		}
		batch = append(batch[:0], req)
	fill:
		for len(batch) < l.cfg.maxBatch {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.commit(slices.Clone(batch))
		clear(batch)
	}
}

// pending is an executed batch waiting for the fsync of its block (or, for a
// batch without a block, of the blocks before it).
type pending struct {
	batch   []*request
	results []result
	start   time.Time
	stats   batchStats // stats.Txs == 0: no block
}

func (p *pending) answer() {
	for i, req := range p.batch {
		req.done <- p.results[i]
	}
}

func (p *pending) fail(err error) {
	for i := range p.results {
		p.results[i] = result{err: err}
	}
	p.answer()
}

// commit executes a batch's transactions in order inside one bbolt
// read-write transaction (each sees the writes of the accepted ones before
// it; a rejected one leaves nothing behind, so the cap stays exact), appends
// the block to the log, commits ledger.db (no fsync) and queues the batch
// for the syncer, which answers it once the log record is durable.
func (l *Ledger) commit(batch []*request) {
	p := &pending{batch: batch, results: make([]result, len(batch)), start: time.Now()}
	if err := l.brokenErr(); err != nil {
		p.fail(err)
		return
	}
	tx, err := l.db.Begin(true)
	if err != nil {
		l.fail(err)
		p.fail(errFailed(err))
		return
	}
	stats, rec, err := l.runBatch(tx, batch, p.results)
	if err == nil && stats.Txs > 0 && len(rec) > maxLogRecord {
		err = fmt.Errorf("block %d of %d bytes is over the log's record limit", stats.Block, len(rec))
	}
	if err != nil {
		_ = tx.Rollback()
		l.fail(err)
		p.fail(errFailed(err))
		return
	}
	p.stats = stats
	if stats.Txs == 0 { // every transaction was rejected or abandoned: no block
		_ = tx.Rollback()
		l.syncQ <- p
		return
	}
	// The log record goes first, so that short of an OS crash the log is
	// never behind ledger.db: recovery only ever replays forward.
	framed := appendRecord(make([]byte, 0, logHeaderSize+len(rec)), rec)
	end := l.log.end + int64(len(framed))
	if err := tx.Bucket(bucketMeta).Put(metaLogEnd, encodeLogEnd(end)); err != nil {
		_ = tx.Rollback()
		l.fail(err)
		p.fail(errFailed(err))
		return
	}
	if _, err := l.log.write(framed); err != nil {
		_ = tx.Rollback()
		l.fail(err)
		p.fail(errFailed(err))
		return
	}
	if err := tx.Commit(); err != nil {
		// The record is in the log: a reopen replays it. Its outcome is
		// unknown to the callers, as the error says.
		l.fail(err)
		p.fail(errFailed(err))
		return
	}
	l.tip = headRef{number: stats.Block, hash: stats.hash}
	l.syncQ <- p
}

// syncLoop is the syncer: it takes every executed batch queued, makes the
// log durable with one fdatasync (covering every record written before it
// began), publishes the new head and only then answers the callers, in
// order. A batch without a block needs no fsync of its own: the blocks
// before it were queued (and so synced) before it.
func (l *Ledger) syncLoop() {
	defer close(l.syncerDone)
	group := make([]*pending, 0, syncDepth)
	for p := range l.syncQ {
		group = append(group[:0], p)
	drain:
		for {
			select {
			case q, ok := <-l.syncQ:
				if !ok {
					break drain
				}
				group = append(group, q)
			default:
				break drain
			}
		}
		l.syncGroup(group)
		clear(group)
	}
}

func (l *Ledger) syncGroup(group []*pending) {
	if err := l.brokenErr(); err != nil {
		for _, p := range group {
			p.fail(err)
		}
		return
	}
	var syncTime time.Duration
	if slices.ContainsFunc(group, func(p *pending) bool { return p.stats.Txs > 0 }) {
		if l.cfg.beforeSync != nil {
			l.cfg.beforeSync()
		}
		start := time.Now()
		if err := l.log.sync(); err != nil {
			l.fail(err)
			for _, p := range group {
				p.fail(errFailed(err))
			}
			return
		}
		syncTime = time.Since(start)
	}
	for _, p := range group {
		if p.stats.Txs > 0 {
			l.publish(p.stats.block, headRef{number: p.stats.Block, hash: p.stats.hash})
			if l.cfg.observe != nil {
				s := p.stats.CommitStats
				s.Sync = syncTime
				s.Elapsed = time.Since(p.start)
				l.cfg.observe(s)
			}
		}
		p.answer()
	}
	// The batches read and wrote scattered pages through the map: check
	// after each group. (Checking less often — per transaction at an
	// estimated 64 KiB each — took the gateway's peak RSS in make bench
	// from ~174 to ~204 MiB; see ADR 0002.)
	l.touch(residentCheckEvery)
}

// publish makes a durable block visible: Info, Evaluate, streams.
func (l *Ledger) publish(b backend.Block, head headRef) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head = head
	if len(l.recent) == recentBlocks {
		copy(l.recent, l.recent[1:])
		l.recent = l.recent[:recentBlocks-1]
	}
	l.recent = append(l.recent, b)
	close(l.commitCh)
	l.commitCh = make(chan struct{})
}

type batchStats struct {
	CommitStats
	hash  [hashSize]byte
	block backend.Block // the block as streams deliver it
}

// runBatch executes the batch inside tx and stages the block, returning its
// record. It fails only on a storage error, which aborts the whole batch.
func (l *Ledger) runBatch(tx *bolt.Tx, batch []*request, results []result) (batchStats, []byte, error) {
	versions := tx.Bucket(bucketVersions)
	number := l.tip.number + 1
	var (
		txs    []blockTx
		digest = newWritesDigest()
		stats  batchStats
	)
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			results[i] = result{err: fmt.Errorf("%w: abandoned before it ran: %w", backend.ErrUnavailable, err)}
			continue
		}
		txID := newTxID()
		ts := l.sequenceTime()
		pos := position{Block: number, Index: uint32(len(txs))} //nolint:gosec // len(txs) < maxBatch ≤ maxTxsPerBlock
		c := newTxContext(bucketView(versions, pos), true, txID, ts, identityOf(req.caller))
		payload, err := l.invoke(c, req.fn, req.arg)
		if err != nil {
			results[i] = result{err: err}
			stats.Rejected++
			continue
		}
		if err := putWrites(versions, digest, pos, txID, ts.UnixNano(), c.sortedWrites()); err != nil {
			return stats, nil, err
		}
		txs = append(txs, blockTx{
			TxID: txID, Fn: req.fn, Arg: req.arg,
			Caller:    callerRec{MSPID: MSPID, Name: req.caller.Name, Role: string(req.caller.Role), AgencyID: req.caller.AgencyID},
			Timestamp: ts.UnixNano(), Valid: true, EventName: c.eventName, Event: c.event,
		})
		results[i] = result{receipt: backend.Receipt{TxID: txID, BlockNumber: number, Payload: payload}}
	}
	stats.Block, stats.Txs = number, len(txs)
	if len(txs) == 0 {
		return stats, nil, nil
	}
	section := encodeTxs(nil, txs)
	hdr := blockHeader{Number: number, PrevHash: l.tip.hash, DataHash: sumSHA256(section), WritesHash: digest.digest()}
	stats.hash = hdr.hash()
	stats.block = backend.Block{Number: number, Hash: hex.EncodeToString(stats.hash[:]), Txs: make([]backend.Tx, len(txs))}
	for i, t := range txs {
		stats.block.Txs[i] = backend.Tx{TxID: t.TxID, Valid: true}
		if len(t.Event) > 0 {
			stats.block.Txs[i].Event = t.Event
		}
	}
	rec := encodeBlock(hdr, section)
	if err := putBlock(tx, number, rec, headRef{number: number, hash: stats.hash}); err != nil {
		return stats, nil, err
	}
	return stats, rec, nil
}

// putWrites stores a transaction's writes as versions at pos and adds them
// to the block's writes digest.
func putWrites(versions *bolt.Bucket, digest *writesDigest, pos position, txID string, tsNS int64, writes []ownWrite) error {
	for _, w := range writes {
		key := []byte(w.key)
		err := versions.Put(versionKey(key, pos), encodeVersion(versionRec{
			TxID: txID, Timestamp: tsNS, IsDelete: w.w.isDelete, Value: w.w.value}))
		if err != nil {
			return fmt.Errorf("write %q: %w", w.key, err)
		}
		digest.add(pos.Index, key, w.w.value, w.w.isDelete)
	}
	return nil
}

// putBlock stores a block record and makes it the head.
func putBlock(tx *bolt.Tx, number uint64, rec []byte, head headRef) error {
	blocks := tx.Bucket(bucketBlocks)
	blocks.FillPercent = 1 // append-only: fill every page before starting the next
	if err := blocks.Put(blockKey(number), rec); err != nil {
		return fmt.Errorf("write block %d: %w", number, err)
	}
	if err := tx.Bucket(bucketMeta).Put(metaHead, head.encode()); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	return nil
}

// sequenceTime is the transaction's timestamp: the wall clock when the
// committer takes it, forced to increase strictly along the chain.
func (l *Ledger) sequenceTime() time.Time {
	now := time.Now().UnixNano()
	if now <= l.lastTS {
		now = l.lastTS + 1
	}
	l.lastTS = now
	return time.Unix(0, now).UTC()
}

// fail stops the ledger taking writes: after a failed write or fsync the
// files' state is unknown until the ledger is reopened (which trusts the
// log and replays it).
func (l *Ledger) fail(err error) {
	l.cfg.log.Error("embedded ledger commit failed; refusing writes until restart", "err", err)
	l.mu.Lock()
	if l.failed == nil {
		l.failed = errFailed(err)
	}
	l.mu.Unlock()
}

func sumSHA256(b []byte) [hashSize]byte { return sha256.Sum256(b) }

var _ voucher.Context = (*txContext)(nil)
