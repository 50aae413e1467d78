// Package projection is the gateway's read model: a bbolt database built
// only from the ledger's committed blocks and their events, checkpointed by
// block number, so it resumes after a restart with no gap and no duplicate.
// Every query and report of the gateway reads it, on both backends.
//
// The design and its measurements are in
// docs/adr/0003-projection-read-model.md.
package projection

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// Errors of the block feed. None is a client's mistake.
var (
	// ErrGap: a block arrived beyond the checkpoint, so blocks are missing.
	ErrGap = errors.New("projection: gap in the block stream")
	// ErrDiverged: the ledger's block at the checkpoint has another hash
	// than the one applied, so this read model belongs to another ledger
	// (a reset data directory, another channel) and must be rebuilt.
	ErrDiverged = errors.New("projection: ledger diverged from the read model")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("projection: closed")
	// ErrStreamEnded: the backend closed its block stream while the
	// follower's context was still live, without reporting an error.
	ErrStreamEnded = errors.New("projection: block stream ended")
)

// Bounds of one write transaction when Follow drains queued blocks.
const (
	maxBatchBlocks = 256
	maxBatchTxs    = 5000
	// openTimeout bounds the wait for another process's lock on the file.
	openTimeout = 5 * time.Second
)

// How often the memory map's pages are released from the RSS (see
// releaseMapped): every releaseEveryRecords records a snapshot scans,
// every releaseEveryEvents events a write transaction applies, every
// releaseEveryCommits commits and after every commit of at least
// releaseBatchTxs transactions (a catch-up touches much of the file), once
// the database is over releaseMinBytes. Variables only so that a test can
// exercise the release on a small database.
var (
	releaseEveryRecords        = 2 << 10
	releaseEveryEvents         = 250
	releaseEveryCommits uint64 = 16
	releaseBatchTxs            = 1000
	releaseMinBytes     int64  = 64 << 20
)

// Store is the read model. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string

	mu      sync.Mutex
	next    uint64        // checkpoint: the next block to apply
	hash    string        // hash of block next-1
	changed chan struct{} // closed and replaced when next advances

	closed    chan struct{}
	closeOnce sync.Once

	commits atomic.Uint64 // write transactions that applied blocks

	// policyCache holds the decoded policy versions (policycache.go).
	policyCache atomic.Pointer[cachedPolicies]
}

// Open opens (or creates) the read model at path. A read model written by
// another schema version is emptied, to be rebuilt from the ledger.
func Open(path string) (*Store, error) {
	if _, err := prepareUnsynced(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      openTimeout,
		FreelistType: bolt.FreelistMapType,
		NoSync:       true, // derived data: see durability.go
	})
	if err != nil {
		return nil, fmt.Errorf("projection: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path, changed: make(chan struct{}), closed: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil && string(m.Get(metaSchema)) != schemaVersion {
			if err := dropAllBuckets(tx); err != nil {
				return err
			}
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaSchema, []byte(schemaVersion)); err != nil {
			return err
		}
		s.next, s.hash = readCheckpoint(tx)
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("projection: initialise %s: %w", path, err)
	}
	return s, nil
}

// dropAllBuckets empties a read model of another schema version, buckets
// that this version no longer has included.
func dropAllBuckets(tx *bolt.Tx) error {
	var names [][]byte
	if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		names = append(names, slices.Clone(name))
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	return nil
}

func readCheckpoint(tx *bolt.Tx) (next uint64, hash string) {
	m := tx.Bucket(bucketMeta)
	if v := m.Get(metaNext); len(v) == 8 {
		next = binary.BigEndian.Uint64(v)
	}
	return next, string(m.Get(metaHash))
}

// Close closes the database and wakes every WaitFor with ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	syncErr := closeUnsynced(s.path, s.db.Sync)
	if err := s.db.Close(); err != nil {
		return err
	}
	return syncErr
}

// Follow applies b's blocks from the checkpoint on until ctx ends, then
// returns nil. It returns the stream's error if the stream ends with one,
// and the error of a block it cannot apply (ErrGap, ErrDiverged, a broken
// event). Blocks already queued on the stream are applied together, in one
// bbolt transaction (one fsync), up to maxBatchBlocks or maxBatchTxs.
//
// When the store is not empty, Follow asks for the last applied block
// again and checks its hash, so a read model of another ledger is refused
// with ErrDiverged instead of silently waiting for blocks that never come.
func (s *Store) Follow(ctx context.Context, b backend.Backend) error {
	from := s.Next()
	if from > 0 {
		from--
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	blocks, streamErr := b.Blocks(ctx, from)
	batch := make([]backend.Block, 0, maxBatchBlocks)
	for {
		var blk backend.Block
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case <-s.closed:
			return ErrClosed
		case blk, ok = <-blocks:
		}
		if !ok {
			return endOfStream(ctx, streamErr)
		}
		batch = append(batch[:0], blk)
		txs := len(blk.Txs)
		open := true
	drain:
		for len(batch) < maxBatchBlocks && txs < maxBatchTxs {
			select {
			case blk, open = <-blocks:
				if !open {
					break drain
				}
				batch = append(batch, blk)
				txs += len(blk.Txs)
			default:
				break drain
			}
		}
		if err := s.ApplyBlocks(batch...); err != nil {
			return err
		}
		if !open {
			return endOfStream(ctx, streamErr)
		}
	}
}

