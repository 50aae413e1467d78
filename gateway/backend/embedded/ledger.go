// Package embedded is the gateway's own ledger: the voucher contract runs
// in-process over bbolt, every commit is a hash-chained block, concurrent
// submissions are grouped into one fsync'd commit, and nothing is
// acknowledged before its fsync. See docs/adr/0002-embedded-ledger-group-commit.md.
package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// MSPID is the membership id of every caller on the embedded ledger.
const MSPID = "HongshanEmbeddedMSP"

// FileName is the ledger file inside the data directory.
const FileName = "ledger.db"

// Bucket names and meta keys.
var (
	// bucketVersions is the multi-version state: every write of every key,
	// keyed by the key and the writing transaction's position (see
	// versionKey). A key's newest version is its value, all of them its
	// history.
	bucketVersions = []byte("versions")
	bucketBlocks   = []byte("blocks")
	bucketMeta     = []byte("meta")
	metaHead       = []byte("head")
)

// errClosed ends streams and refuses calls once Close has begun.
var errClosed = fmt.Errorf("%w: embedded ledger closed", backend.ErrUnavailable)

// Ledger is the embedded ledger. It is safe for concurrent use.
type Ledger struct {
	db  *bolt.DB
	cfg config

	// closeMu orders Submit/Evaluate/Blocks against Close: they hold it
	// shared while they enqueue or read, Close takes it exclusively to set
	// closed.
	closeMu       sync.RWMutex
	closed        bool
	queue         chan *request
	committerDone chan struct{}
	done          chan struct{} // closed by Close: ends streams and verifies
	streams       sync.WaitGroup

	mu       sync.Mutex
	head     headRef
	commitCh chan struct{} // closed and replaced on every commit
	failed   error         // a failed commit; the ledger refuses writes after it

	lastTS int64 // committer only: the last sequenced timestamp

	// recent holds the newest committed blocks (guarded by mu), so live
	// streams take them from memory instead of reading them back.
	recent []backend.Block

	resident residentMeter
}

// recentBlocks bounds the blocks kept in memory for live streams.
const recentBlocks = 16

// touch accounts n bytes read or written through bbolt's memory map and,
// now and then, drops the map's resident pages if they exceed the budget
// (see resident.go). Callers must not hold a bbolt transaction.
func (l *Ledger) touch(n int) {
	if l.resident.touch(n) && fileResident() > residentBudget {
		if err := dropResident(l.db); err != nil {
			l.cfg.log.Warn("embedded ledger: could not release mapped pages", "err", err)
		}
	}
}

var _ backend.Backend = (*Ledger)(nil)

// headRef names the newest block.
type headRef struct {
	number uint64
	hash   [hashSize]byte
}

func (h headRef) encode() []byte {
	return append(binary.BigEndian.AppendUint64(nil, h.number), h.hash[:]...)
}

func decodeHead(b []byte) (headRef, error) {
	var h headRef
	if len(b) != 8+hashSize {
		return h, fmt.Errorf("%w: head record", errCorrupt)
	}
	h.number = binary.BigEndian.Uint64(b)
	copy(h.hash[:], b[8:])
	return h, nil
}

// request is one queued Submit.
type request struct {
	ctx    context.Context
	caller backend.Caller
	fn     string
	arg    []byte
	done   chan result // buffered: the committer never blocks on it
}

type result struct {
	receipt backend.Receipt
	err     error
}

// Open opens (creating if needed) the ledger at dir/ledger.db and starts its
// committer. A new ledger gets its genesis block.
func Open(ctx context.Context, dir string, opts ...Option) (*Ledger, error) {
	cfg := config{
		maxBatch:   DefaultMaxBatch,
		queueLen:   DefaultQueueLen,
		mmapSize:   DefaultMmapSize,
		log:        slog.Default(),
		invoke:     voucher.New().Invoke,
		isReadOnly: voucher.IsReadOnly,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("embedded ledger option: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil { //nolint:gosec // dir is the operator's data directory
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         5 * time.Second, // another process holds the file lock
		InitialMmapSize: cfg.mmapSize,
		FreelistType:    bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded ledger: open %s: %w", path, err)
	}
	l := &Ledger{
		db:            db,
		cfg:           cfg,
		queue:         make(chan *request, cfg.queueLen),
		committerDone: make(chan struct{}),
		done:          make(chan struct{}),
		commitCh:      make(chan struct{}),
	}
	if err := l.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("embedded ledger: %s: %w", path, err)
	}
	cfg.log.Info("embedded ledger open", "path", path, "height", l.head.number+1)
	go l.run()
	return l, nil
}

// init creates the buckets and the genesis block of a new ledger, and loads
// the head of an existing one.
func (l *Ledger) init() error {
	return l.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketVersions, bucketBlocks, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if rec := meta.Get(metaHead); rec != nil {
			h, err := decodeHead(rec)
			if err != nil {
				return err
			}
			if last, _ := tx.Bucket(bucketBlocks).Cursor().Last(); last == nil || !bytes.Equal(last, blockKey(h.number)) {
				return fmt.Errorf("%w: head names block %d, not the newest stored block", errCorrupt, h.number)
			}
			l.head = h
			last, _ := l.readTimestamp(tx, h.number)
			l.lastTS = last
			return nil
		}
		if k, _ := tx.Bucket(bucketBlocks).Cursor().First(); k != nil {
			return fmt.Errorf("%w: blocks without a head record", errCorrupt)
		}
		section := encodeTxs(nil, nil)
		hdr := blockHeader{Number: 0, DataHash: sumSHA256(section), WritesHash: newWritesDigest().digest()}
		if err := tx.Bucket(bucketBlocks).Put(blockKey(0), encodeBlock(hdr, section)); err != nil {
			return err
		}
		l.head = headRef{number: 0, hash: hdr.hash()}
		return meta.Put(metaHead, l.head.encode())
	})
}

