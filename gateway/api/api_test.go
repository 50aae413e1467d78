package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	for name, header := range map[string]string{
		"missing": "",
		"unknown": "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"garbage": "Bearer x",
		"basic":   "Basic YWRtaW46YWRtaW4=",
	} {
		t.Run(name, func(t *testing.T) {
			rec := h.do(req{method: "GET", path: "/v1/whoami", header: map[string]string{"Authorization": header}})
			wantProblem(t, rec, http.StatusUnauthorized, CodeUnauthenticated)
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// A revoked principal is refused at once.
	if _, err := h.store.Revoke("aud"); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, h.do(req{method: "GET", path: "/v1/whoami", as: "aud"}), http.StatusUnauthorized, CodeUnauthenticated)
	// Unauthenticated writes never reach the ledger.
	wantProblem(t, h.do(req{method: "POST", path: "/v1/claims", body: map[string]string{}}), http.StatusUnauthorized, CodeUnauthenticated)
	if n := len(h.be.callsOf("")); n != 0 {
		t.Fatalf("%d ledger calls from unauthenticated requests", n)
	}
}

func TestRolesForbidden(t *testing.T) {
	h := newHarness(t)
	h.seed()
	cases := []struct{ as, method, path string }{
		{"ag-a", "POST", "/v1/agencies"},
		{"fin", "POST", "/v1/agencies"},
		{"aud", "POST", "/v1/agencies/" + agencyA + "/suspend"},
		{"fin", "PUT", "/v1/policy"},
		{"ag-a", "POST", "/v1/certifications"},
		{"admin", "POST", "/v1/service-records"},
		{"admin", "POST", "/v1/claims"},
		{"fin", "POST", "/v1/claims"},
		{"aud", "POST", "/v1/claims"},
		{"fin", "POST", "/v1/vouchers/V-2024-A1/redeem"},
		{"ag-a", "POST", "/v1/vouchers/V-2024-A1/reimburse"},
		{"admin", "POST", "/v1/vouchers/V-2024-A1/reject"},
		{"fin", "POST", "/v1/vouchers/V-2024-A1/revoke"},
		{"ag-a", "GET", "/v1/principals"},
		{"fin", "POST", "/v1/principals"},
		{"aud", "DELETE", "/v1/principals/fin"},
		{"ag-a", "GET", "/v1/ledger/verify"},
		{"admin", "GET", "/v1/ledger/verify"},
	}
	for _, c := range cases {
		rec := h.do(req{method: c.method, path: c.path, as: c.as, body: map[string]string{}})
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s %s as %s: status %d, want 403; %s", c.method, c.path, c.as, rec.Code, rec.Body)
			continue
		}
		wantProblem(t, rec, http.StatusForbidden, voucher.CodeForbidden)
	}
	if n := len(h.be.callsOf("")); n != 0 {
		t.Fatalf("%d ledger calls from forbidden requests", n)
	}
}

