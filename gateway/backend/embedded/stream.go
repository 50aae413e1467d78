package embedded

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

const (
	// streamBuffer bounds the blocks a slow consumer leaves in its channel.
	streamBuffer = 16
	// streamChunk bounds the blocks read per read transaction while
	// catching up, so a stream never holds a read transaction for long.
	streamChunk = 64
)

// Blocks streams committed blocks with number >= from: first those on disk,
// then each new one as it commits (the committer wakes the stream; nothing
// polls; the newest blocks come from memory). The channel closes when ctx
// ends (the error is then nil), when the ledger closes or on a read error.
// Streams share the blocks' byte slices: consumers must not modify them.
func (l *Ledger) Blocks(ctx context.Context, from uint64) (<-chan backend.Block, func() error) {
	ch := make(chan backend.Block, streamBuffer)
	s := &streamErr{}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		s.set(errClosed)
		close(ch)
		return ch, s.get
	}
	l.streams.Add(1)
	l.closeMu.RUnlock()
	go func() {
		defer l.streams.Done()
		defer close(ch)
		s.set(l.stream(ctx, from, ch))
	}()
	return ch, s.get
}

type streamErr struct {
	mu  sync.Mutex
	err error
}

func (s *streamErr) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *streamErr) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (l *Ledger) stream(ctx context.Context, next uint64, ch chan<- backend.Block) error {
	for {
		l.mu.Lock()
		height, wake := l.head.number+1, l.commitCh
		var blocks []backend.Block
		if len(l.recent) > 0 && next >= l.recent[0].Number && next < height {
			blocks = slices.Clone(l.recent[next-l.recent[0].Number:])
		}
		l.mu.Unlock()
		for next < height {
			if blocks == nil {
				var err error
				if blocks, err = l.readBlocks(next, min(height, next+streamChunk)); err != nil {
					return err
				}
			}
			for _, b := range blocks {
				select {
				case ch <- b:
					next++
				case <-ctx.Done():
					return nil
				case <-l.done:
					return errClosed
				}
			}
			blocks = nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		case <-l.done:
			return errClosed
		}
	}
}

// readBlocks reads blocks [from, to) in one read transaction, copying them
// out of the memory map.
func (l *Ledger) readBlocks(from, to uint64) ([]backend.Block, error) {
	out := make([]backend.Block, 0, to-from)
	read := 0
	defer func() { l.touch(read) }()
	err := l.db.View(func(tx *bolt.Tx) error {
		blocks := tx.Bucket(bucketBlocks)
		for n := from; n < to; n++ {
			rec := blocks.Get(blockKey(n))
			if rec == nil {
				return fmt.Errorf("embedded ledger: block %d missing", n)
			}
			read += len(rec)
			b, err := toBackendBlock(rec)
			if err != nil {
				return fmt.Errorf("embedded ledger: block %d: %w", n, err)
			}
			if b.Number != n {
				return fmt.Errorf("embedded ledger: block %d: %w: stored as number %d", n, errCorrupt, b.Number)
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

func toBackendBlock(rec []byte) (backend.Block, error) {
	hdr, section, err := splitBlock(rec)
	if err != nil {
		return backend.Block{}, err
	}
	txs, err := decodeTxs(section)
	if err != nil {
		return backend.Block{}, err
	}
	hash := hdr.hash()
	b := backend.Block{Number: hdr.Number, Hash: hex.EncodeToString(hash[:]), Txs: make([]backend.Tx, len(txs))}
	for i, t := range txs {
		b.Txs[i] = backend.Tx{TxID: t.TxID, Valid: t.Valid}
		if t.Valid && len(t.Event) > 0 {
			b.Txs[i].Event = bytes.Clone(t.Event)
		}
	}
	return b, nil
}
