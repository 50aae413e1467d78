package embedded

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var testBucket = []byte("t")

// openTreeDB creates a bbolt file whose bucket holds n random keys (some
// values over a page, so overflow pages occur), written over several
// transactions with deletes in between so pages are split, merged and freed.
func openTreeDB(t *testing.T, rng *rand.Rand, n int) (*bolt.DB, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tree.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(testBucket); return err }); err != nil {
		t.Fatal(err)
	}
	fillTreeDB(t, db, rng, n, 500, randomKey)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return db, f
}

// fillTreeDB puts n random values (some over a page, so overflow pages
// occur) under keys from key into testBucket, batch per transaction, with a
// run of deletes after each batch so pages are split, merged and freed.
func fillTreeDB(t *testing.T, db *bolt.DB, rng *rand.Rand, n, batch int, key func(*rand.Rand) []byte) {
	t.Helper()
	for done := 0; done < n; {
		if err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(testBucket)
			for i := 0; i < batch && done < n; i++ {
				v := make([]byte, rng.IntN(300))
				if rng.IntN(50) == 0 {
					v = make([]byte, 4096+rng.IntN(10000))
				}
				for j := range v {
					v[j] = byte(rng.Uint32())
				}
				if err := b.Put(key(rng), v); err != nil {
					return err
				}
				done++
			}
			c := b.Cursor()
			for k, _ := c.Seek(randomKey(rng)); k != nil && rng.IntN(3) > 0; k, _ = c.Next() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func randomKey(rng *rand.Rand) []byte {
	k := make([]byte, 1+rng.IntN(40))
	for i := range k {
		k[i] = byte('a' + rng.IntN(4)) // few letters: shared prefixes, near misses
	}
	return k
}

// The tree reader's cursor returns exactly what bbolt's returns, for any
// sequence of moves, with a cache so small that it evicts all the time.
func TestTreeCursorMatchesBolt(t *testing.T) {
	for _, cacheBytes := range []int{3 * 4096, 1 << 20} {
		t.Run(fmt.Sprint("cache ", cacheBytes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(cacheBytes)))
			db, f := openTreeDB(t, rng, 20_000)
			r := newTreeReader(f, db.Info().PageSize, cacheBytes)
			err := db.View(func(tx *bolt.Tx) error {
				src := r.source(tx, testBucket)
				if _, ok := src.(*tree); !ok {
					t.Fatalf("source is %T, want the pread tree", src)
				}
				for range 200 {
					want, got := tx.Bucket(testBucket).Cursor(), src.Cursor()
					for step := range 50 {
						var wk, wv, gk, gv []byte
						op := rng.IntN(5)
						if step == 0 {
							op = 2 // a new cursor is positioned first
						}
						switch op {
						case 0:
							wk, wv = want.First()
							gk, gv = got.First()
						case 1:
							wk, wv = want.Last()
							gk, gv = got.Last()
						case 2:
							seek := randomKey(rng)
							wk, wv = want.Seek(seek)
							gk, gv = got.Seek(seek)
						case 3:
							wk, wv = want.Next()
							gk, gv = got.Next()
						case 4:
							wk, wv = want.Prev()
							gk, gv = got.Prev()
						}
						if !bytes.Equal(wk, gk) || !bytes.Equal(wv, gv) {
							t.Fatalf("op %d at step %d: got key %q, want %q (values equal: %v)", op, step, gk, wk, bytes.Equal(wv, gv))
						}
						if wk == nil {
							break // the cursors part ways after the ends
						}
					}
				}
				return src.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Every key, walked forwards and backwards, and found by getExact.
func TestTreeCursorWalksEveryKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	db, f := openTreeDB(t, rng, 5_000)
	r := newTreeReader(f, db.Info().PageSize, 8*4096)
	err := db.View(func(tx *bolt.Tx) error {
		src := r.source(tx, testBucket)
		var keys [][]byte
		_ = tx.Bucket(testBucket).ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
		c := src.Cursor()
		i := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if i >= len(keys) || !bytes.Equal(k, keys[i]) {
				t.Fatalf("forward walk: key %d is %q", i, k)
			}
			i++
		}
		if i != len(keys) {
			t.Fatalf("forward walk saw %d keys, want %d", i, len(keys))
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			i--
			if !bytes.Equal(k, keys[i]) {
				t.Fatalf("backward walk: key %d is %q", i, k)
			}
		}
		if i != 0 {
			t.Fatalf("backward walk stopped at %d", i)
		}
		for _, k := range keys {
			if !bytes.Equal(getExact(src, k), tx.Bucket(testBucket).Get(k)) {
				t.Fatalf("getExact(%q) differs from bbolt's Get", k)
			}
		}
		if getExact(src, []byte("zzzz-absent")) != nil {
			t.Fatal("getExact found an absent key")
		}
		return src.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A later transaction sees its own tree, not pages cached from an earlier
// one.
func TestTreeReaderSeesNewTransactions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	db, f := openTreeDB(t, rng, 5_000)
	r := newTreeReader(f, db.Info().PageSize, 1<<20)
	read := func(key []byte) []byte {
		var v []byte
		if err := db.View(func(tx *bolt.Tx) error {
			src := r.source(tx, testBucket)
			v = bytes.Clone(getExact(src, key))
			return src.Err()
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	key := []byte("cccc")
	for round := range 5 {
		want := []byte(fmt.Sprint("value ", round))
		if err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(testBucket)
			for range 300 { // rewrite many pages so old ones are freed and reused
				if err := b.Put(randomKey(rng), []byte("x")); err != nil {
					return err
				}
			}
			return b.Put(key, want)
		}); err != nil {
			t.Fatal(err)
		}
		if got := read(key); !bytes.Equal(got, want) {
			t.Fatalf("round %d: read %q, want %q", round, got, want)
		}
	}
}

// A damaged page is an error from the source, never a panic or a wrong
// answer taken for the truth.
func TestTreeReaderReportsDamagedPage(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	db, _ := openTreeDB(t, rng, 5_000)
	var root uint64
	pageSize := db.Info().PageSize
	if err := db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(testBucket).Root()); return nil }); err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	cases := map[string]func(page []byte){
		"page id":       func(p []byte) { p[0] ^= 0xFF },
		"flags":         func(p []byte) { p[8] = 0x10 },
		"element count": func(p []byte) { p[10], p[11] = 0xFF, 0xFF },
		"element pos":   func(p []byte) { p[pageHeaderSize+3] = 0x7F },
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damage(raw[int(root)*pageSize:]) //nolint:gosec // a small test file
			copyPath := filepath.Join(t.TempDir(), "damaged.db")
			if err := os.WriteFile(copyPath, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(copyPath)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			r := newTreeReader(f, pageSize, 1<<20)
			// The tree comes from the intact file's transaction; the pages
			// from the damaged copy.
			_ = db.View(func(tx *bolt.Tx) error {
				src := r.source(tx, testBucket)
				if k, _ := src.Cursor().Seek([]byte("b")); k != nil {
					t.Fatalf("read %q through a damaged root", k)
				}
				if src.Err() == nil {
					t.Fatal("no error for a damaged root page")
				}
				return nil
			})
		})
	}
}

// The cache never holds more than its budget and keeps pages in use.
func TestPageCacheBound(t *testing.T) {
	c := newPageCache(10 * 4096)
	for id := range uint64(100) {
		size := 4096
		if id%7 == 0 {
			size = 3 * 4096
		}
		c.put(id, make([]byte, size))
		if c.bytes > c.maxBytes {
			t.Fatalf("after page %d: %d bytes cached, over %d", id, c.bytes, c.maxBytes)
		}
		if _, ok := c.get(id); !ok {
			t.Fatalf("page %d not cached right after put", id)
		}
		if c.index.n != len(c.slots)-len(c.free) {
			t.Fatalf("index has %d pages, slots %d with %d free", c.index.n, len(c.slots), len(c.free))
		}
	}
	c.put(1000, make([]byte, 11*4096)) // larger than the whole cache: not kept
	if _, ok := c.get(1000); ok {
		t.Fatal("a page over the budget was cached")
	}
	c.reset()
	if _, ok := c.get(99); ok || c.bytes != 0 {
		t.Fatal("reset left pages behind")
	}
}

// The slot index answers as a map does under any mix of puts and removes
// (ids chosen to collide, so probe runs wrap and shift back).
func TestSlotIndexMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x slotIndex
	want := map[uint64]int{}
	for step := range 200_000 {
		id := rng.Uint64N(300)
		if _, ok := want[id]; ok && rng.IntN(2) == 0 {
			x.remove(id)
			delete(want, id)
		} else if !ok {
			x.put(id, step)
			want[id] = step
		}
		if step%1000 == 0 {
			x.remove(1 << 40) // absent: no change
			if x.n != len(want) {
				t.Fatalf("step %d: %d entries, want %d", step, x.n, len(want))
			}
			for id := range uint64(300) {
				slot, ok := x.get(id)
				if w, wok := want[id]; ok != wok || ok && slot != w {
					t.Fatalf("step %d: get(%d) = %d, %v; want %d, %v", step, id, slot, ok, w, wok)
				}
			}
		}
	}
	x.clear()
	for id := range uint64(300) {
		if _, ok := x.get(id); ok || x.n != 0 {
			t.Fatalf("clear left page %d behind", id)
		}
	}
}

// Buffers of evicted pages are reused only after recycle.
func TestPageCacheReusesAfterRecycle(t *testing.T) {
	c := newPageCache(2 * 4096)
	pages := make([][]byte, 4)
	for id := range pages {
		pages[id] = c.buffer(4096)
		c.put(uint64(id), pages[id]) //nolint:gosec // small
	}
	// Pages 0 and 1 were evicted; until recycle their buffers stay theirs.
	if b := c.buffer(4096); &b[0] == &pages[0][0] || &b[0] == &pages[1][0] {
		t.Fatal("an evicted page's buffer was reused before recycle")
	}
	c.recycle()
	b := c.buffer(4096)
	if &b[0] != &pages[0][0] && &b[0] != &pages[1][0] {
		t.Fatal("recycle did not make the evicted buffers reusable")
	}
	if b := c.buffer(3 * 4096); len(b) != 3*4096 {
		t.Fatalf("buffer of %d bytes, want %d", len(b), 3*4096)
	}
}

// FuzzTreeReader: pages of arbitrary bytes make the reader report an error
// or read something, never panic or loop.
func FuzzTreeReader(f *testing.F) {
	const pageSize = 512
	leaf := make([]byte, pageSize)
	binary.LittleEndian.PutUint64(leaf, 2)
	binary.LittleEndian.PutUint16(leaf[8:], leafPageFlag)
	binary.LittleEndian.PutUint16(leaf[10:], 1)
	binary.LittleEndian.PutUint32(leaf[pageHeaderSize+4:], pageElementSize) // key right after the element
	binary.LittleEndian.PutUint32(leaf[pageHeaderSize+8:], 1)
	binary.LittleEndian.PutUint32(leaf[pageHeaderSize+12:], 1)
	copy(leaf[pageHeaderSize+pageElementSize:], "kv")
	f.Add(leaf, []byte("k"))
	branch := bytes.Clone(leaf)
	binary.LittleEndian.PutUint16(branch[8:], branchPageFlag)
	binary.LittleEndian.PutUint32(branch[pageHeaderSize:], pageElementSize)
	binary.LittleEndian.PutUint64(branch[pageHeaderSize+8:], 2)
	f.Add(branch, []byte("a"))
	path := filepath.Join(f.TempDir(), "pages") // one per fuzzing process, which runs inputs one at a time
	f.Fuzz(func(t *testing.T, root []byte, seek []byte) {
		if len(root) > 4*pageSize {
			return
		}
		// Pages 0 and 1 are bbolt's meta pages; the tree's root is page 2,
		// page 3 a copy of it, so children may point at either.
		file := make([]byte, 4*pageSize)
		copy(file[2*pageSize:], root)
		copy(file[3*pageSize:], root)
		binary.LittleEndian.PutUint64(file[3*pageSize:], 3)
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = fh.Close() }()
		tr := &tree{r: newTreeReader(fh, pageSize, 2*pageSize), root: 2, pages: 4}
		c := tr.Cursor()
		steps := 0
		for k, _ := c.Seek(seek); k != nil && steps < 100; k, _ = c.Next() {
			steps++
		}
		for k, _ := c.Last(); k != nil && steps < 200; k, _ = c.Prev() {
			steps++
		}
		c.First()
	})
}

// getExact returns key's value in src, or nil.
func getExact(src stateSource, key []byte) []byte {
	k, v := src.pointCursor().Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}