// TestWritesReachTheLedger checks each write route's status, the
// transaction it submits, its argument (ids from the path, never the body)
// and the caller, and that the answer waited for the read model.
func TestWritesReachTheLedger(t *testing.T) {
	h := newHarness(t)
	h.seed()
	reason := map[string]string{"reason": "evidence"}
	cases := []struct {
		as, method, path string
		body             any
		status           int
		fn               string
		arg              map[string]any
	}{
		{"admin", "POST", "/v1/agencies", map[string]string{"id": agencyA, "name": "A", "kind": "incubator"}, 201,
			"RegisterAgency", map[string]any{"id": agencyA, "name": "A", "kind": "incubator"}},
		{"admin", "POST", "/v1/agencies/" + agencyA + "/suspend", reason, 200, "SuspendAgency", map[string]any{"id": agencyA, "reason": "evidence"}},
		{"admin", "POST", "/v1/agencies/" + agencyA + "/reinstate", reason, 200, "ReinstateAgency", map[string]any{"id": agencyA, "reason": "evidence"}},
		{"admin", "PUT", "/v1/policy", map[string]any{"unit_reward": "6000.00", "cap_per_agency": "120000.00", "cap_scope": "year",
			"window_from": "2026-03-01", "window_to": "2029-02-28"}, 200, "SetPolicy",
			map[string]any{"unit_reward": "6000.00", "cap_per_agency": "120000.00", "cap_scope": "year", "window_from": "2026-03-01", "window_to": "2029-02-28"}},
		{"admin", "POST", "/v1/certifications", map[string]string{"enterprise_id": enterprise1, "enterprise_name": "E", "certificate_no": "GR202465000009",
			"issued_on": "2024-06-01", "kind": "first"}, 201, "RecordCertification",
			map[string]any{"enterprise_id": enterprise1, "enterprise_name": "E", "certificate_no": "GR202465000009", "issued_on": "2024-06-01", "kind": "first"}},
		{"ag-a", "POST", "/v1/service-records", map[string]string{"enterprise_id": enterprise1, "contract_ref": "C-1", "started_on": "2024-01-02",
			"evidence_sha256": strings.Repeat("ab", 32)}, 201, "RecordService",
			map[string]any{"enterprise_id": enterprise1, "contract_ref": "C-1", "started_on": "2024-01-02", "evidence_sha256": strings.Repeat("ab", 32)}},
		{"ag-a", "POST", "/v1/claims", map[string]string{"enterprise_id": enterprise1, "certificate_no": "GR202465000001"}, 201, "Claim",
			map[string]any{"enterprise_id": enterprise1, "certificate_no": "GR202465000001"}},
		{"ag-a", "POST", "/v1/vouchers/V-2024-A1/redeem", nil, 200, "Redeem", map[string]any{"id": "V-2024-A1"}},
		{"fin", "POST", "/v1/vouchers/V-2024-A1/reimburse", map[string]string{"payment_ref": "GK-1", "amount": "5000.00", "paid_on": "2024-09-01"},
			200, "Reimburse", map[string]any{"id": "V-2024-A1", "payment_ref": "GK-1", "amount": "5000.00", "paid_on": "2024-09-01"}},
		{"fin", "POST", "/v1/vouchers/V-2024-B1/reject", reason, 200, "Reject", map[string]any{"id": "V-2024-B1", "reason": "evidence"}},
		{"admin", "POST", "/v1/vouchers/V-2024-B1/revoke", reason, 200, "Revoke", map[string]any{"id": "V-2024-B1", "reason": "evidence"}},
	}
	for _, c := range cases {
		t.Run(c.fn, func(t *testing.T) {
			h.be.handle(c.fn, func(backend.Caller, []byte) ([]byte, error) {
				return []byte(`{"id":"X-1","answer":"` + c.fn + `"}`), nil
			})
			before := len(h.be.callsOf(""))
			rec := h.do(req{method: c.method, path: c.path, as: c.as, body: c.body})
			wantStatus(t, rec, c.status)
			if got := decode[map[string]string](t, rec)["answer"]; got != c.fn {
				t.Fatalf("answer is not the contract's payload: %s", rec.Body)
			}
			calls := h.be.callsOf("")
			if len(calls) != before+1 {
				t.Fatalf("%d ledger calls, want 1", len(calls)-before)
			}
			got := calls[len(calls)-1]
			if got.fn != c.fn || fmt.Sprint(got.arg) != fmt.Sprint(c.arg) {
				t.Fatalf("submitted %s %v, want %s %v", got.fn, got.arg, c.fn, c.arg)
			}
			p, _, _ := h.store.Get(c.as)
			if got.caller != p.Caller() {
				t.Fatalf("caller %+v, want %+v", got.caller, p.Caller())
			}
			h.reads.mu.Lock()
			waited := h.reads.waited
			h.reads.mu.Unlock()
			if len(waited) == 0 || waited[len(waited)-1] != h.be.block {
				t.Fatalf("answered without waiting for block %d (waited %v)", h.be.block, waited)
			}
		})
	}
}

