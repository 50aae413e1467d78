package embedded

import (
	"bytes"
	"fmt"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	bolt "go.etcd.io/bbolt"
)

// liveView reads the state bucket of an open bbolt transaction: the batch's
// read-write transaction (which already holds the writes of the batch's
// earlier accepted transactions) or an Evaluate's read transaction.
type liveView struct {
	state *bolt.Bucket
	hist  *bolt.Bucket
}

func (v liveView) get(key []byte) ([]byte, error) {
	return bytes.Clone(v.state.Get(key)), nil
}

func (v liveView) scan(prefix, after []byte) (kvCursor, error) {
	return &liveScan{c: v.state.Cursor(), prefix: prefix, after: after}, nil
}

func (v liveView) history(key []byte) (historyCursor, error) {
	esc := escapeKey(nil, key)
	return &historyScan{c: v.hist.Cursor(), esc: esc, limit: position{Block: ^uint64(0), Index: ^uint32(0)}}, nil
}

type liveScan struct {
	c       *bolt.Cursor
	prefix  []byte
	after   []byte
	started bool
	done    bool
}

func (s *liveScan) next() (key, value []byte, ok bool, err error) {
	if s.done {
		return nil, nil, false, nil
	}
	var k, v []byte
	if !s.started {
		s.started = true
		if len(s.after) > 0 && bytes.Compare(s.after, s.prefix) >= 0 {
			k, v = s.c.Seek(s.after)
			if k != nil && bytes.Equal(k, s.after) {
				k, v = s.c.Next()
			}
		} else {
			k, v = s.c.Seek(s.prefix)
		}
	} else {
		k, v = s.c.Next()
	}
	if k == nil || !bytes.HasPrefix(k, s.prefix) {
		s.done = true
		return nil, nil, false, nil
	}
	return bytes.Clone(k), bytes.Clone(v), true, nil
}

// historyScan walks one key's history entries strictly before limit.
type historyScan struct {
	c       *bolt.Cursor
	esc     []byte // escaped key with terminator
	limit   position
	started bool
	done    bool
}

func (s *historyScan) next() (voucher.HistoryEntry, bool, error) {
	if s.done {
		return voucher.HistoryEntry{}, false, nil
	}
	var k, v []byte
	if !s.started {
		s.started = true
		k, v = s.c.Seek(s.esc)
	} else {
		k, v = s.c.Next()
	}
	if k == nil || !hasPrefixKey(k, s.esc) || !decodePosition(k[len(s.esc):]).less(s.limit) {
		s.done = true
		return voucher.HistoryEntry{}, false, nil
	}
	rec, err := decodeHistory(v)
	if err != nil {
		return voucher.HistoryEntry{}, false, err
	}
	return voucher.HistoryEntry{
		TxID:      rec.TxID,
		Timestamp: time.Unix(0, rec.Timestamp).UTC(),
		Value:     bytes.Clone(rec.Value),
		IsDelete:  rec.IsDelete,
	}, true, nil
}

// replayView is the state as it was just before the transaction at pos,
// rebuilt from the history bucket: a key's value is its newest history entry
// before pos. Verify replays every transaction against it and checks that
// the transaction's writes are exactly the history entries at pos, so by
// induction from genesis the view is the true state at every position. It
// needs no copy of the state, and transactions can be replayed in parallel.
type replayView struct {
	hist *bolt.Bucket
	pos  position
}

func (v replayView) get(key []byte) ([]byte, error) {
	esc := escapeKey(nil, key)
	c := v.hist.Cursor()
	k, val := c.Seek(v.pos.append(bytes.Clone(esc)))
	if k == nil {
		k, val = c.Last()
	} else {
		k, val = c.Prev()
	}
	if k == nil || !hasPrefixKey(k, esc) {
		return nil, nil
	}
	rec, err := decodeHistory(val)
	if err != nil {
		return nil, err
	}
	if rec.IsDelete {
		return nil, nil
	}
	return bytes.Clone(rec.Value), nil
}

func (v replayView) scan(prefix, after []byte) (kvCursor, error) {
	s := &replayScan{c: v.hist.Cursor(), pos: v.pos, prefix: escapePrefix(nil, prefix)}
	if len(after) > 0 {
		s.after = escapeKey(nil, after)
	}
	return s, nil
}

func (v replayView) history(key []byte) (historyCursor, error) {
	return &historyScan{c: v.hist.Cursor(), esc: escapeKey(nil, key), limit: v.pos}, nil
}

// replayScan walks the history bucket over a key prefix and yields, for each
// key, its newest entry before pos unless that entry is a delete.
type replayScan struct {
	c      *bolt.Cursor
	pos    position
	prefix []byte // escaped, no terminator
	after  []byte // escaped with terminator; empty for none

	k, v    []byte // the cursor's current entry
	started bool
	done    bool
}

func (s *replayScan) next() (key, value []byte, ok bool, err error) {
	if !s.started {
		s.started = true
		start := s.prefix
		if len(s.after) > 0 && bytes.Compare(s.after, s.prefix) > 0 {
			start = s.after
		}
		s.k, s.v = s.c.Seek(start)
	}
	for !s.done {
		if s.k == nil || !bytes.HasPrefix(s.k, s.prefix) || len(s.k) < positionSize {
			s.done = true
			break
		}
		esc := s.k[:len(s.k)-positionSize]
		// Collect this key's entries; remember the newest before pos.
		var bestV []byte
		found := false
		for s.k != nil && len(s.k) >= positionSize && bytes.Equal(s.k[:len(s.k)-positionSize], esc) {
			if decodePosition(s.k[len(s.k)-positionSize:]).less(s.pos) {
				bestV, found = s.v, true
			}
			s.k, s.v = s.c.Next()
		}
		if !found || (len(s.after) > 0 && bytes.Compare(esc, s.after) <= 0) {
			continue
		}
		rec, err := decodeHistory(bestV)
		if err != nil {
			return nil, nil, false, err
		}
		if rec.IsDelete {
			continue
		}
		raw, _, err := splitHistoryKey(append(bytes.Clone(esc), make([]byte, positionSize)...))
		if err != nil {
			return nil, nil, false, fmt.Errorf("history scan: %w", err)
		}
		return raw, bytes.Clone(rec.Value), true, nil
	}
	return nil, nil, false, nil
}
