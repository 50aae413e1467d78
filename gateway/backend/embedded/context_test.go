package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	bolt "go.etcd.io/bbolt"
)

// withState runs fn in a read-write bbolt transaction over a fresh versions
// bucket holding committed (as versions of block 1), with the current view.
// latest is a position after every transaction: a view at latest is the
// whole state ledger.db holds.
var latest = position{Block: math.MaxUint64, Index: math.MaxUint32}

func withState(t *testing.T, committed map[string]string, fn func(tx *bolt.Tx, v versionView)) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "ctx.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(bucketVersions)
		for k, v := range committed {
			if err := b.Put(versionKey([]byte(k), position{Block: 1}), encodeVersion(versionRec{TxID: "seed", Value: []byte(v)})); err != nil {
				return err
			}
		}
		fn(tx, bucketView(b, latest))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var testID = voucher.Identity{MSPID: MSPID, Name: "t", Role: voucher.RoleSciTech}

func TestContextReadsItsOwnWrites(t *testing.T) {
	withState(t, map[string]string{"a": "old", "b": "keep"}, func(tx *bolt.Tx, v versionView) {
		c := newTxContext(v, true, "tx1", time.Unix(100, 5).UTC(), testID)
		mustGet := func(k, want string) {
			t.Helper()
			got, err := c.GetState(k)
			if err != nil || string(got) != want {
				t.Fatalf("GetState(%q) = %q, %v; want %q", k, got, err, want)
			}
		}
		mustGet("a", "old")
		mustGet("missing", "")
		if err := c.PutState("a", []byte("new")); err != nil {
			t.Fatal(err)
		}
		mustGet("a", "new")
		if err := c.DelState("b"); err != nil {
			t.Fatal(err)
		}
		mustGet("b", "")
		if err := c.PutState("c", nil); err != nil { // empty value: a delete, as on Fabric
			t.Fatal(err)
		}
		if w := c.writes["c"]; !w.isDelete {
			t.Fatalf("empty put recorded as %+v", w)
		}
		if got, _ := v.get("a"); string(got) != "old" {
			t.Fatalf("pending write reached the bucket: %q", got)
		}
		if err := c.PutState("", []byte("x")); err == nil {
			t.Fatal("empty key accepted")
		}
		if err := c.PutState(strings.Repeat("k", maxKeyBytes+1), []byte("x")); err == nil {
			t.Fatal("oversized key accepted")
		}
		if c.TxID() != "tx1" {
			t.Fatal("tx id")
		}
		if ts, _ := c.TxTimestamp(); !ts.Equal(time.Unix(100, 5)) {
			t.Fatalf("timestamp %v", ts)
		}
		if id, _ := c.Caller(); id != testID {
			t.Fatalf("caller %+v", id)
		}
		if err := c.SetEvent("", []byte("x")); err == nil {
			t.Fatal("unnamed event accepted")
		}
		if err := c.SetEvent("E", []byte("1")); err != nil || c.eventName != "E" {
			t.Fatalf("SetEvent: %v", err)
		}
		ro := newTxContext(v, false, "tx2", time.Now(), testID)
		if err := ro.PutState("a", []byte("x")); err != errReadOnly {
			t.Fatalf("read-only put: %v", err)
		}
		if err := ro.DelState("a"); err != errReadOnly {
			t.Fatalf("read-only delete: %v", err)
		}
		if err := ro.SetEvent("E", nil); err != errReadOnly {
			t.Fatalf("read-only event: %v", err)
		}
	})
}

func scanAll(t *testing.T, c voucher.Context, typ string, attrs []string, after string) []string {
	t.Helper()
	it, err := c.GetStateByPartialCompositeKey(typ, attrs, after)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		_, parts := voucher.SplitCompositeKey(kv.Key)
		out = append(out, strings.Join(parts, "/")+"="+string(kv.Value))
	}
	if _, err := it.Next(); err == nil {
		t.Fatal("Next past the end succeeded")
	}
	return out
}

