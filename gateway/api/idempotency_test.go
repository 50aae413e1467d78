package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

func rejectReq(key, reason string) req {
	return req{method: "POST", path: "/v1/vouchers/V-2024-A1/reject", as: "fin",
		body: map[string]string{"reason": reason}, header: map[string]string{HeaderIdempotencyKey: key}}
}

// countingReject makes Reject answer with a counter, so a replay is told
// apart from a second run.
func countingReject(h *harness) *atomic.Int64 {
	var n atomic.Int64
	h.be.handle("Reject", func(backend.Caller, []byte) ([]byte, error) {
		return []byte(fmt.Sprintf(`{"run":%d}`, n.Add(1))), nil
	})
	return &n
}

func TestIdempotentReplay(t *testing.T) {
	h := newHarness(t)
	runs := countingReject(h)
	first := h.do(rejectReq("key-1", "r"))
	wantStatus(t, first, 200)
	if first.Header().Get(HeaderReplayed) != "" {
		t.Fatal("first answer marked replayed")
	}
	again := h.do(rejectReq("key-1", "r"))
	wantStatus(t, again, 200)
	if again.Body.String() != first.Body.String() || again.Header().Get(HeaderReplayed) != "true" ||
		again.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("replay %q %v, first %q", again.Body, again.Header(), first.Body)
	}
	if runs.Load() != 1 || len(h.be.callsOf("Reject")) != 1 {
		t.Fatalf("ledger ran %d times", runs.Load())
	}
	// The same key with another body: refused, nothing runs.
	wantProblem(t, h.do(rejectReq("key-1", "another reason")), http.StatusUnprocessableEntity, CodeIdempotencyKeyReused)
	// The same key on another route is another request too.
	rec := h.do(req{method: "POST", path: "/v1/vouchers/V-2024-B1/reject", as: "fin",
		body: map[string]string{"reason": "r"}, header: map[string]string{HeaderIdempotencyKey: "key-1"}})
	wantProblem(t, rec, http.StatusUnprocessableEntity, CodeIdempotencyKeyReused)
	// Keys belong to a principal: another principal's same key is fresh.
	h.tokens["fin2"], _ = h.token(principal("fin2", voucher.RoleFinance))
	rec = h.do(req{method: "POST", path: "/v1/vouchers/V-2024-A1/reject", as: "fin2",
		body: map[string]string{"reason": "r"}, header: map[string]string{HeaderIdempotencyKey: "key-1"}})
	wantStatus(t, rec, 200)
	if runs.Load() != 2 {
		t.Fatalf("ledger ran %d times, want 2", runs.Load())
	}
	// A new key runs again.
	wantStatus(t, h.do(rejectReq("key-2", "r")), 200)
	if runs.Load() != 3 {
		t.Fatalf("ledger ran %d times, want 3", runs.Load())
	}
	// No key: every request runs.
	wantStatus(t, h.do(req{method: "POST", path: "/v1/vouchers/V-2024-A1/reject", as: "fin", body: map[string]string{"reason": "r"}}), 200)
	if runs.Load() != 4 {
		t.Fatalf("ledger ran %d times, want 4", runs.Load())
	}
}

func TestIdempotentRejectionsAreKept(t *testing.T) {
	h := newHarness(t)
	var n atomic.Int64
	h.be.handle("Reject", func(backend.Caller, []byte) ([]byte, error) {
		n.Add(1)
		return nil, &voucher.Error{Code: voucher.CodeInvalidState, Message: "already rejected"}
	})
	first := h.do(rejectReq("k", "r"))
	wantProblem(t, first, http.StatusConflict, voucher.CodeInvalidState)
	again := h.do(rejectReq("k", "r"))
	wantProblem(t, again, http.StatusConflict, voucher.CodeInvalidState)
	if again.Body.String() != first.Body.String() || again.Header().Get(HeaderReplayed) != "true" || n.Load() != 1 {
		t.Fatalf("4xx not replayed: runs %d", n.Load())
	}
}

func TestIdempotentServerFaultsAreNotKept(t *testing.T) {
	h := newHarness(t)
	var n atomic.Int64
	h.be.handle("Reject", func(backend.Caller, []byte) ([]byte, error) {
		if n.Add(1) == 1 {
			return nil, backend.ErrUnavailable
		}
		return []byte(`{"ok":"second"}`), nil
	})
	wantProblem(t, h.do(rejectReq("k", "r")), http.StatusServiceUnavailable, CodeUnavailable)
	rec := h.do(rejectReq("k", "r"))
	wantStatus(t, rec, 200)
	if rec.Header().Get(HeaderReplayed) != "" || n.Load() != 2 {
		t.Fatalf("a 503 was replayed instead of retried (runs %d)", n.Load())
	}
}