// endOfStream is Follow's answer when the stream closes: nil when ctx
// ended (whatever the stream then reports, e.g. its own context error),
// the stream's error, or ErrStreamEnded.
func endOfStream(ctx context.Context, streamErr func() error) error {
	if ctx.Err() != nil {
		return nil
	}
	if err := streamErr(); err != nil {
		return fmt.Errorf("projection: block stream: %w", err)
	}
	return ErrStreamEnded
}

// Apply applies one block. A block already applied (number below Next) is
// skipped, so replays are harmless; a block beyond Next is ErrGap.
func (s *Store) Apply(blk backend.Block) error { return s.ApplyBlocks(blk) }

// ApplyBlocks applies consecutive blocks in one bbolt transaction: all of
// them and the new checkpoint commit together, or none does. Blocks below
// the checkpoint are skipped; the one just below it must carry the hash
// that was applied (ErrDiverged otherwise).
func (s *Store) ApplyBlocks(blks ...backend.Block) error {
	if s.allApplied(blks) {
		return nil
	}
	var next uint64
	var hash string
	applied, txs, policyChanged := false, 0, false
	err := s.db.Update(func(tx *bolt.Tx) error {
		next, hash = readCheckpoint(tx)
		w := newWriter(tx)
		defer func() { policyChanged = w.policyChanged }()
		for i := range blks {
			blk := &blks[i]
			switch {
			case blk.Number < next:
				if blk.Number+1 == next && blk.Hash != hash {
					return fmt.Errorf("%w: block %d has hash %q, applied %q", ErrDiverged, blk.Number, blk.Hash, hash)
				}
				continue
			case blk.Number > next:
				return fmt.Errorf("%w: got block %d, next is %d", ErrGap, blk.Number, next)
			}
			if err := w.block(blk); err != nil {
				return err
			}
			next, hash = blk.Number+1, blk.Hash
			applied, txs = true, txs+len(blk.Txs)
		}
		if !applied {
			return nil
		}
		if err := w.flush(); err != nil {
			return err
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaNext, u64(next)); err != nil {
			return err
		}
		return m.Put(metaHash, []byte(hash))
	})
	if policyChanged {
		s.dropPolicyCache() // committed or rolled back: either way, decode again
	}
	if err != nil {
		return err
	}
	if applied {
		if s.commits.Add(1)%releaseEveryCommits == 0 || txs >= releaseBatchTxs {
			_ = s.db.View(func(tx *bolt.Tx) error { releaseMapped(tx); return nil })
		}
		s.advance(next, hash)
	}
	return nil
}

// allApplied reports, without a write transaction, whether every block is
// below the checkpoint and the one just below it matches the applied hash.
func (s *Store) allApplied(blks []backend.Block) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range blks {
		if blks[i].Number >= s.next || (blks[i].Number+1 == s.next && blks[i].Hash != s.hash) {
			return false
		}
	}
	return true
}

func (s *Store) advance(next uint64, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if next <= s.next {
		return
	}
	s.next, s.hash = next, hash
	close(s.changed)
	s.changed = make(chan struct{})
}

// Next is the number of the next block to apply (0 when empty).
func (s *Store) Next() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Head is the last applied block's number+1 (height) and hash.
func (s *Store) Head() (height uint64, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, s.hash
}

// WaitFor blocks until block number n has been applied (Next() > n), ctx
// ends (its error) or the store is closed (ErrClosed). It waits on a
// notification from the commit, not by polling.
func (s *Store) WaitFor(ctx context.Context, n uint64) error {
	for {
		s.mu.Lock()
		done, changed := s.next > n, s.changed
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		}
	}
}

// View runs fn on a consistent snapshot: one bbolt read transaction, so
// everything fn reads belongs to the same block height.
func (s *Store) View(fn func(Snapshot) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		defer releaseMapped(tx)
		return fn(&snapshot{tx: tx})
	})
}