func TestContextScanMergesOwnWrites(t *testing.T) {
	ck := voucher.CompositeKey
	committed := map[string]string{
		ck("obj", "a", "1"): "c1", ck("obj", "a", "2"): "c2", ck("obj", "a", "4"): "c4",
		ck("obj", "b", "1"): "cb1", ck("objx", "a", "1"): "other-type", "plain": "p",
	}
	withState(t, committed, func(tx *bolt.Tx, v versionView) {
		c := newTxContext(v, true, "tx", time.Now(), testID)
		for _, step := range []error{
			c.PutState(ck("obj", "a", "3"), []byte("o3")),
			c.DelState(ck("obj", "a", "2")),
			c.PutState(ck("obj", "a", "4"), []byte("o4")),
			c.PutState(ck("obj", "a", "5"), []byte("o5")),
			c.DelState(ck("obj", "a", "9")), // delete of an absent key
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		cases := []struct {
			attrs []string
			after string
			want  []string
		}{
			{[]string{"a"}, "", []string{"a/1=c1", "a/3=o3", "a/4=o4", "a/5=o5"}},
			{[]string{"a"}, ck("obj", "a", "1"), []string{"a/3=o3", "a/4=o4", "a/5=o5"}},
			{[]string{"a"}, ck("obj", "a", "3"), []string{"a/4=o4", "a/5=o5"}},
			{[]string{"a"}, ck("obj", "a", "5"), nil},
			{nil, "", []string{"a/1=c1", "a/3=o3", "a/4=o4", "a/5=o5", "b/1=cb1"}},
			{nil, ck("obj", "a", "4"), []string{"a/5=o5", "b/1=cb1"}},
			{[]string{"c"}, "", nil},
		}
		for _, tc := range cases {
			if got := scanAll(t, c, "obj", tc.attrs, tc.after); !slices.Equal(got, tc.want) {
				t.Errorf("scan obj %v after %q = %v, want %v", tc.attrs, tc.after, got, tc.want)
			}
		}
		if _, err := c.GetStateByPartialCompositeKey("", nil, ""); err == nil {
			t.Error("scan without object type accepted")
		}
	})
}

// TestHistoryEncodingKeepsKeyOrder: escaped history keys sort as their
// state keys do, and decode back.
func TestHistoryEncodingKeepsKeyOrder(t *testing.T) {
	keys := []string{"a", "a\x00", "a\x00b", "a\x01", "ab", "\x00obj\x00x\x00", "\x00obj\x00x\x00y\x00", "\x00obj\x00\xff\x00", "\xff"}
	sort.Strings(keys)
	var enc []string
	for i, k := range keys {
		hk := versionKey([]byte(k), position{Block: uint64(i), Index: 7})
		got, pos, err := splitVersionKey(hk)
		if err != nil || string(got) != k || pos != (position{uint64(i), 7}) {
			t.Fatalf("round trip of %q: %q %v %v", k, got, pos, err)
		}
		enc = append(enc, string(hk[:len(hk)-positionSize]))
	}
	if !sort.StringsAreSorted(enc) {
		t.Fatalf("escaped keys out of order: %q", enc)
	}
	full := versionKey([]byte("\x00obj\x00x\x00y\x00"), position{})
	if !strings.HasPrefix(string(full), string(escapePrefix(nil, []byte("\x00obj\x00x\x00")))) {
		t.Fatal("escaped prefix does not prefix the escaped key")
	}
}

// TestVersionViewMatchesCommittedState drives random puts and deletes
// through the ledger (in single and multi-transaction blocks), then checks
// that the view at every position shows exactly the state a model computed
// from the blocks' events before that position: point reads, prefix scans
// with and without a start key, and histories.
func TestVersionViewMatchesCommittedState(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	keyOf := func() string {
		return voucher.CompositeKey("obj", fmt.Sprint("g", rng.IntN(3)), fmt.Sprint(rng.IntN(5)))
	}
	step := func(i int) (string, testArg) {
		if rng.IntN(3) == 0 {
			return "Del", testArg{K: keyOf()}
		}
		return "Put", testArg{K: keyOf(), V: fmt.Sprint("v", i)}
	}
	for round := range 6 {
		// A held transaction lets a burst queue up behind it: one block.
		gate := fmt.Sprint("gate", round)
		held, release := hold(gate)
		errc := make(chan error, 1)
		go func() {
			_, err := l.Submit(context.Background(), tester, "Hold", mustJSON(testArg{K: gate, V: "x"}))
			errc <- err
		}()
		<-held
		var wg sync.WaitGroup
		burst := 1 + rng.IntN(6)
		for i := range burst {
			fn, a := step(round*100 + i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.Submit(context.Background(), tester, fn, mustJSON(a)); err != nil {
					t.Errorf("submit: %v", err)
				}
			}()
		}
		eventually(t, "burst queued", func() bool { return len(l.queue) == burst })
		release()
		wg.Wait()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			fn, a := step(round*100 + 50 + i)
			if _, err := l.Submit(context.Background(), tester, fn, mustJSON(a)); err != nil {
				t.Fatal(err)
			}
		}
	}

	type change struct {
		pos position
		k   string
		v   string // "" for a delete
	}
	var changes []change
	var positions []position
	for _, b := range allBlocks(t, l) {
		for i, tx := range b.Txs {
			var a testArg
			if err := json.Unmarshal(tx.Event, &a); err != nil {
				t.Fatal(err)
			}
			pos := position{Block: b.Number, Index: uint32(i)}
			positions = append(positions, pos)
			changes = append(changes, change{pos, a.K, a.V})
		}
	}
	info, _ := l.Info(context.Background())
	positions = append(positions, position{Block: info.Height})

	err := l.db.View(func(tx *bolt.Tx) error {
		for _, pos := range positions {
			model := map[string]string{}
			var hist []string
			for _, ch := range changes {
				if ch.pos.less(pos) {
					if ch.v == "" {
						delete(model, ch.k)
					} else {
						model[ch.k] = ch.v
					}
					if ch.k == voucher.CompositeKey("obj", "g0", "0") {
						hist = append(hist, ch.v)
					}
				}
			}
			c := newTxContext(bucketView(tx.Bucket(bucketVersions), pos), true, "r", time.Now(), testID)
			for g := range 3 {
				for n := range 5 {
					k := voucher.CompositeKey("obj", fmt.Sprint("g", g), fmt.Sprint(n))
					got, err := c.GetState(k)
					if err != nil || string(got) != model[k] {
						t.Fatalf("at %+v: %q = %q (%v), model %q", pos, k, got, err, model[k])
					}
				}
			}
			for _, sc := range []struct {
				attrs []string
				after string
			}{{nil, ""}, {[]string{"g1"}, ""}, {nil, voucher.CompositeKey("obj", "g1", "2")}, {[]string{"g2"}, voucher.CompositeKey("obj", "g2", "0")}} {
				var want []string
				prefix := voucher.CompositeKey("obj", sc.attrs...)
				for k, v := range model {
					if strings.HasPrefix(k, prefix) && k > sc.after {
						_, parts := voucher.SplitCompositeKey(k)
						want = append(want, strings.Join(parts, "/")+"="+v)
					}
				}
				sort.Strings(want)
				if got := scanAll(t, c, "obj", sc.attrs, sc.after); !slices.Equal(got, want) {
					t.Fatalf("at %+v: scan %v after %q = %v, model %v", pos, sc.attrs, sc.after, got, want)
				}
			}
			it, err := c.GetHistoryForKey(voucher.CompositeKey("obj", "g0", "0"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				if e.IsDelete != (len(e.Value) == 0) {
					t.Fatalf("history entry %+v", e)
				}
				got = append(got, string(e.Value))
			}
			if !slices.Equal(got, hist) {
				t.Fatalf("at %+v: history %q, model %q", pos, got, hist)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(context.Background(), nil); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
}
