package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/bits"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// versionSum is an order-independent digest of a set of versions: the sum,
// lane by lane mod 2^64, of a keyed SHA-256 of each version's key and value.
// Verify keeps one per block for the versions its replay wrote and one for
// the versions the state holds, found in whatever order the scan reads them.
type versionSum [2]uint64

func (s *versionSum) add(o versionSum) { s[0], s[1] = s[0]+o[0], s[1]+o[1] }

// versionHasher hashes versions under a key drawn at random for one Verify.
// Whoever edits the file cannot know the key, so cannot choose edited
// versions whose hashes cancel in the sums: with a public hash, additive
// sums would fall to generalised-birthday searches, keyed they are a
// randomised multiset hash (Clarke et al., 2003).
type versionHasher struct {
	key [32]byte
	h   hash.Hash
	buf []byte
	out [sha256.Size]byte
}

func newVersionHasher(key [32]byte) *versionHasher {
	return &versionHasher{key: key, h: sha256.New()}
}

func (x *versionHasher) sum(k, v []byte) versionSum {
	x.h.Reset()
	x.buf = binary.AppendUvarint(append(x.buf[:0], x.key[:]...), uint64(len(k)))
	_, _ = x.h.Write(x.buf)
	_, _ = x.h.Write(k)
	_, _ = x.h.Write(v)
	x.h.Sum(x.out[:0])
	return versionSum{binary.LittleEndian.Uint64(x.out[0:]), binary.LittleEndian.Uint64(x.out[8:])}
}

// versionCount is what countVersions found: the number and the sum of the
// stored versions of each block, or a malformed state (detail), or a failure
// to read (err).
type versionCount struct {
	stored []uint32
	sums   []versionSum
	detail string
	err    error
}

// scanWindowPages bounds one read of the sequential scan: the leaves it
// wants among that many consecutive pages are read with one pread.
const scanWindowPages = 256

// stateCounter counts and sums the versions of each block up to the head.
type stateCounter struct {
	head  uint64
	x     *versionHasher
	count versionCount
}

func (c *stateCounter) visit(k, v []byte) bool {
	if len(k) < 2+positionSize {
		c.count.detail = fmt.Sprintf("malformed state key %x", k)
		return false
	}
	if p := decodePosition(k[len(k)-positionSize:]); p.Block <= c.head {
		c.count.stored[p.Block]++
		c.count.sums[p.Block].add(c.x.sum(k, v))
	}
	return true
}

// countVersions counts and sums the stored versions of each block up to the
// head. Read with pread, the versions bucket is read in file order, in one
// read transaction: its branch pages first, to learn which pages are its
// leaves, then those leaves in windows of consecutive pages, a pread each
// (in key order the leaves lie scattered over the file: a pread per leaf).
// The sums do not depend on the order. Through bbolt's map (the fallback),
// it walks the bucket in key order, a chunk per read transaction. Versions
// written after Verify began are ignored.
func (v *verifier) countVersions(ctx context.Context, r *treeReader) versionCount {
	n := len(v.replayed)
	c := &stateCounter{head: v.head.number, x: newVersionHasher(v.key),
		count: versionCount{stored: make([]uint32, n), sums: make([]versionSum, n)}}
	sequential := false
	err := v.l.db.View(func(tx *bolt.Tx) error {
		t, ok := r.source(tx, bucketVersions).(*tree)
		if !ok {
			return nil
		}
		sequential = true
		if err := c.scanTree(ctx, t); err != nil {
			return err
		}
		switch err := t.Err(); {
		case err == nil:
		case errors.Is(err, errCorrupt):
			c.count.detail = fmt.Sprintf("the state's versions cannot be read: %v", err)
		default:
			return err
		}
		return nil
	})
	if err == nil && !sequential {
		err = v.countByCursor(ctx, r, c)
	}
	if err != nil {
		if ctx.Err() != nil {
			return versionCount{err: fmt.Errorf("verify: %w", ctx.Err())}
		}
		return versionCount{err: fmt.Errorf("%w: verify: %w", backend.ErrUnavailable, err)}
	}
	if c.count.detail != "" {
		return versionCount{detail: c.count.detail}
	}
	return c.count
}

