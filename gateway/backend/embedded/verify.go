package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// Verify bounds: blocks and bytes per read transaction of the chain walk,
// which is also a run of blocks one replay worker replays; runs in flight to
// the replay workers; state versions per read transaction of the count when
// it walks bbolt's cursor.
const (
	verifyChunk      = 256
	verifyQueue      = 2
	verifyStateChunk = 4_000
	// replayTouchBytes and countTouchBytes estimate the mapped bytes one
	// replayed transaction and one counted version bring into the resident
	// set, for the resident-page budget: a few scattered leaf pages each,
	// and Linux maps up to 16 cached neighbours of a faulting page.
	replayTouchBytes = 256 << 10
	countTouchBytes  = 4 << 10
	// verifyCacheBytes bounds the pages the replay workers read with pread
	// and keep (treeReader), shared equally among them.
	verifyCacheBytes = 16 << 20
	// countCacheBytes is the version count's: it reads each branch page
	// once and the leaves in windows of its own (countVersions), so it
	// needs little more than the pages from root to leaf.
	countCacheBytes = 1 << 20
)

// verifyChunkBytes is a variable so that tests can make the runs short.
var verifyChunkBytes = 1 << 20

// Verify checks the whole ledger up to the newest durable block when called:
//
//  1. the hash chain: every block's number, data hash (over its stored
//     transactions), writes hash, header hash and link to its predecessor,
//     from genesis to the head record; every block of blocks.log (the
//     ledger of record) must be intact (its CRC) and byte for byte the block
//     ledger.db holds;
//  2. the replay: every transaction runs again through the contract, on the
//     state as it was just before it, and must be accepted, emit the
//     recorded event, and make exactly the writes hashed into its block's
//     writes hash (a claim's check that its new voucher id is free is made
//     after the replay, from the replay's own writes: verifyfresh.go);
//  3. the state: the versions bucket holds exactly the versions the replay
//     made, block by block: the same number and the same sum of keyed
//     hashes (ADR 0010), found by one scan of the bucket in file order
//     that runs alongside the replay.
//
// So the stored state is exactly the state the blocks' transactions produce,
// version by version. Because the state is multi-version, the replay needs
// no scratch copy of it: each transaction reads the stored versions before
// its position, which the replay of the earlier transactions checks, so
// runs of consecutive blocks replay in parallel on every core (each worker
// also hashes and decodes its blocks; the chain walk only links headers and
// compares the two files). Within a run, a worker answers repeated reads
// from a memo of the versions it read and wrote (ADR 0013). The replay's
// read transactions are short and the scan's lasts seconds, so commits go on
// meanwhile.
//
// A broken ledger is a result with OK false, FirstBadBlock naming the first
// block to blame when there is one, and Detail; the error is for failures to
// run the check at all (context ended, ledger closed, I/O).
func (l *Ledger) Verify(ctx context.Context, progress backend.Progress) (backend.VerifyResult, error) {
	if l.isClosed() {
		return backend.VerifyResult{}, errClosed
	}
	l.mu.Lock()
	head := l.head // the newest durable block
	l.mu.Unlock()
	res := backend.VerifyResult{Height: head.number + 1, HeadHash: hex.EncodeToString(head.hash[:])}
	logFile, err := os.Open(filepath.Join(l.dir, LogFileName))
	if err != nil {
		return res, fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)
	}
	defer func() { _ = logFile.Close() }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	// The replay workers and the count read ledger.db with pread, each
	// through a file of its own (a shared *os.File's reference count is one
	// cache line all of them write on every read).
	nWorkers := max(1, runtime.GOMAXPROCS(0))
	readers := make([]*treeReader, nWorkers+1)
	for i := range readers {
		f, err := os.Open(filepath.Join(l.dir, FileName))
		if err != nil {
			return res, fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)
		}
		defer func() { _ = f.Close() }()
		cacheBytes := verifyCacheBytes / nWorkers
		if i == nWorkers {
			cacheBytes = countCacheBytes
		}
		readers[i] = newTreeReader(f, l.db.Info().PageSize, cacheBytes)
	}

	v := &verifier{l: l, head: head, log: newLogReader(logFile, 0), minBad: math.MaxUint64,
		replayed: make([]uint32, head.number+1), replayedSums: make([]versionSum, head.number+1),
		fresh: newFreshChecks()}
	if _, err := rand.Read(v.key[:]); err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	jobs := make(chan []verifyJob, verifyQueue)
	doneBlocks := make(chan uint64, verifyQueue)
	var readErr error
	go func() {
		defer close(jobs)
		readErr = v.walkChain(ctx, jobs)
	}()
	var workers sync.WaitGroup
	for _, r := range readers[:nWorkers] {
		workers.Add(1)
		go func() {
			defer workers.Done()
			v.replayWorker(ctx, jobs, doneBlocks, r, newVersionHasher(v.key))
		}()
	}
	go func() {
		workers.Wait()
		close(doneBlocks)
	}()
	// The state's versions are counted alongside the replay (a sequential
	// scan, one core's work that would otherwise follow it).
	scanCtx, stopScan := context.WithCancel(ctx)
	defer stopScan()
	scanned := make(chan versionCount, 1)
	go func() {
		scanned <- v.countVersions(scanCtx, readers[nWorkers])
	}()

	total := head.number + 1
	var checked, reported uint64
	for range doneBlocks {
		checked++
		if progress != nil && (checked-reported >= max(1, total/200) || checked == total) {
			reported = checked
			progress(checked, total)
		}
	}
	if err := v.runErr(); err != nil {
		return res, err
	}
	if readErr == nil && ctx.Err() == nil {
		if err := v.checkFresh(ctx, readers[0]); err != nil && ctx.Err() == nil {
			return res, fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)
		}
	}
	if readErr != nil {
		return res, readErr
	}
	if err := ctx.Err(); err != nil {
		if l.isClosed() {
			return res, errClosed
		}
		return res, fmt.Errorf("verify: %w", err)
	}
	res.CheckedBlocks = checked
	// The replay checks the blocks below the first broken one; the state
	// scan then tells whether those blocks' versions are the ones stored.
	count := <-scanned
	if count.err != nil {
		return res, count.err
	}
	bad, detail := v.failure()
	if count.detail == "" {
		if n, d := v.compareCounts(count, bad); d != "" {
			bad, detail = n, d
		}
	} else if detail == "" {
		detail = count.detail
	}
	if detail != "" {
		res.Detail = detail
		if bad != math.MaxUint64 {
			res.FirstBadBlock = &bad
			res.CheckedBlocks = bad
		}
		return res, nil
	}
	res.OK = true
	res.Detail = fmt.Sprintf("%d blocks, %d transactions and %d state writes verified by hash chain and replay",
		total, v.txs.Load(), v.writes.Load())
	return res, nil
}