// readTimestamp returns the newest transaction timestamp up to block n, so
// timestamps keep increasing across restarts even if the clock went back.
func (l *Ledger) readTimestamp(tx *bolt.Tx, n uint64) (int64, error) {
	rec := tx.Bucket(bucketBlocks).Get(blockKey(n))
	_, section, err := splitBlock(rec)
	if err != nil {
		return 0, err
	}
	txs, err := decodeTxs(section)
	if err != nil || len(txs) == 0 {
		return 0, err
	}
	return txs[len(txs)-1].Timestamp, nil
}

// Name is "embedded".
func (l *Ledger) Name() string { return "embedded" }

// Submit queues a state-changing transaction and returns once the block
// holding it is fsync'd. A contract rejection is a *voucher.Error and writes
// nothing. When the queue is full Submit waits for room until ctx ends. If
// ctx ends after the transaction was queued, Submit returns an error wrapping
// backend.ErrUnavailable and ctx.Err(): a transaction still queued is then
// skipped, one already in a commit may have committed.
func (l *Ledger) Submit(ctx context.Context, caller backend.Caller, fn string, arg []byte) (backend.Receipt, error) {
	if l.cfg.isReadOnly(fn) {
		return backend.Receipt{}, &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: fmt.Sprintf("%s only reads: evaluate it instead of submitting it", fn)}
	}
	if len(arg) > voucher.MaxArgBytes {
		return backend.Receipt{}, &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: fmt.Sprintf("argument is %d bytes, over the limit of %d", len(arg), voucher.MaxArgBytes)}
	}
	if err := l.brokenErr(); err != nil {
		return backend.Receipt{}, err
	}
	req := &request{ctx: ctx, caller: caller, fn: fn, arg: bytes.Clone(arg), done: make(chan result, 1)}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return backend.Receipt{}, errClosed
	}
	select {
	case l.queue <- req:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return backend.Receipt{}, fmt.Errorf("%w: commit queue full: %w", backend.ErrUnavailable, ctx.Err())
	}
	select {
	case r := <-req.done:
		return r.receipt, r.err
	case <-ctx.Done():
		return backend.Receipt{}, fmt.Errorf("%w: gave up waiting for the commit, the transaction may still commit: %w",
			backend.ErrUnavailable, ctx.Err())
	}
}

func (l *Ledger) brokenErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// Evaluate runs a read-only function on the committed state.
func (l *Ledger) Evaluate(ctx context.Context, caller backend.Caller, fn string, arg []byte) ([]byte, error) {
	if !l.cfg.isReadOnly(fn) {
		return nil, &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: fmt.Sprintf("%s is not a read-only function: submit it", fn)}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return nil, errClosed
	}
	tx, err := l.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	defer func() { _ = tx.Rollback() }()
	view := versionView{b: tx.Bucket(bucketVersions), pos: latest}
	c := newTxContext(view, false, newTxID(), time.Now().UTC(), identityOf(caller))
	return l.invoke(c, fn, arg)
}

// invoke runs the contract, turning a panic into an INTERNAL rejection of
// that one transaction.
func (l *Ledger) invoke(c *txContext, fn string, arg []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			l.cfg.log.Error("contract panicked", "fn", fn, "tx_id", c.txID, "panic", p)
			out, err = nil, &voucher.Error{Code: voucher.CodeInternal, Message: fmt.Sprintf("%s: contract failure", fn)}
		}
	}()
	return l.cfg.invoke(c, fn, arg)
}

// Info returns the height (blocks including genesis) and the head hash.
func (l *Ledger) Info(ctx context.Context) (backend.Info, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return backend.Info{Height: l.head.number + 1, HeadHash: hex.EncodeToString(l.head.hash[:])}, nil
}

// Enroll does nothing: the gateway's principals need no ledger identity.
func (l *Ledger) Enroll(ctx context.Context, caller backend.Caller) error { return nil }

// Close stops accepting transactions, commits those already queued, ends
// the block streams and closes the file.
func (l *Ledger) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return nil
	}
	l.closed = true
	l.closeMu.Unlock()
	close(l.queue)
	<-l.committerDone
	close(l.done)
	l.streams.Wait()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("embedded ledger: close: %w", err)
	}
	return nil
}

func identityOf(c backend.Caller) voucher.Identity {
	return voucher.Identity{MSPID: MSPID, Name: c.Name, Role: c.Role, AgencyID: c.AgencyID}
}

// newTxID is 32 random bytes in hex, like a Fabric transaction id.
func newTxID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// errFailed wraps the cause of a failed commit.
func errFailed(cause error) error {
	return fmt.Errorf("%w: embedded ledger stopped after a failed commit (restart it): %w", backend.ErrUnavailable, cause)
}
