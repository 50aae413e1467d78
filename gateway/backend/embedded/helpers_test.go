package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// The test contract exercises the ledger machinery without the voucher
// rules:
//
//	Put   {"k","v"}           writes k=v, event "Put" = the argument
//	Del   {"k"}               deletes k, event "Del"
//	Fail  {"k","v"}           writes k=v, then rejects with INVALID_STATE
//	Panic {}                  panics
//	Incr  {"k","limit"}       adds one to counter k; CAP_EXCEEDED at limit
//	Hold  {"k","v"}           like Put, but first waits for testGate
//	Create {"k","v"}          writes k=v, ALREADY_EXISTS if k is there: a
//	                          voucher.FreshKeyChecker may take the check over
//	                          (counted in freshDeferred), createUnchecked skips it
//	Get   {"k"}               read-only: the value
//	Scan  {"type","attrs","after"} read-only: the keys and values
//	History {"k"}             read-only: the key's history
type testArg struct {
	K     string   `json:"k,omitempty"`
	V     string   `json:"v,omitempty"`
	Limit int      `json:"limit,omitempty"`
	Type  string   `json:"type,omitempty"`
	Attrs []string `json:"attrs,omitempty"`
	After string   `json:"after,omitempty"`
}

// freshDeferred counts the Create checks a FreshKeyChecker took over;
// createUnchecked makes Create skip its check where it would read (to commit
// what the contract forbids, for Verify to find).
var (
	freshDeferred   atomic.Int64
	createUnchecked atomic.Bool
)

// testGate holds a Hold transaction inside the committer until closed.
var (
	testGateMu sync.Mutex
	testGate   = map[string]chan struct{}{}
	testHeld   = map[string]chan struct{}{}
)

// hold registers a gate for Hold transactions on key k; held is closed when
// the committer reaches it, release lets it go on.
func hold(k string) (held <-chan struct{}, release func()) {
	testGateMu.Lock()
	defer testGateMu.Unlock()
	g, h := make(chan struct{}), make(chan struct{})
	testGate[k], testHeld[k] = g, h
	return h, func() { close(g) }
}

func testReadOnly(fn string) bool { return fn == "Get" || fn == "Scan" || fn == "History" }

func testInvoke(ctx voucher.Context, fn string, raw []byte) ([]byte, error) {
	var a testArg
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, &voucher.Error{Code: voucher.CodeInvalidArgument, Message: err.Error()}
	}
	switch fn {
	case "Hold":
		testGateMu.Lock()
		g, h := testGate[a.K], testHeld[a.K]
		delete(testGate, a.K)
		delete(testHeld, a.K)
		testGateMu.Unlock()
		if h != nil {
			close(h)
			<-g
		}
		fallthrough
	case "Put":
		if err := ctx.PutState(a.K, []byte(a.V)); err != nil {
			return nil, err
		}
		return raw, ctx.SetEvent("Put", raw)
	case "Create":
		if f, ok := ctx.(voucher.FreshKeyChecker); ok && f.DeferFreshCheck(a.K) {
			freshDeferred.Add(1)
		} else if !createUnchecked.Load() {
			b, err := ctx.GetState(a.K)
			if err != nil {
				return nil, err
			}
			if len(b) > 0 {
				return nil, &voucher.Error{Code: voucher.CodeAlreadyExists, Message: a.K + " exists"}
			}
		}
		if err := ctx.PutState(a.K, []byte(a.V)); err != nil {
			return nil, err
		}
		return raw, ctx.SetEvent("Create", raw)
	case "Del":
		if err := ctx.DelState(a.K); err != nil {
			return nil, err
		}
		return raw, ctx.SetEvent("Del", raw)
	case "Fail":
		if err := ctx.PutState(a.K, []byte(a.V)); err != nil {
			return nil, err
		}
		_ = ctx.SetEvent("Fail", raw)
		return nil, &voucher.Error{Code: voucher.CodeInvalidState, Message: "refused on purpose"}
	case "Panic":
		panic("test panic")
	case "Incr":
		b, err := ctx.GetState(a.K)
		if err != nil {
			return nil, err
		}
		n := 0
		if len(b) > 0 {
			n, _ = strconv.Atoi(string(b))
		}
		if n >= a.Limit {
			return nil, &voucher.Error{Code: voucher.CodeCapExceeded, Message: "limit reached"}
		}
		if err := ctx.PutState(a.K, []byte(strconv.Itoa(n+1))); err != nil {
			return nil, err
		}
		ts, _ := ctx.TxTimestamp()
		return []byte(strconv.Itoa(n + 1)), ctx.SetEvent("Incr", []byte(ts.Format(time.RFC3339Nano)))
	case "Get":
		b, err := ctx.GetState(a.K)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "Scan":
		it, err := ctx.GetStateByPartialCompositeKey(a.Type, a.Attrs, a.After)
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var out []voucher.KV
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				return nil, err
			}
			out = append(out, kv)
		}
		return json.Marshal(out)
	case "History":
		it, err := ctx.GetHistoryForKey(a.K)
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var out []voucher.HistoryEntry
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return json.Marshal(out)
	}
	return nil, &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "unknown " + fn}
}

var quiet = slog.New(slog.DiscardHandler)

var tester = backend.Caller{Name: "tester", Role: voucher.RoleSciTech}

func openTest(t testing.TB, dir string, opts ...Option) *Ledger {
	t.Helper()
	opts = append([]Option{withInvoker(testInvoke, testReadOnly), WithMmapSize(64 << 20), WithLogger(quiet)}, opts...)
	l, err := Open(context.Background(), dir, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func put(t testing.TB, l *Ledger, k, v string) backend.Receipt {
	t.Helper()
	r, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: k, V: v}))
	if err != nil {
		t.Fatalf("put %q: %v", k, err)
	}
	return r
}

func get(t testing.TB, l *Ledger, k string) string {
	t.Helper()
	b, err := l.Evaluate(context.Background(), tester, "Get", mustJSON(testArg{K: k}))
	if err != nil {
		t.Fatalf("get %q: %v", k, err)
	}
	return string(b)
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// allBlocks reads blocks 0..height-1 through Blocks.
func allBlocks(t testing.TB, l *Ledger) []backend.Block {
	t.Helper()
	info, err := l.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, errf := l.Blocks(ctx, 0)
	var out []backend.Block
	for b := range ch {
		out = append(out, b)
		if uint64(len(out)) == info.Height {
			cancel()
			break
		}
	}
	for range ch {
	}
	if err := errf(); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	return out
}

func codeOf(err error) voucher.Code { return voucher.CodeOf(err) }

// usccAlphabet and the weights are GB 32100-2015's (see DOMAIN.md).
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// makeUSCC builds a valid Urumqi USCC from n.
func makeUSCC(n int) string {
	body := fmt.Sprintf("%08d", n%100000000)
	orgW := []int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		sum += int(body[i]-'0') * orgW[i]
	}
	var org string
	switch c := 11 - sum%11; c {
	case 10:
		org = "X"
	case 11:
		org = "0"
	default:
		org = strconv.Itoa(c)
	}
	s := "91650104" + body + org
	w := []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum = 0
	for i := 0; i < 17; i++ {
		for j := 0; j < len(usccAlphabet); j++ {
			if usccAlphabet[j] == s[i] {
				sum += j * w[i]
			}
		}
	}
	return s + string(usccAlphabet[(31-sum%31)%31])
}
