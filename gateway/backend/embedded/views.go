package embedded

import (
	"bytes"
	"fmt"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	bolt "go.etcd.io/bbolt"
)

// versionView is the state as it was just before the transaction at pos: a
// key's value is its newest version before pos. The committer gives each
// transaction the view at its own position inside the batch's read-write
// transaction (so it sees the batch's earlier accepted transactions),
// Evaluate reads just after the newest durable block (hiding blocks executed
// but not yet fsync'd to the log), recovery and Verify replay each transaction at its
// recorded position: commit and replay read the state by the same code.
type versionView struct {
	src stateSource
	pos position
}

// bucketView is the view of bucket b at pos, read through bbolt.
func bucketView(b *bolt.Bucket, pos position) versionView {
	return versionView{src: boltSource{b}, pos: pos}
}

func (v versionView) get(key string) ([]byte, error) {
	memo := v.src.versionMemo()
	if memo != nil {
		if value, ok := memo.get(key, v.pos); ok {
			return bytes.Clone(value), nil
		}
	}
	seek := versionKey([]byte(key), v.pos) // the first version key after the view
	esc := seek[:len(seek)-positionSize]
	c := v.src.pointCursor()
	var k, val []byte
	next := maxPosition
	if k, _ = c.Seek(seek); k == nil {
		k, val = c.Last()
	} else {
		if hasPrefixKey(k, esc) {
			next = decodePosition(k[len(k)-positionSize:])
		}
		k, val = c.Prev()
	}
	if err := v.src.Err(); err != nil {
		return nil, err
	}
	if k == nil || !hasPrefixKey(k, esc) {
		if memo != nil {
			memo.put(key, position{}, next, nil, true)
		}
		return nil, nil
	}
	rec, err := decodeVersion(val)
	if err != nil {
		return nil, err
	}
	var value []byte
	if !rec.IsDelete {
		value = rec.Value
	}
	if memo != nil {
		memo.put(key, decodePosition(k[len(k)-positionSize:]), next, value, false)
	}
	if value == nil {
		return nil, nil
	}
	return bytes.Clone(value), nil
}

func (v versionView) scan(prefix, after []byte) (kvCursor, error) {
	s := &versionScan{src: v.src, c: v.src.Cursor(), pos: v.pos, prefix: escapePrefix(nil, prefix)}
	if len(after) > 0 {
		s.after = escapeKey(nil, after)
	}
	return s, nil
}

func (v versionView) history(key []byte) (historyCursor, error) {
	return &historyScan{src: v.src, c: v.src.Cursor(), esc: escapeKey(nil, key), limit: v.pos}, nil
}

// versionScan walks the versions over a key prefix and yields, for each key,
// its newest version before pos unless that version is a delete.
type versionScan struct {
	src    stateSource
	c      stateCursor
	pos    position
	prefix []byte // escaped, no terminator
	after  []byte // escaped with terminator; empty for none

	k, v    []byte // the cursor's current entry
	started bool
	done    bool
}

func (s *versionScan) next() (key, value []byte, ok bool, err error) {
	if !s.started {
		s.started = true
		start := s.prefix
		if len(s.after) > 0 && bytes.Compare(s.after, s.prefix) > 0 {
			start = s.after
		}
		s.k, s.v = s.c.Seek(start)
		if err := s.src.Err(); err != nil {
			return nil, nil, false, err
		}
	}
	for !s.done {
		if s.k == nil || !bytes.HasPrefix(s.k, s.prefix) || len(s.k) < positionSize {
			s.done = true
			break
		}
		esc := s.k[:len(s.k)-positionSize]
		// Walk this key's versions; keep the newest before pos.
		var best []byte
		found := false
		for len(s.k) >= positionSize && bytes.Equal(s.k[:len(s.k)-positionSize], esc) {
			if decodePosition(s.k[len(s.k)-positionSize:]).less(s.pos) {
				best, found = s.v, true
			}
			s.k, s.v = s.c.Next()
		}
		if s.k == nil {
			if err := s.src.Err(); err != nil {
				return nil, nil, false, err
			}
		}
		if !found || (len(s.after) > 0 && bytes.Compare(esc, s.after) <= 0) {
			continue
		}
		rec, err := decodeVersion(best)
		if err != nil {
			return nil, nil, false, err
		}
		if rec.IsDelete {
			continue
		}
		raw, _, err := splitVersionKey(append(bytes.Clone(esc), make([]byte, positionSize)...))
		if err != nil {
			return nil, nil, false, fmt.Errorf("state scan: %w", err)
		}
		return raw, bytes.Clone(rec.Value), true, nil
	}
	return nil, nil, false, nil
}

// historyScan walks one key's versions strictly before limit.
type historyScan struct {
	src     stateSource
	c       stateCursor
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
	if err := s.src.Err(); err != nil {
		return voucher.HistoryEntry{}, false, err
	}
	if k == nil || !hasPrefixKey(k, s.esc) || !decodePosition(k[len(s.esc):]).less(s.limit) {
		s.done = true
		return voucher.HistoryEntry{}, false, nil
	}
	rec, err := decodeVersion(v)
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