func TestReads(t *testing.T) {
	h := newHarness(t)
	h.seed()
	rec := h.do(req{method: "GET", path: "/v1/agencies", as: "aud"})
	wantStatus(t, rec, 200)
	if page := decode[voucher.Page[voucher.AgencyView]](t, rec); len(page.Items) != 2 {
		t.Fatalf("auditor sees %d agencies", len(page.Items))
	}
	rec = h.do(req{method: "GET", path: "/v1/agencies/" + agencyB, as: "fin"})
	wantStatus(t, rec, 200)
	if ag := decode[voucher.AgencyView](t, rec); ag.ID != agencyB {
		t.Fatalf("agency %+v", ag)
	}
	rec = h.do(req{method: "GET", path: "/v1/agencies/" + agencyA + "/cap?period=2024", as: "ag-a"})
	wantStatus(t, rec, 200)
	if u := decode[voucher.CapUsage](t, rec); u.AgencyID != agencyA || u.Period != "2024" || u.LimitCNY != "100000.00" || u.RemainingCNY != "100000.00" {
		t.Fatalf("cap %+v", u)
	}
	rec = h.do(req{method: "GET", path: "/v1/policy", as: "ag-b"})
	wantStatus(t, rec, 200)
	if p := decode[voucher.Policy](t, rec); p.UnitRewardCNY != "5000.00" {
		t.Fatalf("policy %+v", p)
	}
	rec = h.do(req{method: "GET", path: "/v1/vouchers?status=issued&period=2024&limit=1", as: "admin"})
	wantStatus(t, rec, 200)
	page := decode[voucher.Page[voucher.Voucher]](t, rec)
	if len(page.Items) != 1 || page.NextCursor == "" {
		t.Fatalf("first page %+v", page)
	}
	rec = h.do(req{method: "GET", path: "/v1/vouchers?status=issued&period=2024&limit=1&cursor=" + page.NextCursor, as: "admin"})
	wantStatus(t, rec, 200)
	page2 := decode[voucher.Page[voucher.Voucher]](t, rec)
	if len(page2.Items) != 1 || page2.Items[0].ID == page.Items[0].ID || page2.NextCursor != "" {
		t.Fatalf("second page %+v after %+v", page2, page)
	}
	rec = h.do(req{method: "GET", path: "/v1/vouchers/V-2024-A1", as: "ag-a"})
	wantStatus(t, rec, 200)
	if v := decode[voucher.Voucher](t, rec); v.ID != "V-2024-A1" || v.AmountCNY != "5000.00" {
		t.Fatalf("voucher %+v", v)
	}
	rec = h.do(req{method: "GET", path: "/v1/vouchers/V-2024-A1/history", as: "aud"})
	wantStatus(t, rec, 200)
	if hist := decode[[]voucher.HistoryItem](t, rec); len(hist) != 1 || hist[0].Action != "Claim" {
		t.Fatalf("history %+v", hist)
	}
	rec = h.do(req{method: "GET", path: "/v1/whoami", as: "ag-b"})
	wantStatus(t, rec, 200)
	if p := decode[auth.Principal](t, rec); p.Name != "ag-b" || p.AgencyID != agencyB || p.Role != voucher.RoleAgency {
		t.Fatalf("whoami %+v", p)
	}
	rec = h.do(req{method: "GET", path: "/v1/ledger/verify", as: "aud"})
	wantStatus(t, rec, 200)
	if v := decode[backend.VerifyResult](t, rec); !v.OK {
		t.Fatalf("verify %+v", v)
	}
	wantProblem(t, h.do(req{method: "GET", path: "/v1/vouchers/V-NOPE", as: "admin"}), 404, voucher.CodeNotFound)
	wantStatus(t, h.do(req{method: "GET", path: "/v1/agencies/" + agencyB + "/cap?period=program", as: "admin"}), 200)
}

