package embedded

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// run is the committer: the only writer of the file. It takes everything
// queued (up to maxBatch), commits it as one block and starts on the next
// batch as soon as the fsync returns, so commits never wait on a timer and
// the file sees one fsync'd write per batch instead of one per transaction.
func (l *Ledger) run() {
	defer close(l.committerDone)
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
		l.commit(batch)
		clear(batch)
	}
}

// commit runs a batch's transactions in order inside one bbolt read-write
// transaction, writes the block and commits with fsync, then answers every
// waiter. Each transaction sees the writes of the accepted ones before it;
// a rejected one leaves nothing behind, so the cap stays exact.
func (l *Ledger) commit(batch []*request) {
	start := time.Now()
	results := make([]result, len(batch))
	answer := func() {
		for i, req := range batch {
			req.done <- results[i]
		}
	}
	failAll := func(err error) {
		for i := range results {
			results[i] = result{err: err}
		}
		answer()
	}
	if err := l.brokenErr(); err != nil {
		failAll(err)
		return
	}

	tx, err := l.db.Begin(true)
	if err != nil {
		l.fail(err)
		failAll(errFailed(err))
		return
	}
	stats, err := l.runBatch(tx, batch, results)
	if err != nil {
		_ = tx.Rollback()
		l.fail(err)
		failAll(errFailed(err))
		return
	}
	if stats.Txs == 0 { // every transaction was rejected or abandoned: no block
		_ = tx.Rollback()
		answer()
		return
	}
	syncStart := time.Now()
	if err := tx.Commit(); err != nil {
		l.fail(err)
		failAll(errFailed(err))
		return
	}
	stats.Sync = time.Since(syncStart)
	stats.Elapsed = time.Since(start)

	l.mu.Lock()
	l.head = headRef{number: stats.Block, hash: stats.hash}
	if len(l.recent) == recentBlocks {
		copy(l.recent, l.recent[1:])
		l.recent = l.recent[:recentBlocks-1]
	}
	l.recent = append(l.recent, stats.block)
	close(l.commitCh)
	l.commitCh = make(chan struct{})
	l.mu.Unlock()

	if l.cfg.observe != nil {
		l.cfg.observe(stats.CommitStats)
	}
	answer()
	// The batch read scattered pages through the map: check after each.
	l.touch(residentCheckEvery)
}

type batchStats struct {
	CommitStats
	hash  [hashSize]byte
	block backend.Block // the block as streams deliver it
}

// runBatch executes the batch inside tx and stages the block. It fails only
// on a storage error, which aborts the whole batch.
func (l *Ledger) runBatch(tx *bolt.Tx, batch []*request, results []result) (batchStats, error) {
	versions := tx.Bucket(bucketVersions)
	number := l.head.number + 1
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
		c := newTxContext(versionView{b: versions, pos: pos}, true, txID, ts, identityOf(req.caller))
		payload, err := l.invoke(c, req.fn, req.arg)
		if err != nil {
			results[i] = result{err: err}
			stats.Rejected++
			continue
		}
		for _, w := range c.sortedWrites() {
			key := []byte(w.key)
			err := versions.Put(versionKey(key, pos), encodeVersion(versionRec{
				TxID: txID, Timestamp: ts.UnixNano(), IsDelete: w.w.isDelete, Value: w.w.value}))
			if err != nil {
				return stats, fmt.Errorf("write %q: %w", w.key, err)
			}
			digest.add(pos.Index, key, w.w.value, w.w.isDelete)
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
		return stats, nil
	}
	section := encodeTxs(nil, txs)
	hdr := blockHeader{Number: number, PrevHash: l.head.hash, DataHash: sumSHA256(section), WritesHash: digest.digest()}
	stats.hash = hdr.hash()
	stats.block = backend.Block{Number: number, Hash: hex.EncodeToString(stats.hash[:]), Txs: make([]backend.Tx, len(txs))}
	for i, t := range txs {
		stats.block.Txs[i] = backend.Tx{TxID: t.TxID, Valid: true}
		if len(t.Event) > 0 {
			stats.block.Txs[i].Event = t.Event
		}
	}
	blocks := tx.Bucket(bucketBlocks)
	blocks.FillPercent = 1 // append-only: fill every page before starting the next
	if err := blocks.Put(blockKey(number), encodeBlock(hdr, section)); err != nil {
		return stats, fmt.Errorf("write block %d: %w", number, err)
	}
	if err := tx.Bucket(bucketMeta).Put(metaHead, headRef{number: number, hash: stats.hash}.encode()); err != nil {
		return stats, fmt.Errorf("write head: %w", err)
	}
	return stats, nil
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

// fail stops the ledger taking writes: after a failed commit (above all a
// failed fsync) the file's state is unknown until it is reopened.
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
