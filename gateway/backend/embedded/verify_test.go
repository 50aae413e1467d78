package embedded

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// buildLedger writes a ledger of 12 blocks with puts, overwrites, deletes and
// counters, closes it and returns its directory.
func buildLedger(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	for i := range 12 {
		// Values of ~700 bytes: the versions bucket spans several pages, as
		// a real one does (a bucket under a quarter page is stored inline).
		fn, a := "Put", testArg{K: fmt.Sprint("k", i%5), V: fmt.Sprintf("value-%d-%s", i, strings.Repeat("v", 700))}
		switch i % 4 {
		case 2:
			fn, a = "Incr", testArg{K: "counter", Limit: 100}
		case 3:
			fn, a = "Del", testArg{K: fmt.Sprint("k", (i+1)%5)}
		}
		if _, err := l.Submit(ctx, tester, fn, mustJSON(a)); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cloneLedger copies a closed ledger's files into a new directory.
func cloneLedger(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	for _, name := range []string{FileName, LogFileName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// tamper edits a closed ledger's bbolt file offline.
func tamper(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func verifyDir(t *testing.T, dir string) backend.VerifyResult {
	t.Helper()
	l := openTest(t, dir)
	defer l.Close()
	res, err := l.Verify(context.Background(), nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

func TestVerifyIntactLedger(t *testing.T) {
	dir := buildLedger(t)
	l := openTest(t, dir)
	defer l.Close()
	var calls, lastDone, lastTotal uint64
	res, err := l.Verify(context.Background(), func(done, total uint64) {
		if done < lastDone || done > total {
			t.Errorf("progress %d/%d after %d", done, total, lastDone)
		}
		calls++
		lastDone, lastTotal = done, total
	})
	if err != nil || !res.OK || res.FirstBadBlock != nil {
		t.Fatalf("verify: %+v %v", res, err)
	}
	info, _ := l.Info(context.Background())
	if res.Height != info.Height || res.HeadHash != info.HeadHash || res.CheckedBlocks != 13 || info.Height != 13 {
		t.Fatalf("result %+v, info %+v", res, info)
	}
	if calls == 0 || lastDone != 13 || lastTotal != 13 {
		t.Fatalf("progress ended at %d/%d after %d calls", lastDone, lastTotal, calls)
	}
}

// TestVerifyNamesTheTamperedBlock flips one byte of one stored transaction
// of block k (several bytes, several blocks, one copy each) and expects
// Verify to name block k.
func TestVerifyNamesTheTamperedBlock(t *testing.T) {
	base := buildLedger(t)
	for _, k := range []uint64{1, 6, 12} {
		var size int
		tamper(t, cloneLedger(t, base), func(tx *bolt.Tx) error {
			size = len(tx.Bucket(bucketBlocks).Get(blockKey(k)))
			return nil
		})
		for _, off := range []int{headerSize, headerSize + 3, (headerSize + size) / 2, size - 1, 1, 9, 9 + hashSize} {
			dir := cloneLedger(t, base)
			tamper(t, dir, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketBlocks)
				rec := bytes.Clone(b.Get(blockKey(k)))
				rec[off] ^= 0x20
				return b.Put(blockKey(k), rec)
			})
			res := verifyDir(t, dir)
			if res.OK || res.FirstBadBlock == nil || *res.FirstBadBlock != k {
				t.Fatalf("block %d byte %d flipped: %+v", k, off, res)
			}
			if !strings.Contains(res.Detail, fmt.Sprintf("block %d", k)) {
				t.Fatalf("detail %q does not name block %d", res.Detail, k)
			}
		}
	}
}

func TestVerifyDetectsStateEdits(t *testing.T) {
	base := buildLedger(t)
	edit := func(key string, block uint64, change func(b *bolt.Bucket, vk []byte) error) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			return change(tx.Bucket(bucketVersions), versionKey([]byte(key), position{Block: block}))
		}
	}
	flip := func(b *bolt.Bucket, vk []byte) error {
		rec := bytes.Clone(b.Get(vk))
		if rec == nil {
			return fmt.Errorf("no version %x", vk)
		}
		rec[len(rec)-1] ^= 1
		return b.Put(vk, rec)
	}
	added := func(b *bolt.Bucket, vk []byte) error {
		return b.Put(vk, encodeVersion(versionRec{TxID: "forged", Timestamp: 1, Value: []byte("1")}))
	}
	removed := func(b *bolt.Bucket, vk []byte) error { return b.Delete(vk) }
	// buildLedger: block i+1 holds transaction i; k0 is written in block 1,
	// the counter in blocks 3, 7 and 11.
	for _, tc := range []struct {
		name  string
		edit  func(tx *bolt.Tx) error
		block uint64
	}{
		{"old version changed", edit("k0", 1, flip), 1},
		{"newest version changed", edit("counter", 11, flip), 11},
		// Blocks 7 and 11 read the counter from the replay's own write in
		// block 3 (versionmemo.go), not from the edited version.
		{"version read again changed", edit("counter", 3, flip), 3},
		{"version removed", edit("counter", 7, removed), 7},
		{"version added", edit("zz", 5, added), 5},
		{"version added to genesis", edit("zz", 0, added), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := cloneLedger(t, base)
			tamper(t, dir, tc.edit)
			res := verifyDir(t, dir)
			if res.OK || res.FirstBadBlock == nil || *res.FirstBadBlock != tc.block {
				t.Fatalf("%+v, want block %d named", res, tc.block)
			}
			t.Log(res.Detail)
		})
	}
	t.Run("malformed key", func(t *testing.T) {
		dir := cloneLedger(t, base)
		tamper(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketVersions).Put([]byte("zz"), []byte("1")) })
		if res := verifyDir(t, dir); res.OK || res.FirstBadBlock != nil {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("damaged state page", func(t *testing.T) {
		dir := cloneLedger(t, base)
		path := filepath.Join(dir, FileName)
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var root uint64
		_ = db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(bucketVersions).Root()); return nil })
		pageSize := db.Info().PageSize
		_ = db.Close()
		if root == 0 {
			t.Fatal("the versions bucket is inline; the test needs it on pages of its own")
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		raw[int(root)*pageSize+8] = 0x10 //nolint:gosec // a small test file; the page's flags say freelist
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		res := verifyDir(t, dir)
		if res.OK || !strings.Contains(res.Detail, "cannot read the state") {
			t.Fatalf("%+v, want a finding that the state cannot be read", res)
		}
		t.Log(res.Detail)
	})
	t.Run("head record", func(t *testing.T) {
		dir := cloneLedger(t, base)
		tamper(t, dir, func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			rec := bytes.Clone(m.Get(metaHead))
			rec[len(rec)-1] ^= 1
			return m.Put(metaHead, rec)
		})
		res := verifyDir(t, dir)
		if res.OK || res.FirstBadBlock == nil || *res.FirstBadBlock != 12 {
			t.Fatalf("%+v", res)
		}
	})
}

// TestVerifyWhileCommitting: a verify running beside live commits checks
// the head it started from and reports OK.
func TestVerifyWhileCommitting(t *testing.T) {
	l := openTest(t, buildLedger(t))
	defer l.Close()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: fmt.Sprint("live", i%7), V: fmt.Sprint(i)})); err != nil {
				done <- err
				return
			}
		}
	}()
	for range 5 {
		res, err := l.Verify(context.Background(), nil)
		if err != nil || !res.OK {
			t.Fatalf("verify beside commits: %+v %v", res, err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestVerifyStopsWithItsContext(t *testing.T) {
	l := openTest(t, buildLedger(t))
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Verify(ctx, nil); err == nil {
		t.Fatal("verify with an ended context succeeded")
	}
}