func (l *Ledger) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// verifier is the shared state of one Verify run.
type verifier struct {
	l    *Ledger
	head headRef
	log  *logReader // blocks.log from its start; walkChain only

	writes   atomic.Uint64 // state writes replayed
	txs      atomic.Uint64 // transactions replayed
	replayed []uint32      // versions made by the replay of each block (one writer per block)
	// replayedSums are the sums of the versions made by the replay of each
	// block, under key.
	replayedSums []versionSum
	key          [32]byte
	fresh        *freshChecks // the deferred checks of fresh keys

	mu     sync.Mutex
	minBad uint64 // the lowest failing block, MaxUint64 for none
	detail string // the detail of minBad (or of a failure with no block)
	err    error  // a failure to run
}

type verifyJob struct {
	hdr     blockHeader
	section []byte // the block's transactions, encoded; hashed and decoded by the worker
}

// bad records a broken block; the lowest one wins.
func (v *verifier) bad(n uint64, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n < v.minBad || v.detail == "" {
		v.minBad = n
		v.detail = fmt.Sprintf("block %d: ", n) + fmt.Sprintf(format, args...)
	}
}

// stopAt reports whether block n need not be checked: a lower block is
// already broken.
func (v *verifier) stopAt(n uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.detail != "" && n >= v.minBad || v.err != nil
}

func (v *verifier) failure() (uint64, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.minBad, v.detail
}

func (v *verifier) setErr(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err == nil {
		v.err = err
	}
}

func (v *verifier) runErr() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

