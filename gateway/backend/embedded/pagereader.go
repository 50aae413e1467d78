package embedded

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// A treeReader reads one bucket's B+tree of a committed bbolt tree with
// pread(2), through a page cache of its own bounded in bytes, instead of
// through bbolt's memory map. Verify's replay reads the state at random over
// the whole file: through the map, each read of an uncached leaf is a page
// fault that maps a whole fault-around window or large folio (~30 pages, and
// ~90 after a sequential read of the file), which the resident-page budget
// then drops again, hot branch pages with it (ADR 0009). Read with pread, a
// miss costs about the system time of a fault and keeps only its own page,
// in memory the cache bounds exactly.
//
// It reads bbolt's data file format (unchanged since bbolt's fork of Bolt):
// a page starts with a 16-byte header (id uint64, flags uint16, count uint16,
// overflow uint32) followed by count 16-byte elements, a branch element
// (pos uint32, ksize uint32, child pgid uint64) or a leaf element (flags
// uint32, pos uint32, ksize uint32, vsize uint32), pos counting from the
// element itself; a page with overflow n spans n+1 pages. Fields are in the
// host's byte order; on a big-endian host, and for an inline bucket (root
// 0), the reader falls back to bbolt's own cursor.
//
// Pages of a committed tree do not change while a read transaction that sees
// it is open (bbolt copies on write and reuses a freed page only once no
// older reader remains), so the cache is valid as long as read transactions
// keep the same transaction id; source clears it when the id changes.
type treeReader struct {
	f        *os.File
	pageSize int
	txID     int
	cache    pageCache
	memo     versionMemo
}

const (
	pageHeaderSize  = 16
	pageElementSize = 16
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	bucketLeafFlag  = 0x01
)

var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func newTreeReader(f *os.File, pageSize, cacheBytes int) *treeReader {
	return &treeReader{f: f, pageSize: pageSize, txID: -1, cache: newPageCache(cacheBytes)}
}

// source returns the bucket name of tx's tree as a stateSource, read
// through r.
func (r *treeReader) source(tx *bolt.Tx, name []byte) stateSource {
	b := tx.Bucket(name)
	if b == nil {
		return errSource{fmt.Errorf("%w: bucket %q missing", errCorrupt, name)}
	}
	root := uint64(b.Root())
	if root == 0 || !hostLittleEndian || r.pageSize != tx.DB().Info().PageSize {
		return boltSource{b}
	}
	if tx.ID() != r.txID {
		r.cache.reset()
		r.memo.reset()
		r.txID = tx.ID()
	}
	return &tree{r: r, root: root, pages: uint64(tx.Size()) / uint64(r.pageSize)} //nolint:gosec // a file size
}

// tree is one bucket's B+tree read through a treeReader.
type tree struct {
	r     *treeReader
	root  uint64
	pages uint64 // pages in the file as the read transaction sees it
	err   error  // the first failure to read or decode a page
	point *treeCursor
}

func (t *tree) Cursor() stateCursor {
	c := &treeCursor{t: t}
	c.stack = c.stackBuf[:0]
	return c
}

func (t *tree) pointCursor() stateCursor {
	if t.point == nil {
		t.point = t.Cursor().(*treeCursor)
	}
	return t.point
}
func (t *tree) Err() error { return t.err }

func (t *tree) versionMemo() *versionMemo { return &t.r.memo }

func (t *tree) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// page returns page id, whole (with its overflow pages), checked to be a
// branch or leaf page whose elements lie within it.
func (t *tree) page(id uint64) (treePage, bool) {
	if t.err != nil {
		return treePage{}, false
	}
	if data, ok := t.r.cache.get(id); ok {
		return treePage(data), true
	}
	data, err := t.read(id)
	if err != nil {
		t.fail(fmt.Errorf("read page %d: %w", id, err))
		return treePage{}, false
	}
	t.r.cache.put(id, data)
	return treePage(data), true
}

