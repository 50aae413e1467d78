package embedded

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// Verify bounds: blocks per read transaction of the chain walk, blocks in
// flight to the replay workers, history entries per read transaction of the
// final state comparison.
const (
	verifyChunk      = 256
	verifyQueue      = 8
	verifyStateChunk = 50_000
)

// Verify checks the whole ledger up to the head it finds when called:
//
//  1. the hash chain: every block's number, data hash (over its stored
//     transactions), writes hash, header hash and link to its predecessor,
//     from genesis to the head record;
//  2. the replay: every transaction runs again through the contract, on the
//     state as it was just before it (rebuilt from the history bucket), and
//     must be accepted, emit the recorded event, and make exactly the writes
//     recorded in the history at its position and in its block's writes hash;
//  3. the state: every key's current value is the newest write of its
//     history, and the history holds no write the replay did not make.
//
// Replaying against the history instead of a fresh copy of the state needs no
// scratch file, reads memory-mapped pages only, and lets transactions replay
// in parallel: each one's reads depend only on the history before it, which
// the replay of the earlier transactions checks. It never holds a read
// transaction for long, so commits go on meanwhile.
//
// A broken ledger is a result with OK false, FirstBadBlock naming the first
// block to blame when there is one, and Detail; the error is for failures to
// run the check at all (context ended, ledger closed, I/O).
func (l *Ledger) Verify(ctx context.Context, progress backend.Progress) (backend.VerifyResult, error) {
	var head headRef
	if err := l.db.View(func(tx *bolt.Tx) error {
		h, err := decodeHead(tx.Bucket(bucketMeta).Get(metaHead))
		head = h
		return err
	}); err != nil {
		return backend.VerifyResult{}, fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)
	}
	res := backend.VerifyResult{Height: head.number + 1, HeadHash: hex.EncodeToString(head.hash[:])}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	v := &verifier{l: l, head: head, minBad: math.MaxUint64}
	jobs := make(chan verifyJob, verifyQueue)
	doneBlocks := make(chan uint64, verifyQueue)
	var readErr error
	go func() {
		defer close(jobs)
		readErr = v.walkChain(ctx, jobs)
	}()
	var workers sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			v.replayWorker(ctx, jobs, doneBlocks)
		}()
	}
	go func() {
		workers.Wait()
		close(doneBlocks)
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
	if bad, detail := v.failure(); detail != "" {
		res.Detail = detail
		if bad != math.MaxUint64 {
			res.FirstBadBlock = &bad
			res.CheckedBlocks = bad
		}
		return res, nil
	}
	detail, err := v.compareState(ctx)
	if err != nil {
		return res, err
	}
	if detail != "" {
		res.Detail = detail
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

	writes atomic.Uint64 // state writes replayed
	txs    atomic.Uint64 // transactions replayed

	mu     sync.Mutex
	minBad uint64 // the lowest failing block, MaxUint64 for none
	detail string // the detail of minBad (or of a failure with no block)
	err    error  // a failure to run
}

type verifyJob struct {
	hdr blockHeader
	txs []blockTx
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
func (v *verifier) walkChain(ctx context.Context, jobs chan<- verifyJob) error {
	var prev [hashSize]byte
	for from := uint64(0); from <= v.head.number; from += verifyChunk {
		to := min(v.head.number+1, from+verifyChunk)
		var batch []verifyJob
		err := v.l.db.View(func(tx *bolt.Tx) error {
			blocks := tx.Bucket(bucketBlocks)
			for n := from; n < to; n++ {
				rec := blocks.Get(blockKey(n))
				if rec == nil {
					v.bad(n, "missing")
					return nil
				}
				hdr, section, err := splitBlock(bytes.Clone(rec))
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
				if sumSHA256(section) != hdr.DataHash {
					v.bad(n, "data hash mismatch: the stored transactions changed")
					return nil
				}
				txs, err := decodeTxs(section)
				if err != nil {
					v.bad(n, "%v", err)
					return nil
				}
				prev = hdr.hash()
				batch = append(batch, verifyJob{hdr: hdr, txs: txs})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)
		}
		for _, j := range batch {
			if v.stopAt(j.hdr.Number) {
				return nil
			}
			select {
			case jobs <- j:
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

// replayWorker replays blocks until jobs closes.
func (v *verifier) replayWorker(ctx context.Context, jobs <-chan verifyJob, done chan<- uint64) {
	for j := range jobs {
		if ctx.Err() != nil || v.stopAt(j.hdr.Number) {
			continue
		}
		if err := v.l.db.View(func(tx *bolt.Tx) error { return v.replayBlock(tx, j) }); err != nil {
			v.setErr(fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err))
			continue
		}
		done <- j.hdr.Number
	}
}

// replayBlock replays one block's transactions; a mismatch is recorded with
// v.bad, the error is for storage failures.
func (v *verifier) replayBlock(tx *bolt.Tx, j verifyJob) error {
	history := tx.Bucket(bucketHistory)
	n := j.hdr.Number
	digest := newWritesDigest()
	var writes uint64
	var index uint32
	for _, t := range j.txs {
		if !t.Valid {
			continue // never written by this ledger; it would carry no writes
		}
		pos := position{Block: n, Index: index}
		index++
		caller := voucher.Identity{MSPID: t.Caller.MSPID, Name: t.Caller.Name, Role: voucher.Role(t.Caller.Role), AgencyID: t.Caller.AgencyID}
		c := newTxContext(replayView{hist: history, pos: pos}, true, t.TxID, time.Unix(0, t.Timestamp).UTC(), caller)
		if _, err := v.l.invoke(c, t.Fn, t.Arg); err != nil {
			v.bad(n, "transaction %d (%s %s): the replay rejects it: %v", pos.Index, t.Fn, t.TxID, err)
			return nil
		}
		if c.eventName != t.EventName || !bytes.Equal(c.event, t.Event) {
			v.bad(n, "transaction %d (%s %s): the replay emits another event", pos.Index, t.Fn, t.TxID)
			return nil
		}
		for _, w := range c.sortedWrites() {
			key := []byte(w.key)
			raw := history.Get(historyKey(key, pos))
			if raw == nil {
				v.bad(n, "transaction %d (%s %s): wrote %q but the history has no such write", pos.Index, t.Fn, t.TxID, w.key)
				return nil
			}
			rec, err := decodeHistory(raw)
			if err != nil || rec.TxID != t.TxID || rec.Timestamp != t.Timestamp || rec.IsDelete != w.w.isDelete || !bytes.Equal(rec.Value, w.w.value) {
				v.bad(n, "transaction %d (%s %s): the history of %q differs from the replayed write", pos.Index, t.Fn, t.TxID, w.key)
				return nil
			}
			digest.add(pos.Index, key, w.w.value, w.w.isDelete)
			writes++
		}
	}
	if digest.digest() != j.hdr.WritesHash {
		v.bad(n, "the replayed writes differ from the block's writes hash")
		return nil
	}
	v.writes.Add(writes)
	v.txs.Add(uint64(index))
	return nil
}

// compareState checks that the state bucket holds exactly the newest write
// of every key in the history, and that the history holds no write beyond
// those the replay made. It walks both buckets in key order, a chunk per
// read transaction; each chunk compares state and history of the same
// snapshot, so commits running meanwhile do not disturb it.
func (v *verifier) compareState(ctx context.Context) (string, error) {
	var (
		entries uint64 // history entries at or below the verified head
		last    []byte // the last state key compared; nil before the first
		done    bool
		detail  string
	)
	for !done && detail == "" {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("verify: %w", err)
		}
		err := v.l.db.View(func(tx *bolt.Tx) error {
			hc := tx.Bucket(bucketHistory).Cursor()
			sc := tx.Bucket(bucketState).Cursor()
			var hk, hv, sk, sv []byte
			if last == nil {
				hk, hv = hc.First()
				sk, sv = sc.First()
			} else {
				lastEsc := escapeKey(nil, last)
				hk, hv = hc.Seek(lastEsc)
				for hk != nil && len(hk) >= positionSize && bytes.Equal(hk[:len(hk)-positionSize], lastEsc) {
					hk, hv = hc.Next()
				}
				sk, sv = sc.Seek(last)
				if sk != nil && bytes.Equal(sk, last) {
					sk, sv = sc.Next()
				}
			}
			for n := 0; n < verifyStateChunk; {
				if hk == nil {
					if sk != nil {
						detail = fmt.Sprintf("state key %q has no history", sk)
					}
					done = true
					return nil
				}
				if len(hk) < 2+positionSize {
					detail = fmt.Sprintf("corrupt history key %x", hk)
					return nil
				}
				esc := hk[:len(hk)-positionSize]
				var newest []byte
				for hk != nil && len(hk) >= positionSize && bytes.Equal(hk[:len(hk)-positionSize], esc) {
					if decodePosition(hk[len(hk)-positionSize:]).Block <= v.head.number {
						entries++
					}
					newest = hv
					n++
					hk, hv = hc.Next()
				}
				key, _, err := splitHistoryKey(append(bytes.Clone(esc), make([]byte, positionSize)...))
				if err != nil {
					detail = fmt.Sprintf("corrupt history key %x", esc)
					return nil
				}
				rec, err := decodeHistory(newest)
				if err != nil {
					detail = fmt.Sprintf("corrupt history of %q", key)
					return nil
				}
				if sk != nil && bytes.Compare(sk, key) < 0 {
					detail = fmt.Sprintf("state key %q has no history", sk)
					return nil
				}
				present := sk != nil && bytes.Equal(sk, key)
				switch {
				case rec.IsDelete && present:
					detail = fmt.Sprintf("state key %q was deleted by transaction %s but is present", key, rec.TxID)
					return nil
				case !rec.IsDelete && !present:
					detail = fmt.Sprintf("state key %q written by transaction %s is missing", key, rec.TxID)
					return nil
				case !rec.IsDelete && !bytes.Equal(sv, rec.Value):
					detail = fmt.Sprintf("state key %q differs from its last write by transaction %s", key, rec.TxID)
					return nil
				}
				if present {
					sk, sv = sc.Next()
				}
				last = key
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)
		}
	}
	if detail != "" {
		return detail, nil
	}
	if w := v.writes.Load(); entries != w {
		return fmt.Sprintf("the history holds %d writes up to block %d, the replay made %d", entries, v.head.number, w), nil
	}
	return "", nil
}
