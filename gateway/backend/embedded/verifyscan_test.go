package embedded

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

const scanTestBlocks = 64

// openVersionsDB creates a bbolt file whose bucket holds n versions of
// random keys at random positions in blocks below scanTestBlocks, written in
// random order with deletes in between (fillTreeDB), so the leaves lie
// scattered over the file under at least two levels of branches.
func openVersionsDB(t *testing.T, rng *rand.Rand, n int) (path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "versions.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(testBucket); return err }); err != nil {
		t.Fatal(err)
	}
	fillTreeDB(t, db, rng, n, 2000, func(rng *rand.Rand) []byte {
		return versionKey(randomKey(rng), position{Block: rng.Uint64N(scanTestBlocks), Index: rng.Uint32N(100)})
	})
	return path
}

func newTestCounter(key [32]byte) *stateCounter {
	return &stateCounter{head: scanTestBlocks - 1, x: newVersionHasher(key),
		count: versionCount{stored: make([]uint32, scanTestBlocks), sums: make([]versionSum, scanTestBlocks)}}
}

// scanFile runs the sequential scan over path's bucket with a small cache.
func scanFile(t *testing.T, path string, key [32]byte) (*stateCounter, error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	c := newTestCounter(key)
	var scanErr error
	_ = db.View(func(tx *bolt.Tx) error {
		tr, ok := newTreeReader(f, db.Info().PageSize, 8*4096).source(tx, testBucket).(*tree)
		if !ok {
			t.Fatal("the bucket is not read with pread")
		}
		if scanErr = c.scanTree(context.Background(), tr); scanErr == nil {
			scanErr = tr.Err()
		}
		return nil
	})
	return c, scanErr
}

// The sequential scan, in file order, counts and sums exactly what bbolt's
// cursor walks in key order.
func TestScanTreeMatchesCursorWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	path := openVersionsDB(t, rng, 60_000)
	var key [32]byte
	key[0] = 1

	got, err := scanFile(t, path, key)
	if err != nil || got.count.detail != "" {
		t.Fatalf("scan: %v %q", err, got.count.detail)
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	want := newTestCounter(key)
	depth := 0
	_ = db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(testBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			want.visit(k, v)
		}
		depth = tx.Bucket(testBucket).Stats().Depth
		return nil
	})
	if depth < 3 {
		t.Fatalf("the tree is %d levels deep; the test wants branches below the root", depth)
	}
	total := 0
	for n := range scanTestBlocks {
		total += int(want.count.stored[n])
		if got.count.stored[n] != want.count.stored[n] || got.count.sums[n] != want.count.sums[n] {
			t.Fatalf("block %d: scan %d versions, sum %x; cursor %d, %x", n,
				got.count.stored[n], got.count.sums[n], want.count.stored[n], want.count.sums[n])
		}
	}
	if total == 0 {
		t.Fatal("no versions counted")
	}
	// Another key, other sums: they are keyed.
	key[0] = 2
	other, _ := scanFile(t, path, key)
	if other.count.sums[0] == got.count.sums[0] {
		t.Fatal("the sums do not depend on the key")
	}
}

// A branch whose two children are one page (a cycle, or a page shared by
// two subtrees) is reported, not counted twice.
func TestScanTreeFindsAPageReachedTwice(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	path := openVersionsDB(t, rng, 30_000)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	_ = db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(testBucket).Root()); return nil })
	pageSize := db.Info().PageSize
	_ = db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := treePage(raw[int(root)*pageSize:]) //nolint:gosec // a small test file
	if p.flags() != branchPageFlag || p.count() < 2 {
		t.Fatalf("root page %d is not a branch of two children or more", root)
	}
	binary.LittleEndian.PutUint64(p.elem(1)[8:], p.child(0))
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = scanFile(t, path, [32]byte{})
	if err == nil || !strings.Contains(err.Error(), "reached twice") {
		t.Fatalf("scan error %v, want a page reached twice", err)
	}
}
