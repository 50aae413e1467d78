// Package embedded is the gateway's own ledger: the voucher contract runs
// in-process, every commit is a hash-chained block appended to a block log
// (the ledger of record, one fdatasync per group of blocks), bbolt holds the
// multi-version state and block index materialised from it, concurrent
// submissions are grouped into one block, the next block executes while the
// previous one is being synced, and nothing is acknowledged before its
// fsync. See docs/adr/0002-embedded-ledger-group-commit.md.
package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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
	log *blockLog
	dir string
	cfg config

	// closeMu orders Submit/Evaluate/Blocks against Close: they hold it
	// shared while they enqueue or read, Close takes it exclusively to set
	// closed.
	closeMu       sync.RWMutex
	closed        bool
	queue         chan *request
	committerDone chan struct{}
	syncQ         chan *pending // executed batches, in order, for the syncer
	syncerDone    chan struct{}
	done          chan struct{} // closed by Close: ends streams and verifies
	streams       sync.WaitGroup

	mu       sync.Mutex
	head     headRef       // the newest durable block: what Info, Evaluate, streams and Verify see
	commitCh chan struct{} // closed and replaced whenever head moves
	failed   error         // a failed commit; the ledger refuses writes after it

	tip    headRef // committer only: the newest executed block, perhaps not yet durable
	lastTS int64   // committer only: the last sequenced timestamp

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
	if l.resident.touch(n) && l.resident.over() {
		if err := dropResident(l.db); err != nil {
			l.cfg.log.Warn("embedded ledger: could not release mapped pages", "err", err)
		}
		l.resident.dropped()
	}
}

// touchIn is touch from inside the read transaction tx.
func (l *Ledger) touchIn(tx *bolt.Tx, n int) {
	if l.resident.touch(n) && l.resident.over() {
		if err := dropResidentIn(tx); err != nil {
			l.cfg.log.Warn("embedded ledger: could not release mapped pages", "err", err)
		}
		l.resident.dropped()
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
	ct := voucher.New()
	cfg := config{
		maxBatch:   DefaultMaxBatch,
		queueLen:   DefaultQueueLen,
		mmapSize:   DefaultMmapSize,
		log:        slog.Default(),
		invoke:     ct.Invoke,
		replay:     ct.Replay,
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
	trusted, err := checkMarker(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	lg, err := openBlockLog(filepath.Join(dir, LogFileName))
	if err != nil {
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	if !trusted {
		// ledger.db was written without fsync and not closed before the
		// machine restarted: it may be torn. The log is the ledger of
		// record; rebuild ledger.db from it.
		if lg.alloc == 0 {
			if _, err := os.Stat(path); err == nil {
				_ = lg.close()
				return nil, fmt.Errorf("embedded ledger: %s was not closed cleanly before a restart of the machine and %s is empty: cannot rebuild it",
					path, LogFileName)
			}
		}
		cfg.log.Warn("embedded ledger: ledger.db was not closed cleanly before the machine restarted; rebuilding it from "+LogFileName, "path", path)
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			_ = lg.close()
			return nil, fmt.Errorf("embedded ledger: discard %s: %w", path, err)
		}
	}
	// The marker (and the log's directory entry) are durable before the
	// first unsynced write to ledger.db.
	if err := writeMarker(dir); err != nil {
		_ = lg.close()
		return nil, fmt.Errorf("embedded ledger: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         5 * time.Second, // another process holds the file lock
		InitialMmapSize: cfg.mmapSize,
		FreelistType:    bolt.FreelistMapType,
		// ledger.db is rebuilt from the log after an OS crash (marker.go),
		// so its commits need no fsync: the log's fdatasync is the
		// durability point.
		NoSync:     true,
		NoGrowSync: true,
	})
	if err != nil {
		_ = lg.close()
		return nil, fmt.Errorf("embedded ledger: open %s: %w", path, err)
	}
	l := &Ledger{
		db:            db,
		log:           lg,
		dir:           dir,
		cfg:           cfg,
		queue:         make(chan *request, cfg.queueLen),
		committerDone: make(chan struct{}),
		syncQ:         make(chan *pending, syncDepth),
		syncerDone:    make(chan struct{}),
		done:          make(chan struct{}),
		commitCh:      make(chan struct{}),
	}
	if err := l.init(); err != nil {
		_ = db.Close()
		_ = lg.close()
		return nil, fmt.Errorf("embedded ledger: %s: %w", dir, err)
	}
	cfg.log.Info("embedded ledger open", "path", path, "height", l.head.number+1)
	go l.run()
	go l.syncLoop()
	return l, nil
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
	// Only durable blocks are visible: the committer may have executed
	// (and written to ledger.db) blocks whose log record is not yet
	// fsync'd; the multi-version state hides them by position.
	l.mu.Lock()
	pos := position{Block: l.head.number + 1}
	l.mu.Unlock()
	view := bucketView(tx.Bucket(bucketVersions), pos)
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

// replay runs the contract as invoke does, for the writes and the event
// only (recovery and Verify): the result is not encoded.
func (l *Ledger) replay(c *txContext, fn string, arg []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			l.cfg.log.Error("contract panicked", "fn", fn, "tx_id", c.txID, "panic", p)
			err = &voucher.Error{Code: voucher.CodeInternal, Message: fmt.Sprintf("%s: contract failure", fn)}
		}
	}()
	return l.cfg.replay(c, fn, arg)
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
	<-l.syncerDone
	close(l.done)
	l.streams.Wait()
	// A clean close leaves ledger.db durable and removes the marker, so
	// the next open trusts it. After a failed commit the marker stays: the
	// log, not ledger.db, is what a later open must trust.
	var errs []error
	clean := l.brokenErr() == nil
	if err := l.db.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync %s: %w", FileName, err))
		clean = false
	}
	if err := l.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", FileName, err))
		clean = false
	}
	if err := l.log.close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", LogFileName, err))
	}
	if clean {
		if err := removeMarker(l.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
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
