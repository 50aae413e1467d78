package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// TestStrictInput sends malformed requests of every kind: each is a 4xx
// problem naming what is wrong, none is a 500 and none reaches the ledger.
func TestStrictInput(t *testing.T) {
	h := newHarness(t, WithMaxBodyBytes(1024))
	h.seed()
	claim := "/v1/claims"
	cases := []struct {
		name   string
		r      req
		status int
		code   voucher.Code
		detail string // a fragment the detail must hold
	}{
		{"unknown field", req{method: "POST", path: claim, as: "ag-a",
			body: `{"enterprise_id":"` + enterprise1 + `","certificate_no":"GR202465000001","amount":"9999.00"}`}, 400, voucher.CodeInvalidArgument, `"amount"`},
		{"wrong type", req{method: "POST", path: claim, as: "ag-a",
			body: `{"enterprise_id":12,"certificate_no":"GR202465000001"}`}, 400, voucher.CodeInvalidArgument, `"enterprise_id" must be a string`},
		{"wrong type int field", req{method: "PUT", path: "/v1/policy", as: "admin",
			body: `{"unit_reward":"1.00","cap_per_agency":"2.00","cap_scope":"year","window_from":"2024-01-01","window_to":"2024-12-31","stale_after_days":"x"}`},
			400, voucher.CodeInvalidArgument, `"stale_after_days" must be an integer`},
		{"array body", req{method: "POST", path: claim, as: "ag-a", body: `[1,2]`}, 400, voucher.CodeInvalidArgument, "one JSON object"},
		{"null body", req{method: "POST", path: claim, as: "ag-a", body: `null`}, 400, voucher.CodeInvalidArgument, "one JSON object"},
		{"two objects", req{method: "POST", path: claim, as: "ag-a", body: `{} {}`}, 400, voucher.CodeInvalidArgument, "nothing after it"},
		{"truncated", req{method: "POST", path: claim, as: "ag-a", body: `{"enterprise_id":`}, 400, voucher.CodeInvalidArgument, "JSON"},
		{"syntax", req{method: "POST", path: claim, as: "ag-a", body: `{"enterprise_id" "x"}`}, 400, voucher.CodeInvalidArgument, "malformed JSON"},
		{"invalid utf-8", req{method: "POST", path: "/v1/vouchers/V-2024-A1/reject", as: "fin", body: "{\"reason\":\"\xff\xfe\"}"},
			400, voucher.CodeInvalidArgument, "UTF-8"},
		{"text/plain", req{method: "POST", path: claim, as: "ag-a", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}},
			400, voucher.CodeInvalidArgument, "Content-Type"},
		{"no content type", req{method: "POST", path: claim, as: "ag-a", body: `{}`, header: map[string]string{"Content-Type": ""}},
			400, voucher.CodeInvalidArgument, "Content-Type"},
		{"latin1 charset", req{method: "POST", path: claim, as: "ag-a", body: `{}`,
			header: map[string]string{"Content-Type": "application/json; charset=latin1"}}, 400, voucher.CodeInvalidArgument, "UTF-8"},
		{"oversize", req{method: "POST", path: "/v1/vouchers/V-2024-A1/reject", as: "fin",
			body: `{"reason":"` + strings.Repeat("x", 2000) + `"}`}, 413, CodePayloadTooLarge, "1024"},
		{"bad enterprise id", req{method: "POST", path: claim, as: "ag-a",
			body: `{"enterprise_id":"91440300708461136X","certificate_no":"GR202465000001"}`}, 400, voucher.CodeInvalidArgument, "USCC"},
		{"bad certificate", req{method: "POST", path: claim, as: "ag-a",
			body: `{"enterprise_id":"` + enterprise1 + `","certificate_no":"GR2024"}`}, 400, voucher.CodeInvalidArgument, "certificate"},
		{"bad agency path id", req{method: "GET", path: "/v1/agencies/NOT-A-USCC", as: "admin"}, 400, voucher.CodeInvalidArgument, "USCC"},
		{"bad agency path id on write", req{method: "POST", path: "/v1/agencies/91330100716105852X/suspend", as: "admin",
			body: `{"reason":"r"}`}, 400, voucher.CodeInvalidArgument, "USCC"},
		{"bad voucher id", req{method: "POST", path: "/v1/vouchers/V_1!/reject", as: "fin", body: `{"reason":"r"}`},
			400, voucher.CodeInvalidArgument, "voucher id"},
		{"long voucher id", req{method: "GET", path: "/v1/vouchers/" + strings.Repeat("A", 65), as: "fin"},
			400, voucher.CodeInvalidArgument, "voucher id"},
		{"bad cursor", req{method: "GET", path: "/v1/vouchers?cursor=zzz", as: "admin"}, 400, voucher.CodeInvalidArgument, "cursor"},
		{"cursor with spaces", req{method: "GET", path: "/v1/vouchers?cursor=a%20b", as: "admin"}, 400, voucher.CodeInvalidArgument, "cursor"},
		{"limit 0", req{method: "GET", path: "/v1/vouchers?limit=0", as: "admin"}, 400, voucher.CodeInvalidArgument, "limit"},
		{"limit 501", req{method: "GET", path: "/v1/vouchers?limit=501", as: "admin"}, 400, voucher.CodeInvalidArgument, "limit"},
		{"limit text", req{method: "GET", path: "/v1/agencies?limit=ten", as: "admin"}, 400, voucher.CodeInvalidArgument, "limit"},
		{"limit empty", req{method: "GET", path: "/v1/agencies?limit=", as: "admin"}, 400, voucher.CodeInvalidArgument, "limit"},
		{"unknown query", req{method: "GET", path: "/v1/vouchers?stauts=issued", as: "admin"}, 400, voucher.CodeInvalidArgument, "stauts"},
		{"repeated query", req{method: "GET", path: "/v1/vouchers?status=issued&status=revoked", as: "admin"}, 400, voucher.CodeInvalidArgument, "more than once"},
		{"bad status", req{method: "GET", path: "/v1/vouchers?status=paid", as: "admin"}, 400, voucher.CodeInvalidArgument, "status"},
		{"bad period", req{method: "GET", path: "/v1/vouchers?period=24", as: "admin"}, 400, voucher.CodeInvalidArgument, "period"},
		{"bad agency filter", req{method: "GET", path: "/v1/vouchers?agency_id=x", as: "admin"}, 400, voucher.CodeInvalidArgument, "USCC"},
		{"cap without period", req{method: "GET", path: "/v1/agencies/" + agencyA + "/cap", as: "admin"}, 400, voucher.CodeInvalidArgument, "period"},
		{"cap bad period", req{method: "GET", path: "/v1/agencies/" + agencyA + "/cap?period=all", as: "admin"}, 400, voucher.CodeInvalidArgument, "period"},
		{"bad principal name", req{method: "DELETE", path: "/v1/principals/Admin", as: "admin"}, 400, voucher.CodeInvalidArgument, "principal name"},
		{"bad principals cursor", req{method: "GET", path: "/v1/principals?cursor=%2F", as: "admin"}, 400, voucher.CodeInvalidArgument, "cursor"},
		{"bad idempotency key", req{method: "POST", path: claim, as: "ag-a", body: `{}`,
			header: map[string]string{HeaderIdempotencyKey: strings.Repeat("k", 129)}}, 400, voucher.CodeInvalidArgument, "Idempotency-Key"},
		{"redeem with a body field", req{method: "POST", path: "/v1/vouchers/V-2024-A1/redeem", as: "ag-a", body: `{"id":"V-2024-B1"}`},
			400, voucher.CodeInvalidArgument, `"id"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := h.do(c.r)
			p := wantProblem(t, rec, c.status, c.code)
			if !strings.Contains(p.Detail, c.detail) {
				t.Fatalf("detail %q lacks %q", p.Detail, c.detail)
			}
		})
	}
	if calls := h.be.callsOf(""); len(calls) != 0 {
		t.Fatalf("malformed requests reached the ledger: %+v", calls)
	}
}

// TestOversizeChunked streams a body with no Content-Length past the limit.
func TestOversizeChunked(t *testing.T) {
	h := newHarness(t, WithMaxBodyBytes(512))
	hr := httptest.NewRequest("POST", "/v1/vouchers/V-2024-A1/reject",
		strings.NewReader(`{"reason":"`+strings.Repeat("y", 4096)+`"}`))
	hr.ContentLength = -1
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+h.tokens["fin"])
	hr.Header.Set(HeaderIdempotencyKey, "k1")
	rec := httptest.NewRecorder()
	h.api.Handler().ServeHTTP(rec, hr)
	wantProblem(t, rec, http.StatusRequestEntityTooLarge, CodePayloadTooLarge)
	if calls := h.be.callsOf(""); len(calls) != 0 {
		t.Fatalf("oversize request reached the ledger")
	}
}

// TestEmptyBodyIsEmptyObject lets redeem go without a body or Content-Type.
func TestEmptyBodyIsEmptyObject(t *testing.T) {
	h := newHarness(t)
	h.seed()
	rec := h.do(req{method: "POST", path: "/v1/vouchers/V-2024-A1/redeem", as: "ag-a"})
	wantStatus(t, rec, 200)
	if calls := h.be.callsOf("Redeem"); len(calls) != 1 {
		t.Fatalf("redeem calls %d", len(calls))
	}
}