// scanTree visits every version of t. A damaged tree (a page out of the
// file, reached twice, of the wrong kind) fails t with errCorrupt.
func (c *stateCounter) scanTree(ctx context.Context, t *tree) error {
	reached := newPageSet(t.pages) // every page the walk has been sent to
	leaves := newPageSet(t.pages)  // the pages one level below the deepest branches
	reach := func(id uint64) bool {
		if id >= t.pages {
			t.fail(fmt.Errorf("%w: page id %d out of the file's %d pages", errCorrupt, id, t.pages))
			return false
		}
		if reached.has(id) {
			t.fail(fmt.Errorf("%w: page %d is reached twice: the tree has a cycle", errCorrupt, id))
			return false
		}
		reached.add(id)
		return true
	}
	// The depth of the leftmost leaf: bbolt's trees are balanced, so the
	// children of the branches one level above it are the leaves.
	depth := 0
	for id := t.root; ; depth++ {
		p, ok := t.page(id)
		if !ok {
			return nil
		}
		if p.leaf() || depth >= maxTreeDepth {
			break
		}
		if p.count() == 0 {
			t.fail(fmt.Errorf("%w: empty branch page %d", errCorrupt, id))
			return nil
		}
		id = p.child(0)
	}
	if !reach(t.root) {
		return nil
	}
	if depth == 0 {
		leaves.add(t.root)
	} else if !c.walkBranches(ctx, t, t.root, depth, reach, leaves) {
		return ctx.Err()
	}
	// The leaves in file order, a window of consecutive pages per pread.
	var buf []byte
	pageSize := uint64(t.r.pageSize) //nolint:gosec // bbolt's page size, positive
	from, more := leaves.next(0)
	for ; more; from, more = leaves.next(from + 1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		last := from
		for id, ok := leaves.next(from + 1); ok && id < from+scanWindowPages; id, ok = leaves.next(id + 1) {
			last = id
		}
		if need := (last - from + 1) * pageSize; uint64(cap(buf)) < need {
			buf = make([]byte, need)
		} else {
			buf = buf[:need]
		}
		if _, err := t.r.f.ReadAt(buf, int64(from*pageSize)); err != nil { //nolint:gosec // within the file
			t.fail(fmt.Errorf("read pages %d-%d: %w", from, last, err))
			return nil
		}
		for id := from; id <= last; id++ {
			if !leaves.has(id) {
				continue
			}
			if !c.visitPage(ctx, t, id, treePage(buf[(id-from)*pageSize:(id-from+1)*pageSize]), reach) {
				return ctx.Err()
			}
		}
		from = last
	}
	return nil
}

// walkBranches reads the branch pages below id (at level), down to the
// level above the leaves, and adds the children there to leaves. It returns
// false when the walk must stop.
func (c *stateCounter) walkBranches(ctx context.Context, t *tree, id uint64, levels int, reach func(uint64) bool, leaves pageSet) bool {
	p, ok := readPage(ctx, t, id)
	if !ok {
		return false
	}
	if p.leaf() {
		// Not where a balanced tree has one; visit it all the same.
		leaves.add(id)
		return true
	}
	if p.count() == 0 {
		t.fail(fmt.Errorf("%w: empty branch page %d", errCorrupt, id))
		return false
	}
	for i := range p.count() {
		child := p.child(i)
		if !reach(child) {
			return false
		}
		if levels == 1 {
			leaves.add(child)
		} else if !c.walkBranches(ctx, t, child, levels-1, reach, leaves) {
			return false
		}
	}
	return true
}

// visitPage visits the versions of leaf id, read as raw (its first page).
func (c *stateCounter) visitPage(ctx context.Context, t *tree, id uint64, raw treePage, reach func(uint64) bool) bool {
	switch {
	case raw.id() != id:
		t.fail(fmt.Errorf("%w: page %d's header says page %d", errCorrupt, id, raw.id()))
		return false
	case raw.flags() == branchPageFlag:
		// Not where a balanced tree has one; walk it all the same.
		return c.walkSubtree(ctx, t, id, reach)
	case raw.overflow() > 0:
		// A leaf longer than its page: read it whole.
		p, ok := t.page(id)
		if !ok {
			return false
		}
		raw = p
	}
	if raw.flags() != leafPageFlag {
		t.fail(fmt.Errorf("%w: page %d has flags %#x, want a leaf page", errCorrupt, id, raw.flags()))
		return false
	}
	if err := raw.check(); err != nil {
		t.fail(fmt.Errorf("page %d: %w", id, err))
		return false
	}
	if raw.count() == 0 && id != t.root {
		t.fail(fmt.Errorf("%w: empty page %d below the root", errCorrupt, id))
		return false
	}
	for i := range raw.count() {
		if !c.visit(raw.key(i), raw.value(i)) {
			return false
		}
	}
	return true
}