func (t *tree) read(id uint64) ([]byte, error) {
	size := uint64(t.r.pageSize) //nolint:gosec // bbolt's page size, positive
	if id < 2 || id >= t.pages {
		return nil, fmt.Errorf("%w: page id out of the file's %d pages", errCorrupt, t.pages)
	}
	data := t.r.cache.buffer(t.r.pageSize)
	if _, err := t.r.f.ReadAt(data, int64(id*size)); err != nil { //nolint:gosec // bounded by the file size
		return nil, err
	}
	p := treePage(data)
	if p.id() != id {
		return nil, fmt.Errorf("%w: page header says page %d", errCorrupt, p.id())
	}
	if over := uint64(p.overflow()); over > 0 {
		if id+over >= t.pages {
			return nil, fmt.Errorf("%w: %d overflow pages run past the file's end", errCorrupt, over)
		}
		whole := make([]byte, (over+1)*size)
		copy(whole, data)
		if _, err := t.r.f.ReadAt(whole[size:], int64((id+1)*size)); err != nil { //nolint:gosec // bounded by the file size
			return nil, err
		}
		p = treePage(whole)
	}
	if f := p.flags(); f != branchPageFlag && f != leafPageFlag {
		return nil, fmt.Errorf("%w: page flags %#x, want a branch or leaf page", errCorrupt, f)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// treePage is one page as read from the file.
type treePage []byte

func (p treePage) id() uint64       { return binary.LittleEndian.Uint64(p) }
func (p treePage) flags() uint16    { return binary.LittleEndian.Uint16(p[8:]) }
func (p treePage) count() int       { return int(binary.LittleEndian.Uint16(p[10:])) }
func (p treePage) overflow() uint32 { return binary.LittleEndian.Uint32(p[12:]) }
func (p treePage) leaf() bool       { return p.flags() == leafPageFlag }

func (p treePage) elem(i int) []byte {
	at := pageHeaderSize + i*pageElementSize
	return p[at : at+pageElementSize]
}

// check holds every element's key (and value) within the page, so the
// accessors below cannot run out of it.
func (p treePage) check() error {
	n := p.count()
	if pageHeaderSize+n*pageElementSize > len(p) {
		return fmt.Errorf("%w: %d elements overrun a page of %d bytes", errCorrupt, n, len(p))
	}
	for i := range n {
		e := p.elem(i)
		at := uint64(pageHeaderSize + i*pageElementSize)
		var end uint64
		if p.leaf() {
			end = at + uint64(binary.LittleEndian.Uint32(e[4:])) + uint64(binary.LittleEndian.Uint32(e[8:])) + uint64(binary.LittleEndian.Uint32(e[12:]))
		} else {
			end = at + uint64(binary.LittleEndian.Uint32(e[0:])) + uint64(binary.LittleEndian.Uint32(e[4:]))
		}
		if end > uint64(len(p)) {
			return fmt.Errorf("%w: element %d runs past its page", errCorrupt, i)
		}
	}
	return nil
}

func (p treePage) key(i int) []byte {
	e := p.elem(i)
	at := pageHeaderSize + i*pageElementSize
	if p.leaf() {
		pos, ksize := int(binary.LittleEndian.Uint32(e[4:])), int(binary.LittleEndian.Uint32(e[8:]))
		return p[at+pos : at+pos+ksize : at+pos+ksize]
	}
	pos, ksize := int(binary.LittleEndian.Uint32(e[0:])), int(binary.LittleEndian.Uint32(e[4:]))
	return p[at+pos : at+pos+ksize : at+pos+ksize]
}

// value is leaf element i's value; nil for a nested bucket, as bbolt's
// cursor returns it.
func (p treePage) value(i int) []byte {
	e := p.elem(i)
	if binary.LittleEndian.Uint32(e[0:])&bucketLeafFlag != 0 {
		return nil
	}
	at := pageHeaderSize + i*pageElementSize
	pos, ksize, vsize := int(binary.LittleEndian.Uint32(e[4:])), int(binary.LittleEndian.Uint32(e[8:])), int(binary.LittleEndian.Uint32(e[12:]))
	return p[at+pos+ksize : at+pos+ksize+vsize : at+pos+ksize+vsize]
}

func (p treePage) child(i int) uint64 { return binary.LittleEndian.Uint64(p.elem(i)[8:]) }

// treeCursor walks a tree as bbolt's Cursor does: a stack of pages from the
// root to a leaf, with the element index on each. Keys and values stay valid
// after the cursor moves on.
type treeCursor struct {
	t     *tree
	stack []cursorRef
	key   []byte // the last key returned; Next must go above it, Prev below

	stackBuf [6]cursorRef // room for the stack of any tree up to a few GB
}

type cursorRef struct {
	page  treePage
	index int
}

// maxTreeDepth bounds the pages from root to leaf. bbolt's trees are a few
// levels deep; a damaged child pointer to an ancestor would otherwise make a
// cycle to descend forever.
const maxTreeDepth = 64

func (c *treeCursor) push(id uint64, last bool) bool {
	if len(c.stack) >= maxTreeDepth {
		c.t.fail(fmt.Errorf("%w: the tree is deeper than %d pages at page %d", errCorrupt, maxTreeDepth, id))
		c.stack = c.stack[:0]
		return false
	}
	p, ok := c.t.page(id)
	if !ok {
		c.stack = c.stack[:0]
		return false
	}
	if p.count() == 0 && len(c.stack) > 0 {
		// bbolt removes a page that loses its last key; only the root of
		// an empty bucket is empty.
		c.t.fail(fmt.Errorf("%w: empty page %d below the root", errCorrupt, id))
		c.stack = c.stack[:0]
		return false
	}
	i := 0
	if last {
		i = p.count() - 1
	}
	c.stack = append(c.stack, cursorRef{page: p, index: i})
	return true
}

// descend moves from the top of the stack down to a leaf, along the first
// (or last) child of every branch below the top's element.
func (c *treeCursor) descend(last bool) bool {
	for {
		top := c.stack[len(c.stack)-1]
		if top.page.leaf() {
			return true
		}
		if top.index < 0 || top.index >= top.page.count() {
			c.t.fail(fmt.Errorf("%w: empty branch page %d", errCorrupt, top.page.id()))
			c.stack = c.stack[:0]
			return false
		}
		if !c.push(top.page.child(top.index), last) {
			return false
		}
	}
}

func (c *treeCursor) current() (key, value []byte) {
	if len(c.stack) == 0 {
		return nil, nil
	}
	top := c.stack[len(c.stack)-1]
	if top.index < 0 || top.index >= top.page.count() {
		return nil, nil
	}
	c.key = top.page.key(top.index)
	return c.key, top.page.value(top.index)
}

// moved returns the key a Next (up) or Prev (down) arrived at, unless it did
// not move that way: keys out of order mean a damaged tree, and a walk that
// went on could loop through a cycle of pages forever.
func (c *treeCursor) moved(from []byte, up bool) (key, value []byte) {
	key, value = c.current()
	if key == nil || from == nil {
		return key, value
	}
	if cmp := bytes.Compare(key, from); up && cmp <= 0 || !up && cmp >= 0 {
		c.t.fail(fmt.Errorf("%w: keys out of order after %x", errCorrupt, from))
		c.stack = c.stack[:0]
		return nil, nil
	}
	return key, value
}

func (c *treeCursor) First() (key, value []byte) {
	c.stack, c.key = c.stack[:0], nil
	if !c.push(c.t.root, false) || !c.descend(false) {
		return nil, nil
	}
	if c.stack[len(c.stack)-1].page.count() == 0 {
		return c.Next()
	}
	return c.current()
}

func (c *treeCursor) Last() (key, value []byte) {
	c.stack, c.key = c.stack[:0], nil
	if !c.push(c.t.root, true) || !c.descend(true) {
		return nil, nil
	}
	if c.stack[len(c.stack)-1].page.count() == 0 {
		return c.Prev()
	}
	return c.current()
}

// Seek moves to the first key at or after seek.
func (c *treeCursor) Seek(seek []byte) (key, value []byte) {
	c.stack, c.key = c.stack[:0], nil
	if !c.push(c.t.root, false) {
		return nil, nil
	}
	for {
		top := &c.stack[len(c.stack)-1]
		p := top.page
		n := p.count()
		i := sort.Search(n, func(i int) bool { return bytes.Compare(p.key(i), seek) >= 0 })
		if p.leaf() {
			top.index = i
			break
		}
		// The child to follow is the last one whose first key is at or
		// before seek.
		if i == n || (i > 0 && !bytes.Equal(p.key(i), seek)) {
			i--
		}
		if i < 0 {
			i = 0
		}
		top.index = i
		if n == 0 {
			c.t.fail(fmt.Errorf("%w: empty branch page %d", errCorrupt, p.id()))
			c.stack = c.stack[:0]
			return nil, nil
		}
		if !c.push(p.child(i), false) {
			return nil, nil
		}
	}
	if top := c.stack[len(c.stack)-1]; top.index >= top.page.count() {
		return c.Next()
	}
	return c.current()
}

func (c *treeCursor) Next() (key, value []byte) {
	from := c.key
	i := len(c.stack) - 1
	for ; i >= 0; i-- {
		if ref := &c.stack[i]; ref.index < ref.page.count()-1 {
			ref.index++
			break
		}
	}
	if i < 0 {
		// Past the end: stay on the last element, as bbolt does.
		return nil, nil
	}
	c.stack = c.stack[:i+1]
	if !c.descend(false) {
		return nil, nil
	}
	return c.moved(from, true)
}

// Prev moves to the previous key; before the first one it returns nil and
// leaves the cursor nowhere (bbolt's stays on the first key).
func (c *treeCursor) Prev() (key, value []byte) {
	from := c.key
	for len(c.stack) > 0 {
		ref := &c.stack[len(c.stack)-1]
		if ref.index > 0 {
			ref.index--
			if !c.descend(true) {
				return nil, nil
			}
			return c.moved(from, false)
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
	return nil, nil
}

// recycle tells r that its caller holds no key or value it read through r
// any more, so the buffers of pages evicted since the last recycle may be
// read into again: a miss then costs no allocation.
func (r *treeReader) recycle() { r.cache.recycle() }

// pageCache holds pages up to a size in bytes and evicts by CLOCK: an
// approximation of least-recently-used whose hit costs one map lookup.
//
// An evicted page may still be referenced (a key a caller holds, a page on a
// cursor's stack), so its buffer is retired, and reused only after recycle.
type pageCache struct {
	maxBytes int
	bytes    int
	index    slotIndex // page id → slot
	slots    []cacheSlot
	free     []int
	hand     int
	retired  [][]byte // evicted since the last recycle
	spare    [][]byte // free to read into
}

type cacheSlot struct {
	id   uint64
	data []byte // nil for a free slot
	used bool
}

func newPageCache(maxBytes int) pageCache {
	return pageCache{maxBytes: maxBytes}
}

func (c *pageCache) get(id uint64) ([]byte, bool) {
	i, ok := c.index.get(id)
	if !ok {
		return nil, false
	}
	c.slots[i].used = true
	return c.slots[i].data, true
}

func (c *pageCache) put(id uint64, data []byte) {
	if len(data) > c.maxBytes {
		return
	}
	for c.bytes+len(data) > c.maxBytes {
		c.evict()
	}
	i := len(c.slots)
	if n := len(c.free); n > 0 {
		i, c.free = c.free[n-1], c.free[:n-1]
	} else {
		c.slots = append(c.slots, cacheSlot{})
	}
	c.slots[i] = cacheSlot{id: id, data: data}
	c.index.put(id, i)
	c.bytes += len(data)
}

// evict frees the first slot the clock hand finds unused since it last
// passed, clearing the marks it passes.
func (c *pageCache) evict() {
	for {
		if c.hand >= len(c.slots) {
			c.hand = 0
		}
		s := &c.slots[c.hand]
		c.hand++
		switch {
		case s.data == nil:
		case s.used:
			s.used = false
		default:
			c.index.remove(s.id)
			c.bytes -= len(s.data)
			c.retire(s.data)
			*s = cacheSlot{}
			c.free = append(c.free, c.hand-1)
			return
		}
	}
}

func (c *pageCache) reset() {
	for _, s := range c.slots {
		c.retire(s.data)
	}
	c.index.clear()
	c.slots, c.free, c.bytes, c.hand = c.slots[:0], c.free[:0], 0, 0
}

// maxRetiredBytes bounds the buffers kept for reuse beyond the cache's own
// pages; the rest are left to the garbage collector.
const maxRetiredBytes = 1 << 20

func (c *pageCache) retire(data []byte) {
	if data != nil && (len(c.retired)+len(c.spare))*len(data) < maxRetiredBytes {
		c.retired = append(c.retired, data)
	}
}

func (c *pageCache) recycle() {
	c.spare = append(c.spare, c.retired...)
	clear(c.retired)
	c.retired = c.retired[:0]
}

// buffer returns size bytes to read a page into: a spare buffer of that
// size when there is one.
func (c *pageCache) buffer(size int) []byte {
	for n := len(c.spare); n > 0; n = len(c.spare) {
		b := c.spare[n-1]
		c.spare[n-1] = nil
		c.spare = c.spare[:n-1]
		if len(b) == size {
			return b
		}
	}
	return make([]byte, size)
}

// slotIndex maps page ids to cache slots: open addressing with linear
// probing, the cache's hottest path (a lookup per page per Seek), cheaper
// than a Go map for integer keys.
type slotIndex struct {
	entries []slotEntry // a power of two long, at most half full
	n       int
}

type slotEntry struct {
	id   uint64 // page id + 1; 0 marks an empty entry
	slot int
}

func (x *slotIndex) home(id uint64) int {
	return int((id * 0x9E3779B97F4A7C15) >> 32 & uint64(len(x.entries)-1)) //nolint:gosec // masked to the table
}

func (x *slotIndex) get(id uint64) (int, bool) {
	if x.n == 0 {
		return 0, false
	}
	for i := x.home(id); ; i = (i + 1) & (len(x.entries) - 1) {
		switch e := x.entries[i]; e.id {
		case id + 1:
			return e.slot, true
		case 0:
			return 0, false
		}
	}
}

// put adds id, which must not be in x.
func (x *slotIndex) put(id uint64, slot int) {
	if 2*(x.n+1) > len(x.entries) {
		old := x.entries
		x.entries, x.n = make([]slotEntry, max(64, 2*len(old))), 0
		for _, e := range old {
			if e.id != 0 {
				x.put(e.id-1, e.slot)
			}
		}
	}
	i := x.home(id)
	for x.entries[i].id != 0 {
		i = (i + 1) & (len(x.entries) - 1)
	}
	x.entries[i] = slotEntry{id: id + 1, slot: slot}
	x.n++
}

// remove deletes id, shifting back the entries of its probe run so that
// lookups need no tombstones.
func (x *slotIndex) remove(id uint64) {
	if x.n == 0 {
		return
	}
	mask := len(x.entries) - 1
	i := x.home(id)
	for x.entries[i].id != id+1 {
		if x.entries[i].id == 0 {
			return
		}
		i = (i + 1) & mask
	}
	x.n--
	for j := i; ; {
		x.entries[i] = slotEntry{}
		for {
			j = (j + 1) & mask
			e := x.entries[j]
			if e.id == 0 {
				return
			}
			// Move e back into the hole at i unless its home lies
			// cyclically in (i, j].
			if h := x.home(e.id - 1); (j-h)&mask >= (j-i)&mask {
				x.entries[i] = e
				i = j
				break
			}
		}
	}
}

func (x *slotIndex) clear() {
	clear(x.entries)
	x.n = 0
}

// stateSource is where a versionView reads the versions bucket: bbolt's own
// cursor on its memory map, or a tree read with pread.
type stateSource interface {
	Cursor() stateCursor
	// pointCursor is a cursor for one lookup at a time: it may be the same
	// cursor on every call, so a caller must be done with the last one.
	pointCursor() stateCursor
	// Err is the first failure to read the source, which its cursors
	// report as the end of the data.
	Err() error
	// versionMemo is the memo of point reads, nil for none.
	versionMemo() *versionMemo
}

// stateCursor is the part of bbolt's Cursor the views use.
type stateCursor interface {
	First() (key, value []byte)
	Last() (key, value []byte)
	Seek(seek []byte) (key, value []byte)
	Next() (key, value []byte)
	Prev() (key, value []byte)
}

type boltSource struct{ b *bolt.Bucket }

func (s boltSource) Cursor() stateCursor       { return s.b.Cursor() }
func (s boltSource) pointCursor() stateCursor  { return s.b.Cursor() }
func (s boltSource) Err() error                { return nil }
func (s boltSource) versionMemo() *versionMemo { return nil }

// errSource is a source that could not be opened.
type errSource struct{ err error }

func (s errSource) Cursor() stateCursor       { return emptyCursor{} }
func (s errSource) pointCursor() stateCursor  { return emptyCursor{} }
func (s errSource) Err() error                { return s.err }
func (s errSource) versionMemo() *versionMemo { return nil }

type emptyCursor struct{}

func (emptyCursor) First() (key, value []byte)      { return nil, nil }
func (emptyCursor) Last() (key, value []byte)       { return nil, nil }
func (emptyCursor) Seek([]byte) (key, value []byte) { return nil, nil }
func (emptyCursor) Next() (key, value []byte)       { return nil, nil }
func (emptyCursor) Prev() (key, value []byte)       { return nil, nil }