// walkChain checks the hash chain from genesis to the head and hands each
// block to the replay workers.
func (v *verifier) walkChain(ctx context.Context, jobs chan<- []verifyJob) error {
	var prev [hashSize]byte
	for from := uint64(0); from <= v.head.number; {
		to := min(v.head.number+1, from+verifyChunk)
		var batch []verifyJob
		read := 0
		err := v.l.db.View(func(tx *bolt.Tx) error {
			blocks := tx.Bucket(bucketBlocks)
			for n := from; n < to && read < verifyChunkBytes; n++ {
				rec := blocks.Get(blockKey(n))
				if rec == nil {
					v.bad(n, "missing")
					return nil
				}
				read += len(rec)
				// The log is the ledger of record: its record of block n
				// must be intact and equal ledger.db's, which the checks
				// below then hold to the chain.
				logged, err := v.log.next()
				switch {
				case errors.Is(err, io.EOF):
					v.bad(n, "missing from %s", LogFileName)
					return nil
				case errors.Is(err, errTorn):
					v.bad(n, "%s: %v", LogFileName, err)
					return nil
				case err != nil:
					return err
				case !bytes.Equal(logged, rec):
					v.bad(n, "%s's record differs from %s's", LogFileName, FileName)
					return nil
				}
				hdr, section, err := splitBlock(logged)
				if err != nil {
					v.bad(n, "%v", err)
					return nil
				}
				if hdr.Number != n {
					v.bad(n, "stored as block %d", hdr.Number)
					return nil
				}
				if hdr.PrevHash != prev {
					v.bad(n, "previous hash %x does not match block %d's hash %x", hdr.PrevHash, n-1, prev)
					return nil
				}
				prev = hdr.hash()
				batch = append(batch, verifyJob{hdr: hdr, section: section})
				from = n + 1
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)
		}
		v.l.touch(read)
		if len(batch) > 0 {
			if v.stopAt(batch[0].hdr.Number) {
				return nil
			}
			select {
			case jobs <- batch:
			case <-ctx.Done():
				return nil
			}
		}
		if _, detail := v.failure(); detail != "" {
			return nil
		}
	}
	if prev != v.head.hash {
		v.bad(v.head.number, "head record hash %x differs from the block's hash %x", v.head.hash, prev)
	}
	return nil
}

// replayWorker replays runs of consecutive blocks until jobs closes,
// reading the state through r. A run's blocks are replayed in order by one
// worker, so its reads may take the run's own writes from r's memo
// (replayBlock).
func (v *verifier) replayWorker(ctx context.Context, jobs <-chan []verifyJob, done chan<- uint64, r *treeReader, x *versionHasher) {
	fresh := &freshLog{f: v.fresh}
	for run := range jobs {
		last := run[len(run)-1].hdr.Number
		for _, j := range run {
			if ctx.Err() != nil || v.stopAt(j.hdr.Number) {
				r.memo.reset() // its own writes hold only for the whole run
				break
			}
			if err := v.l.db.View(func(tx *bolt.Tx) error { return v.replayBlock(tx, j, last, r, x, fresh) }); err != nil {
				v.setErr(fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err))
				r.memo.reset()
				break
			}
			done <- j.hdr.Number
		}
	}
}