// TestIdempotentConcurrentDuplicates holds the first request inside the
// ledger while duplicates arrive: they wait, then all get the first answer;
// a different body under the same key is refused at once.
func TestIdempotentConcurrentDuplicates(t *testing.T) {
	h := newHarness(t)
	runs := countingReject(h)
	h.be.gate = make(chan struct{})
	const dups = 8
	recs := make([]*httptest.ResponseRecorder, dups)
	var wg sync.WaitGroup
	for i := range dups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = h.do(rejectReq("same", "r"))
		}()
	}
	// Wait until one request holds the key and the others queue behind it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.api.idem.mu.Lock()
		inflight := len(h.api.idem.inflight)
		h.api.idem.mu.Unlock()
		if inflight == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request took the key")
		}
		time.Sleep(time.Millisecond)
	}
	// Same key, another body, while the first is in flight: 422 at once.
	wantProblem(t, h.do(rejectReq("same", "other")), http.StatusUnprocessableEntity, CodeIdempotencyKeyReused)
	close(h.be.gate) // let the ledger answer
	wg.Wait()
	replayed := 0
	for _, rec := range recs {
		wantStatus(t, rec, 200)
		if rec.Body.String() != `{"run":1}` {
			t.Fatalf("answer %s, want the first run's", rec.Body)
		}
		if rec.Header().Get(HeaderReplayed) == "true" {
			replayed++
		}
	}
	if runs.Load() != 1 || replayed != dups-1 {
		t.Fatalf("runs %d, replayed %d", runs.Load(), replayed)
	}
}

// TestIdempotencyDurableAndExpiring reopens the API over the same database:
// the answer is still replayed; after the expiry it runs again.
func TestIdempotencyDurableAndExpiring(t *testing.T) {
	path := t.TempDir() + "/gateway.db"
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, db, WithClock(clock), WithIdempotency(time.Hour, 100))
	countingReject(h)
	first := h.do(rejectReq("durable", "r"))
	wantStatus(t, first, 200)
	h.api.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db2, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db2.Close() })
	a2, err := New(Deps{Backend: h.be, Reads: h.reads, Principals: mustStore(t, db2), DB: db2},
		WithClock(clock), WithIdempotency(time.Hour, 100), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a2.Close)
	h.api = a2
	// The principals of the first harness live in the same file.
	rec := h.do(rejectReq("durable", "r"))
	wantStatus(t, rec, 200)
	if rec.Header().Get(HeaderReplayed) != "true" || rec.Body.String() != first.Body.String() {
		t.Fatalf("not replayed after restart: %s %v", rec.Body, rec.Header())
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	rec = h.do(rejectReq("durable", "r"))
	wantStatus(t, rec, 200)
	if rec.Header().Get(HeaderReplayed) != "" || rec.Body.String() == first.Body.String() {
		t.Fatalf("replayed after expiry: %s", rec.Body)
	}
}

// TestIdempotencyBounded stores more answers than the cap: the oldest go.
func TestIdempotencyBounded(t *testing.T) {
	h := newHarness(t, WithIdempotency(time.Hour, 3))
	countingReject(h)
	for i := range 6 {
		wantStatus(t, h.do(rejectReq(fmt.Sprintf("k%d", i), "r")), 200)
	}
	var n int
	if err := h.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketIdem).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d answers stored, cap 3", n)
	}
	// The newest is still replayed, the oldest runs again.
	if rec := h.do(rejectReq("k5", "r")); rec.Header().Get(HeaderReplayed) != "true" {
		t.Fatal("newest answer evicted")
	}
	if rec := h.do(rejectReq("k0", "r")); rec.Header().Get(HeaderReplayed) != "" {
		t.Fatal("oldest answer kept beyond the cap")
	}
}

// TestPrincipalAnswersAreNotKept: the answer with a token is never stored.
func TestPrincipalAnswersAreNotKept(t *testing.T) {
	h := newHarness(t)
	r := req{method: "POST", path: "/v1/principals", as: "admin",
		body: map[string]string{"name": "new-auditor", "role": "auditor"}, header: map[string]string{HeaderIdempotencyKey: "p1"}}
	first := h.do(r)
	wantStatus(t, first, 201)
	token := decode[createdPrincipal](t, first).Token
	err := h.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIdem).ForEach(func(k, v []byte) error {
			return errors.New("stored: " + string(v))
		})
	})
	if err != nil {
		t.Fatalf("a principal answer was stored (token %s...): %v", token[:4], err)
	}
	wantProblem(t, h.do(r), http.StatusConflict, voucher.CodeAlreadyExists)
}
