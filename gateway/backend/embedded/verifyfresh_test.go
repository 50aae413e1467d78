package embedded

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

func freshKey(id string) string { return voucher.CompositeKey(voucher.FreshKeyTypes()[0], id) }

// The replay defers the checks of fresh keys and the ledger still verifies,
// a key deleted and created again included (its deferred check is not first
// among its key's entries, so its block replays again with reads).
func TestVerifyDefersFreshKeyChecks(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	submit := func(fn string, a testArg) {
		t.Helper()
		if _, err := l.Submit(ctx, tester, fn, mustJSON(a)); err != nil {
			t.Fatalf("%s %s: %v", fn, a.K, err)
		}
	}
	for i := range 40 {
		submit("Create", testArg{K: freshKey(fmt.Sprint("v", i)), V: strings.Repeat("x", 300)})
	}
	submit("Put", testArg{K: freshKey("v3"), V: "changed"})
	submit("Del", testArg{K: freshKey("v5")})
	submit("Create", testArg{K: freshKey("v5"), V: "again"})
	if _, err := l.Submit(ctx, tester, "Create", mustJSON(testArg{K: freshKey("v7"), V: "dup"})); err == nil {
		t.Fatal("a second Create of v7 committed")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	before := freshDeferred.Load()
	if res := verifyDir(t, dir); !res.OK {
		t.Fatalf("verify: bad block %v: %s", res.FirstBadBlock, res.Detail)
	}
	if n := freshDeferred.Load() - before; n < 41 {
		t.Fatalf("the replay deferred %d fresh-key checks, want all 41", n)
	}
}

// A transaction that created a key already there (committed past its check,
// as a forged block would be) is the first bad block, though the state holds
// exactly what the blocks wrote.
func TestVerifyFindsAFreshKeyThatWasTaken(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	for i := range 10 {
		if _, err := l.Submit(ctx, tester, "Create", mustJSON(testArg{K: freshKey(fmt.Sprint("v", i)), V: "first"})); err != nil {
			t.Fatal(err)
		}
	}
	createUnchecked.Store(true)
	r, err := l.Submit(ctx, tester, "Create", mustJSON(testArg{K: freshKey("v4"), V: "second"}))
	createUnchecked.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := l.Submit(ctx, tester, "Put", mustJSON(testArg{K: fmt.Sprint("k", i), V: "after"})); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res := verifyDir(t, dir)
	if res.OK || res.FirstBadBlock == nil || *res.FirstBadBlock != r.BlockNumber {
		t.Fatalf("verify: ok %v, first bad block %v, want %d: %s", res.OK, res.FirstBadBlock, r.BlockNumber, res.Detail)
	}
	if !strings.Contains(res.Detail, "rejects") {
		t.Fatalf("detail %q does not say the replay rejects it", res.Detail)
	}
}

// Past its bound the log gives up, and every block that deferred a check
// is replayed again.
func TestFreshLogOverflowReplaysEveryDeferringBlock(t *testing.T) {
	f := newFreshChecks()
	l := &freshLog{f: f}
	k := freshKey("a")
	for n := range uint64(3) {
		l.begin(n)
		var deferred []string
		if n != 1 {
			deferred = []string{k + fmt.Sprint(n)}
		}
		l.add(0, nil, deferred)
		l.done()
	}
	if s := f.suspects(); len(s) != 0 {
		t.Fatalf("suspects %v, want none", s)
	}
	f.overflow.Store(true)
	if s := f.suspects(); fmt.Sprint(s) != "[0 2]" {
		t.Fatalf("suspects after overflow %v, want [0 2]", s)
	}
}