// checkFresh replays again, with real reads, each block whose deferred
// checks of fresh keys the log cannot confirm (verifyfresh.go), lowest
// first, until one is found broken.
func (v *verifier) checkFresh(ctx context.Context, r *treeReader) error {
	writes, txs := v.writes.Load(), v.txs.Load()
	defer func() { v.writes.Store(writes); v.txs.Store(txs) }()
	for _, n := range v.fresh.suspects() {
		if v.stopAt(n) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := v.l.db.View(func(tx *bolt.Tx) error {
			hdr, section, err := splitBlock(tx.Bucket(bucketBlocks).Get(blockKey(n)))
			if err != nil {
				v.bad(n, "%v", err)
				return nil
			}
			return v.replayBlock(tx, verifyJob{hdr: hdr, section: section}, n, r, newVersionHasher(v.key), nil)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// replayBlock replays one block's transactions on the state read from
// versions; a mismatch is recorded with v.bad, the error is for storage
// failures. With fresh, the checks of fresh keys are deferred to it.
//
// The caller replays every block from this one to runEnd in order, through
// r: so the newest version of a key that this replay wrote, before any
// position up to the end of runEnd, is its newest own write, and the memo
// may answer reads with it. That holds for the stored versions too as long
// as they are the replay's writes, which the writes hash and the state count
// check; if they are not, a block up to this one is reported broken anyway.
func (v *verifier) replayBlock(tx *bolt.Tx, j verifyJob, runEnd uint64, r *treeReader, x *versionHasher, fresh *freshLog) error {
	versions := r.source(tx, bucketVersions)
	_, mapped := versions.(boltSource)
	memo := versions.versionMemo()
	n := j.hdr.Number
	ownUntil := position{Block: runEnd, Index: math.MaxUint32}
	if fresh != nil {
		fresh.begin(n)
	}
	if sumSHA256(j.section) != j.hdr.DataHash {
		v.bad(n, "data hash mismatch: the stored transactions changed")
		return nil
	}
	txs, err := decodeTxs(j.section)
	if err != nil {
		v.bad(n, "%v", err)
		return nil
	}
	digest := newWritesDigest()
	var sum versionSum
	var keyBuf, versionBuf []byte
	var writes uint64
	var index uint32
	for _, t := range txs {
		if !t.Valid {
			continue // never written by this ledger; it would carry no writes
		}
		// The previous transaction's reads and checks are done with.
		r.recycle()
		pos := position{Block: n, Index: index}
		index++
		caller := voucher.Identity{MSPID: t.Caller.MSPID, Name: t.Caller.Name, Role: voucher.Role(t.Caller.Role), AgencyID: t.Caller.AgencyID}
		c := newTxContext(versionView{src: versions, pos: pos}, true, t.TxID, time.Unix(0, t.Timestamp).UTC(), caller)
		c.fresh, c.index = fresh, pos.Index
		if err := v.l.replay(c, t.Fn, t.Arg); err != nil {
			if rerr := versions.Err(); rerr != nil {
				return v.unreadable(n, rerr)
			}
			v.bad(n, "transaction %d (%s %s): the replay rejects it: %v", pos.Index, t.Fn, t.TxID, err)
			return nil
		}
		if c.eventName != t.EventName || !bytes.Equal(c.event, t.Event) {
			v.bad(n, "transaction %d (%s %s): the replay emits another event", pos.Index, t.Fn, t.TxID)
			return nil
		}
		// Each write is summed as the version the commit stored for it;
		// the state scan sums the versions stored (compareCounts).
		own := c.sortedWrites()
		if fresh != nil {
			fresh.add(pos.Index, own, c.deferred)
		}
		for _, w := range own {
			key := []byte(w.key)
			keyBuf = pos.append(escapeKey(keyBuf[:0], key))
			versionBuf = appendVersion(versionBuf[:0], versionRec{TxID: t.TxID, Timestamp: t.Timestamp, IsDelete: w.w.isDelete, Value: w.w.value})
			sum.add(x.sum(keyBuf, versionBuf))
			digest.add(pos.Index, key, w.w.value, w.w.isDelete)
			if memo != nil {
				memo.own(w.key, pos, ownUntil, w.w.value, w.w.isDelete)
			}
			writes++
		}
		// A block holds hundreds of transactions: when the state is read
		// through the map, account for each, so the mapped pages of one
		// block's replay cannot outgrow the budget.
		if mapped {
			v.l.touchIn(tx, replayTouchBytes)
		}
	}
	if digest.digest() != j.hdr.WritesHash {
		v.bad(n, "the replayed writes differ from the block's writes hash")
		return nil
	}
	if fresh != nil {
		fresh.done()
	}
	v.replayed[n] = uint32(writes)
	v.replayedSums[n] = sum
	v.writes.Add(writes)
	v.txs.Add(uint64(index))
	return nil
}

// unreadable handles a failure to read the state while replaying block n: a
// damaged page is a finding against the ledger, any other error a failure to
// run the check.
func (v *verifier) unreadable(n uint64, err error) error {
	if errors.Is(err, errCorrupt) {
		v.bad(n, "its replay cannot read the state: %v", err)
		return nil
	}
	return err
}
