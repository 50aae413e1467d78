package embedded

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestVersionMemoAnswersAsTheTree reads random keys at random positions, in
// random order, through a treeReader (whose memo answers repeated reads) and
// through bbolt's cursor, and wants the same answers: the memo's spans are
// exactly the stretches where a key's newest version stays the same. More
// keys than the memo has slots make slots change hands.
func TestVersionMemoAnswersAsTheTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	path := filepath.Join(t.TempDir(), "versions.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	keys := make([]string, 3*memoSlots)
	for i := range keys {
		keys[i] = fmt.Sprintf("k\x00%d\x00%s", i%97, bytes.Repeat([]byte{'v'}, i%13))
	}
	const blocks = 40
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(testBucket)
		if err != nil {
			return err
		}
		for i, k := range keys {
			for range rng.IntN(4) {
				pos := position{Block: uint64(rng.IntN(blocks)), Index: uint32(rng.IntN(3))}
				rec := versionRec{TxID: "tx", Timestamp: 1, Value: fmt.Appendf(nil, "%d@%v", i, pos)}
				if rng.IntN(5) == 0 {
					rec = versionRec{TxID: "tx", Timestamp: 1, IsDelete: true}
				}
				if err := b.Put(versionKey([]byte(k), pos), encodeVersion(rec)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	r := newTreeReader(f, db.Info().PageSize, 1<<20)
	hot := keys[:memoSlots/4] // read often, so the memo answers
	if err := db.View(func(tx *bolt.Tx) error {
		memoed := r.source(tx, testBucket)
		if memoed.versionMemo() == nil {
			t.Fatal("the tree has no memo")
		}
		plain := boltSource{tx.Bucket(testBucket)}
		for i := range 200_000 {
			key := keys[rng.IntN(len(keys))]
			if i%2 == 0 {
				key = hot[rng.IntN(len(hot))]
			}
			pos := position{Block: uint64(rng.IntN(blocks + 1)), Index: uint32(rng.IntN(3))}
			got, err := versionView{src: memoed, pos: pos}.get(key)
			if err != nil {
				return err
			}
			want, err := versionView{src: plain, pos: pos}.get(key)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("read %d of %q at %v: %q, want %q", i, key, pos, got, want)
			}
			if i%50_000 == 0 {
				r.memo.reset()
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestVersionMemoSpans(t *testing.T) {
	var m versionMemo
	at := func(b uint64, i uint32) position { return position{Block: b, Index: i} }
	m.put("a", at(2, 1), at(5, 0), []byte("x"), false)
	m.put("b", position{}, at(3, 2), nil, true)
	for _, tc := range []struct {
		key   string
		pos   position
		value string
		ok    bool
	}{
		{"a", at(2, 1), "", false}, // the found version's own position: before it
		{"a", at(2, 2), "x", true},
		{"a", at(5, 0), "x", true}, // the next version's position sees the found one
		{"a", at(5, 1), "", false},
		{"b", at(0, 0), "", true},
		{"b", at(3, 2), "", true},
		{"b", at(3, 3), "", false},
		{"c", at(1, 0), "", false},
	} {
		v, ok := m.get(tc.key, tc.pos)
		if ok != tc.ok || string(v) != tc.value || (ok && tc.value == "" && v != nil) {
			t.Errorf("get(%q, %v) = %q, %v; want %q, %v", tc.key, tc.pos, v, ok, tc.value, tc.ok)
		}
	}

	m.own("a", at(4, 0), at(9, 0), []byte("y"), false)
	if v, ok := m.get("a", at(6, 0)); !ok || string(v) != "y" {
		t.Errorf("after an own write: %q, %v", v, ok)
	}
	m.own("a", at(7, 0), at(9, 0), nil, true)
	if v, ok := m.get("a", at(8, 0)); !ok || v != nil {
		t.Errorf("after an own delete: %q, %v", v, ok)
	}
	m.own("d", at(1, 0), at(9, 0), []byte("z"), false)
	if _, ok := m.get("d", at(2, 0)); ok {
		t.Error("an own write of a key never read is memoized")
	}
	m.put("big", position{}, maxPosition, make([]byte, maxMemoValueBytes+1), false)
	if _, ok := m.get("big", at(1, 0)); ok {
		t.Error("a value over the bound is memoized")
	}
	m.reset()
	if _, ok := m.get("a", at(8, 0)); ok {
		t.Error("an entry outlives reset")
	}
}

// TestVerifyRunsOfOneBlock makes every run one block, so the workers take
// turns writing the same counter: a replay that took an own write of an
// earlier run from its memo would count from a stale value.
func TestVerifyRunsOfOneBlock(t *testing.T) {
	defer func(n int) { verifyChunkBytes = n }(verifyChunkBytes)
	verifyChunkBytes = 1
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	for i := range 60 {
		fn, a := "Incr", testArg{K: "counter", Limit: 1000}
		if i%3 == 0 {
			fn, a = "Put", testArg{K: fmt.Sprint("k", i%7), V: fmt.Sprint(i)}
		}
		if _, err := l.Submit(ctx, tester, fn, mustJSON(a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if res := verifyDir(t, dir); !res.OK || res.CheckedBlocks != 61 {
			t.Fatalf("%+v", res)
		}
	}
}