func TestAgencyIsolation(t *testing.T) {
	h := newHarness(t)
	h.seed()
	// Another agency's voucher, agency and cap are absent, never shown.
	for _, path := range []string{
		"/v1/vouchers/V-2024-B1",
		"/v1/vouchers/V-2024-B1/history",
		"/v1/agencies/" + agencyB,
		"/v1/agencies/" + agencyB + "/cap?period=2024",
	} {
		rec := h.do(req{method: "GET", path: path, as: "ag-a"})
		p := wantProblem(t, rec, http.StatusNotFound, voucher.CodeNotFound)
		if strings.Contains(rec.Body.String(), enterprise2) || p.Details != nil {
			t.Fatalf("%s leaks data: %s", path, rec.Body)
		}
	}
	// Lists hold only the caller's own.
	rec := h.do(req{method: "GET", path: "/v1/vouchers", as: "ag-a"})
	wantStatus(t, rec, 200)
	page := decode[voucher.Page[voucher.Voucher]](t, rec)
	if len(page.Items) != 1 || page.Items[0].AgencyID != agencyA {
		t.Fatalf("agency A lists %+v", page.Items)
	}
	rec = h.do(req{method: "GET", path: "/v1/vouchers?agency_id=" + agencyB, as: "ag-a"})
	wantStatus(t, rec, 200)
	if page := decode[voucher.Page[voucher.Voucher]](t, rec); len(page.Items) != 0 {
		t.Fatalf("agency A lists B's vouchers: %+v", page.Items)
	}
	rec = h.do(req{method: "GET", path: "/v1/agencies", as: "ag-a"})
	wantStatus(t, rec, 200)
	if page := decode[voucher.Page[voucher.AgencyView]](t, rec); len(page.Items) != 1 || page.Items[0].ID != agencyA {
		t.Fatalf("agency A lists agencies %+v", page.Items)
	}
	// Redeeming another agency's voucher is NOT_FOUND and writes nothing.
	wantProblem(t, h.do(req{method: "POST", path: "/v1/vouchers/V-2024-B1/redeem", as: "ag-a"}), http.StatusNotFound, voucher.CodeNotFound)
	if n := len(h.be.callsOf("")); n != 0 {
		t.Fatalf("%d ledger calls", n)
	}
}

// TestErrorTable drives every code through a write and checks the status,
// the problem document and, for server faults, the single log line.
func TestErrorTable(t *testing.T) {
	h := newHarness(t)
	h.seed()
	var next error
	h.be.handle("Reject", func(backend.Caller, []byte) ([]byte, error) { return nil, next })
	send := func() *httptest.ResponseRecorder {
		return h.do(req{method: "POST", path: "/v1/vouchers/V-2024-A1/reject", as: "fin", body: map[string]string{"reason": "r"}})
	}
	for code, ci := range codeTable {
		next = &voucher.Error{Code: code, Message: "m " + string(code), Details: map[string]string{"remaining": "0.00"}}
		rec := send()
		p := wantProblem(t, rec, ci.status, code)
		if p.Instance != "/v1/vouchers/V-2024-A1/reject" || p.Type != problemType(code) {
			t.Errorf("%s: problem %+v", code, p)
		}
		if code == voucher.CodeCapExceeded && p.Remaining != "0.00" {
			t.Errorf("CAP_EXCEEDED without remaining: %+v", p)
		}
		if code != voucher.CodeCapExceeded && p.Remaining != "" {
			t.Errorf("%s carries remaining", code)
		}
	}
	// Transport failures.
	next = fmt.Errorf("dial: %w", backend.ErrUnavailable)
	rec := send()
	wantProblem(t, rec, http.StatusServiceUnavailable, CodeUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// A real fault: 500, no internals in the answer, one error log line.
	next = errors.New("disk on fire at /secret/path")
	rec = send()
	p := wantProblem(t, rec, http.StatusInternalServerError, voucher.CodeInternal)
	if strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("500 leaks internals: %s", rec.Body)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "disk on fire") {
			n++
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line["request_id"] != p.RequestID || line["level"] != "ERROR" {
				t.Fatalf("fault log line %s", sc.Text())
			}
		}
	}
	if n != 1 {
		t.Fatalf("fault logged %d times, want once", n)
	}
	// An unknown code from a backend is a server fault, not a guess.
	next = &voucher.Error{Code: "SOMETHING_NEW", Message: "?"}
	wantProblem(t, send(), http.StatusInternalServerError, voucher.CodeInternal)
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newHarness(t)
	wantProblem(t, h.do(req{method: "GET", path: "/v1/nothing", as: "admin"}), http.StatusNotFound, voucher.CodeNotFound)
	wantProblem(t, h.do(req{method: "GET", path: "/v1/vouchers/", as: "admin"}), http.StatusNotFound, voucher.CodeNotFound)
	rec := h.do(req{method: "DELETE", path: "/v1/claims", as: "admin"})
	wantProblem(t, rec, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "POST") {
		t.Fatalf("Allow = %q", allow)
	}
	wantProblem(t, h.do(req{method: "PATCH", path: "/v1/policy", as: "admin"}), http.StatusMethodNotAllowed, CodeMethodNotAllowed)
}