// walkSubtree visits every version below branch id, page by page.
func (c *stateCounter) walkSubtree(ctx context.Context, t *tree, id uint64, reach func(uint64) bool) bool {
	p, ok := readPage(ctx, t, id)
	if !ok {
		return false
	}
	if p.leaf() {
		return c.visitPage(ctx, t, id, p, reach)
	}
	for i := range p.count() {
		if child := p.child(i); !reach(child) || !c.walkSubtree(ctx, t, child, reach) {
			return false
		}
	}
	return true
}

func readPage(ctx context.Context, t *tree, id uint64) (treePage, bool) {
	if ctx.Err() != nil {
		return nil, false
	}
	return t.page(id)
}

// countByCursor visits the versions through bbolt's cursor, a chunk of the
// bucket per read transaction.
func (v *verifier) countByCursor(ctx context.Context, r *treeReader, c *stateCounter) error {
	var last []byte
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return err
		}
		var readErr error
		err := v.l.db.View(func(tx *bolt.Tx) error {
			src := r.source(tx, bucketVersions)
			_, mapped := src.(boltSource)
			cur := src.Cursor()
			defer func() {
				switch rerr := src.Err(); {
				case rerr == nil:
				case errors.Is(rerr, errCorrupt):
					c.count.detail = fmt.Sprintf("the state's versions cannot be read: %v", rerr)
				default:
					readErr = rerr
				}
			}()
			var k, val []byte
			if last == nil {
				k, val = cur.First()
			} else if k, val = cur.Seek(last); k != nil && bytes.Equal(k, last) {
				k, val = cur.Next()
			}
			for n := 0; n < verifyStateChunk; n++ {
				if k == nil {
					done = true
					return nil
				}
				if last != nil && bytes.Compare(k, last) <= 0 {
					// Only a damaged tree walks back: stop rather than
					// count (or loop) again.
					c.count.detail = fmt.Sprintf("the state's keys are out of order at %x", k)
					return nil
				}
				if !c.visit(k, val) {
					return nil
				}
				// Through the map, accounted per version, inside the read
				// transaction: in key order the leaves lie scattered over
				// the file, and each may map a whole large folio.
				if mapped {
					v.l.touchIn(tx, countTouchBytes)
				}
				last = append(last[:0], k...)
				k, val = cur.Next()
			}
			return nil
		})
		if err == nil {
			err = readErr
		}
		if err != nil {
			return err
		}
		if c.count.detail != "" {
			return nil
		}
	}
	return nil
}

// compareCounts holds the stored versions of each block below the first
// broken one to those its replay wrote: equal counts and equal sums mean
// the state holds exactly the versions the replay wrote. It names the lowest
// block that differs.
func (v *verifier) compareCounts(c versionCount, below uint64) (bad uint64, detail string) {
	for n := range min(uint64(len(c.stored)), below) {
		switch {
		case c.stored[n] != v.replayed[n]:
			return n, fmt.Sprintf("block %d: the state holds %d versions written by it, the replay made %d", n, c.stored[n], v.replayed[n])
		case c.sums[n] != v.replayedSums[n]:
			return n, fmt.Sprintf("block %d: a version the state holds for it differs from the one its replay wrote", n)
		}
	}
	return 0, ""
}

// pageSet is a set of page ids below a bound, a bit each.
type pageSet []uint64

func newPageSet(pages uint64) pageSet { return make(pageSet, (pages+63)/64) }

func (s pageSet) add(id uint64)      { s[id/64] |= 1 << (id % 64) }
func (s pageSet) has(id uint64) bool { return s[id/64]&(1<<(id%64)) != 0 }

// next returns the lowest id at or above from in s.
func (s pageSet) next(from uint64) (uint64, bool) {
	for w := from / 64; w < uint64(len(s)); w++ {
		word := s[w]
		if w == from/64 {
			word &^= 1<<(from%64) - 1
		}
		if word != 0 {
			return w*64 + uint64(bits.TrailingZeros64(word)), true //nolint:gosec // 0..64
		}
	}
	return 0, false
}