func TestPublicRoutes(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(req{method: "GET", path: "/healthz"}), 200)
	rec := h.do(req{method: "GET", path: "/readyz"})
	wantStatus(t, rec, 200)
	if r := decode[map[string]any](t, rec); r["status"] != "ready" {
		t.Fatalf("readyz %v", r)
	}
	// The read model behind the ledger and not catching up within the
	// probe's time: not ready.
	h.be.mu.Lock()
	h.be.block = 5
	h.be.mu.Unlock()
	h.reads.mu.Lock()
	h.reads.waitErr = context.DeadlineExceeded
	h.reads.waited = nil
	h.reads.mu.Unlock()
	wantProblem(t, h.do(req{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable, CodeUnavailable)
	// Behind but catching up within the probe (a busy ledger): ready, after
	// waiting for the head the probe saw (block 5).
	h.reads.mu.Lock()
	h.reads.waitErr = nil
	h.reads.mu.Unlock()
	wantStatus(t, h.do(req{method: "GET", path: "/readyz"}), 200)
	h.reads.mu.Lock()
	if !slices.Equal(h.reads.waited, []uint64{5, 5}) {
		t.Fatalf("readyz waited for blocks %v, want [5 5]", h.reads.waited)
	}
	h.reads.height = 6
	h.reads.waited = nil
	h.reads.mu.Unlock()
	wantStatus(t, h.do(req{method: "GET", path: "/readyz"}), 200)
	h.reads.mu.Lock()
	if len(h.reads.waited) != 0 {
		t.Fatalf("readyz waited for %v with the read model caught up", h.reads.waited)
	}
	h.reads.mu.Unlock()
	// The ledger unreachable: not ready.
	h.be.mu.Lock()
	h.be.infoErr = backend.ErrUnavailable
	h.be.mu.Unlock()
	wantProblem(t, h.do(req{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable, CodeUnavailable)

	rec = h.do(req{method: "GET", path: "/openapi.yaml"})
	wantStatus(t, rec, 200)
	if !strings.HasPrefix(rec.Body.String(), "openapi: 3.1") {
		t.Fatalf("openapi.yaml starts %q", rec.Body.String()[:20])
	}
	rec = h.do(req{method: "GET", path: "/metrics"})
	wantStatus(t, rec, 200)
	for _, series := range []string{
		`hongshan_http_requests_total{method="GET",route="/readyz",status="503"} 2`,
		"hongshan_http_request_duration_seconds_bucket",
		"hongshan_ledger_block_height 6",
		"hongshan_projection_block_height 6",
	} {
		if !strings.Contains(rec.Body.String(), series) {
			t.Errorf("metrics lack %q", series)
		}
	}
}

func TestCommitMetricsAndHeight(t *testing.T) {
	h := newHarness(t)
	h.seed()
	wantStatus(t, h.do(req{method: "POST", path: "/v1/vouchers/V-2024-A1/redeem", as: "ag-a"}), 200)
	rec := h.do(req{method: "GET", path: "/metrics"})
	for _, series := range []string{
		`hongshan_ledger_commit_duration_seconds_count{fn="Redeem",outcome="committed"} 1`,
		"hongshan_ledger_block_height 2",
		`hongshan_http_requests_total{method="POST",route="/v1/vouchers/:id/redeem",status="200"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), series) {
			t.Errorf("metrics lack %q", series)
		}
	}
}

func TestRequestIDAndAccessLog(t *testing.T) {
	h := newHarness(t)
	rec := h.do(req{method: "GET", path: "/v1/whoami", as: "fin", header: map[string]string{HeaderRequestID: "abc-123"}})
	if rec.Header().Get(HeaderRequestID) != "abc-123" {
		t.Fatalf("sane request id not kept: %q", rec.Header().Get(HeaderRequestID))
	}
	rec = h.do(req{method: "GET", path: "/v1/whoami", header: map[string]string{HeaderRequestID: "bad id\twith spaces"}})
	p := problemOf(t, rec)
	if rid := rec.Header().Get(HeaderRequestID); rid == "" || strings.ContainsAny(rid, " \t") || rid != p.RequestID {
		t.Fatalf("insane request id kept or not echoed: %q vs %q", rid, p.RequestID)
	}
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 2 requests:\n%s", len(lines), h.logs.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["request_id"] != "abc-123" || first["route"] != "/v1/whoami" || first["status"] != float64(200) ||
		first["principal"] != "fin" || first["method"] != "GET" {
		t.Fatalf("access line %v", first)
	}
	if strings.Contains(h.logs.String(), h.tokens["fin"]) {
		t.Fatal("a token reached the log")
	}
}

func TestPrincipalsRoutes(t *testing.T) {
	h := newHarness(t)
	rec := h.do(req{method: "POST", path: "/v1/principals", as: "admin",
		body: map[string]string{"name": "ag-c", "role": "agency", "agency_id": enterprise1}})
	wantStatus(t, rec, 201)
	created := decode[createdPrincipal](t, rec)
	if created.Token == "" || created.AgencyID != enterprise1 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("created %+v", created)
	}
	if len(h.be.enrolled) != 1 || h.be.enrolled[0].Name != "ag-c" {
		t.Fatalf("enrolled %+v", h.be.enrolled)
	}
	h.tokens["ag-c"] = created.Token
	rec = h.do(req{method: "GET", path: "/v1/whoami", as: "ag-c"})
	wantStatus(t, rec, 200)

	wantProblem(t, h.do(req{method: "POST", path: "/v1/principals", as: "admin",
		body: map[string]string{"name": "ag-c", "role": "auditor"}}), 409, voucher.CodeAlreadyExists)
	wantProblem(t, h.do(req{method: "POST", path: "/v1/principals", as: "admin",
		body: map[string]string{"name": "ag-d", "role": "agency"}}), 400, voucher.CodeInvalidArgument)
	wantProblem(t, h.do(req{method: "POST", path: "/v1/principals", as: "admin",
		body: map[string]string{"name": "Bad Name", "role": "auditor"}}), 400, voucher.CodeInvalidArgument)

	rec = h.do(req{method: "GET", path: "/v1/principals?limit=2", as: "admin"})
	wantStatus(t, rec, 200)
	page := decode[voucher.Page[auth.Principal]](t, rec)
	if len(page.Items) != 2 || page.NextCursor == "" || strings.Contains(rec.Body.String(), "token") {
		t.Fatalf("principals page %s", rec.Body)
	}

	wantProblem(t, h.do(req{method: "DELETE", path: "/v1/principals/admin", as: "admin"}), 409, voucher.CodeInvalidState)
	wantProblem(t, h.do(req{method: "DELETE", path: "/v1/principals/nobody", as: "admin"}), 404, voucher.CodeNotFound)
	rec = h.do(req{method: "DELETE", path: "/v1/principals/ag-c", as: "admin"})
	wantStatus(t, rec, 200)
	if p := decode[auth.Principal](t, rec); !p.Revoked {
		t.Fatalf("revoked %+v", p)
	}
	wantProblem(t, h.do(req{method: "GET", path: "/v1/whoami", as: "ag-c"}), 401, CodeUnauthenticated)
}

// TestClientIPMatchesGin holds the access log's remote address to gin's
// on the API's own engine.
func TestClientIPMatchesGin(t *testing.T) {
	h := newHarness(t)
	for _, addr := range []string{"127.0.0.1:4000", " 10.1.2.3:80 ", "[::1]:4000", "[::ffff:127.0.0.1]:1", "[fe80::1%eth0]:5",
		"1.2.3.4", "01.2.3.4:5", "bad:addr:1", "@", ""} {
		c := gin.CreateTestContextOnly(httptest.NewRecorder(), h.api.engine)
		c.Request = httptest.NewRequest("GET", "/healthz", nil)
		c.Request.RemoteAddr = addr
		if got, ref := clientIP(c), c.ClientIP(); got != ref {
			t.Errorf("RemoteAddr %q: clientIP %q, gin %q", addr, got, ref)
		}
	}
}
