package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// seen is one request as the fake gateway received it.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// recorder is a fake gateway that records requests and answers each with
// the next scripted reply (the last one repeats).
type recorder struct {
	mu      sync.Mutex
	reqs    []seen
	replies []reply
}

type reply struct {
	status      int
	contentType string
	body        string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, seen{req.Method, req.URL.EscapedPath(), req.URL.RawQuery, req.Header.Clone(), string(b)})
	rep := reply{status: 200, body: "{}"}
	if n := len(r.reqs); len(r.replies) > 0 {
		rep = r.replies[min(n, len(r.replies))-1]
	}
	r.mu.Unlock()
	ct := rep.contentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (r *recorder) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

func newFake(t *testing.T, replies ...reply) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{replies: replies}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func mustNew(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequestShapes checks that every method sends the route, query and
// JSON body the gateway's table in issue 3 names.
func TestRequestShapes(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		call   func(c *Client) error
		method string
		path   string
		query  string
		body   string // "" means no body
	}{
		{"Whoami", func(c *Client) error { _, err := c.Whoami(ctx); return err }, "GET", "/v1/whoami", "", ""},
		{"CreatePrincipal", func(c *Client) error {
			_, err := c.CreatePrincipal(ctx, NewPrincipal{Name: "a1", Role: voucher.RoleAgency, AgencyID: "91650104000000422E"})
			return err
		}, "POST", "/v1/principals", "", `{"name":"a1","role":"agency","agency_id":"91650104000000422E"}`},
		{"CreatePrincipalNoAgency", func(c *Client) error {
			_, err := c.CreatePrincipal(ctx, NewPrincipal{Name: "fin", Role: voucher.RoleFinance})
			return err
		}, "POST", "/v1/principals", "", `{"name":"fin","role":"finance"}`},
		{"RevokePrincipal", func(c *Client) error { return c.RevokePrincipal(ctx, "a b/c") }, "DELETE", "/v1/principals/a%20b%2Fc", "", ""},
		{"ListPrincipals", func(c *Client) error { _, err := c.ListPrincipals(ctx); return err }, "GET", "/v1/principals", "", ""},
		{"RegisterAgency", func(c *Client) error {
			_, err := c.RegisterAgency(ctx, voucher.RegisterAgencyArgs{ID: "X1", Name: "红山孵化器", Kind: voucher.KindIncubator})
			return err
		}, "POST", "/v1/agencies", "", `{"id":"X1","name":"红山孵化器","kind":"incubator"}`},
		{"GetAgency", func(c *Client) error { _, err := c.GetAgency(ctx, "X1"); return err }, "GET", "/v1/agencies/X1", "", ""},
		{"ListAgencies", func(c *Client) error {
			_, err := c.ListAgencies(ctx, ListOptions{Limit: 50, Cursor: "c1"})
			return err
		}, "GET", "/v1/agencies", "cursor=c1&limit=50", ""},
		{"GetCap", func(c *Client) error { _, err := c.GetCap(ctx, "X1", "2024"); return err }, "GET", "/v1/agencies/X1/cap", "period=2024", ""},
		{"SuspendAgency", func(c *Client) error { _, err := c.SuspendAgency(ctx, "X1", "audit"); return err }, "POST", "/v1/agencies/X1/suspend", "", `{"reason":"audit"}`},
		{"ReinstateAgency", func(c *Client) error { _, err := c.ReinstateAgency(ctx, "X1", "cleared"); return err }, "POST", "/v1/agencies/X1/reinstate", "", `{"reason":"cleared"}`},
		{"GetPolicy", func(c *Client) error { _, err := c.GetPolicy(ctx); return err }, "GET", "/v1/policy", "", ""},
		{"SetPolicy", func(c *Client) error {
			_, err := c.SetPolicy(ctx, voucher.SetPolicyArgs{UnitRewardCNY: "5000.00", CapPerAgencyCNY: "100000.00", CapScope: "year", WindowFrom: "2023-03-01", WindowTo: "2026-02-28"})
			return err
		}, "PUT", "/v1/policy", "", `{"unit_reward":"5000.00","cap_per_agency":"100000.00","cap_scope":"year","window_from":"2023-03-01","window_to":"2026-02-28"}`},
		{"RecordCertification", func(c *Client) error {
			_, err := c.RecordCertification(ctx, voucher.RecordCertificationArgs{EnterpriseID: "E1", EnterpriseName: "n", CertificateNo: "GR202465000001", IssuedOn: "2024-06-01", Kind: "first"})
			return err
		}, "POST", "/v1/certifications", "", `{"enterprise_id":"E1","enterprise_name":"n","certificate_no":"GR202465000001","issued_on":"2024-06-01","kind":"first"}`},
		{"RecordService", func(c *Client) error {
			_, err := c.RecordService(ctx, voucher.RecordServiceArgs{EnterpriseID: "E1", ContractRef: "C-1", StartedOn: "2024-01-02", EvidenceSHA256: strings.Repeat("a", 64)})
			return err
		}, "POST", "/v1/service-records", "", `{"enterprise_id":"E1","contract_ref":"C-1","started_on":"2024-01-02","evidence_sha256":"` + strings.Repeat("a", 64) + `"}`},
		{"Claim", func(c *Client) error {
			_, err := c.Claim(ctx, voucher.ClaimArgs{EnterpriseID: "E1", CertificateNo: "GR202465000001"})
			return err
		}, "POST", "/v1/claims", "", `{"enterprise_id":"E1","certificate_no":"GR202465000001"}`},
		{"ListVouchers", func(c *Client) error {
			_, err := c.ListVouchers(ctx, voucher.ListVouchersArgs{AgencyID: "X1", Status: voucher.StatusIssued, Period: "2024", Limit: 10, Cursor: "k"})
			return err
		}, "GET", "/v1/vouchers", "agency_id=X1&cursor=k&limit=10&period=2024&status=issued", ""},
		{"GetVoucher", func(c *Client) error { _, err := c.GetVoucher(ctx, "V1"); return err }, "GET", "/v1/vouchers/V1", "", ""},
		{"VoucherHistory", func(c *Client) error { _, err := c.VoucherHistory(ctx, "V1"); return err }, "GET", "/v1/vouchers/V1/history", "", ""},
		{"Redeem", func(c *Client) error { _, err := c.Redeem(ctx, "V1"); return err }, "POST", "/v1/vouchers/V1/redeem", "", `{}`},
		{"Reimburse", func(c *Client) error {
			_, err := c.Reimburse(ctx, "V1", Payment{PaymentRef: "P-1", AmountCNY: "5000.00", PaidOn: "2024-07-01"})
			return err
		}, "POST", "/v1/vouchers/V1/reimburse", "", `{"payment_ref":"P-1","amount":"5000.00","paid_on":"2024-07-01"}`},
		{"Reject", func(c *Client) error { _, err := c.Reject(ctx, "V1", "bad"); return err }, "POST", "/v1/vouchers/V1/reject", "", `{"reason":"bad"}`},
		{"Revoke", func(c *Client) error { _, err := c.Revoke(ctx, "V1", "fraud"); return err }, "POST", "/v1/vouchers/V1/revoke", "", `{"reason":"fraud"}`},
		{"Verify", func(c *Client) error { _, err := c.Verify(ctx); return err }, "GET", "/v1/ledger/verify", "", ""},
		{"Health", func(c *Client) error { return c.Health(ctx) }, "GET", "/healthz", "", ""},
		{"Ready", func(c *Client) error { return c.Ready(ctx) }, "GET", "/readyz", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newFake(t)
			c := mustNew(t, srv.URL+"/", WithToken("tok-1"), WithUserAgent("ua/9"))
			if err := tc.call(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tc.method || r.Path != tc.path || r.RawQuery != tc.query {
				t.Errorf("got %s %s?%s, want %s %s?%s", r.Method, r.Path, r.RawQuery, tc.method, tc.path, tc.query)
			}
			if r.Body != tc.body {
				t.Errorf("body %s, want %s", r.Body, tc.body)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
				t.Errorf("Authorization %q", got)
			}
			if got := r.Header.Get("User-Agent"); got != "ua/9" {
				t.Errorf("User-Agent %q", got)
			}
			wantCT := ""
			if tc.body != "" {
				wantCT = "application/json"
			}
			if got := r.Header.Get("Content-Type"); got != wantCT {
				t.Errorf("Content-Type %q, want %q", got, wantCT)
			}
			if got := r.Header.Get("Idempotency-Key"); got != "" {
				t.Errorf("Idempotency-Key %q sent without WithIdempotencyKeys", got)
			}
		})
	}
}

func TestBasePathPrefixKept(t *testing.T) {
	rec, srv := newFake(t)
	c := mustNew(t, srv.URL+"/hongshan/")
	if _, err := c.GetVoucher(context.Background(), "V 1"); err != nil {
		t.Fatal(err)
	}
	if got := rec.requests()[0].Path; got != "/hongshan/v1/vouchers/V%201" {
		t.Errorf("path %q", got)
	}
}

func TestDecodesAnswers(t *testing.T) {
	v := voucher.Voucher{ID: "V1", AgencyID: "A", AmountCNY: "5000.00", Status: voucher.StatusIssued, Period: "2024"}
	b, _ := json.Marshal(v)
	_, srv := newFake(t, reply{status: 201, body: string(b)})
	c := mustNew(t, srv.URL)
	got, err := c.Claim(context.Background(), voucher.ClaimArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if got != v {
		t.Errorf("got %+v, want %+v", got, v)
	}
}

func TestListsAcceptArrayOrItems(t *testing.T) {
	for _, body := range []string{
		`[{"tx_id":"t1","status":"issued"},{"tx_id":"t2","status":"revoked"}]`,
		`{"items":[{"tx_id":"t1","status":"issued"},{"tx_id":"t2","status":"revoked"}]}`,
	} {
		_, srv := newFake(t, reply{status: 200, body: body})
		h, err := mustNew(t, srv.URL).VoucherHistory(context.Background(), "V1")
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 2 || h[0].TxID != "t1" || h[1].Status != voucher.StatusRevoked {
			t.Errorf("%s decoded as %+v", body, h)
		}
	}
}

func TestProblemDecoding(t *testing.T) {
	_, srv := newFake(t, reply{
		status:      422,
		contentType: "application/problem+json",
		body:        `{"type":"about:blank","title":"Unprocessable","status":422,"code":"CAP_EXCEEDED","detail":"agency cap reached","request_id":"req-7","remaining":"0.00"}`,
	})
	_, err := mustNew(t, srv.URL).Claim(context.Background(), voucher.ClaimArgs{})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	want := Error{Status: 422, Code: "CAP_EXCEEDED", Detail: "agency cap reached", RequestID: "req-7", Remaining: "0.00"}
	if *e != want {
		t.Errorf("got %+v, want %+v", *e, want)
	}
	if !IsCode(err, "CAP_EXCEEDED") || IsCode(err, "ALREADY_CLAIMED") {
		t.Error("IsCode disagrees with the code")
	}
	if !IsCode(errors.Join(errors.New("ctx"), err), "CAP_EXCEEDED") {
		t.Error("IsCode does not see a wrapped error")
	}
	if got := err.Error(); got != "CAP_EXCEEDED: agency cap reached (remaining 0.00)" {
		t.Errorf("message %q", got)
	}
	if CodeOf(err) != "CAP_EXCEEDED" || CodeOf(errors.New("x")) != "" {
		t.Error("CodeOf")
	}
}

func TestNonProblemErrorGetsCodeFromStatus(t *testing.T) {
	cases := map[int]string{401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 413: "PAYLOAD_TOO_LARGE", 502: "UNAVAILABLE", 418: "HTTP_418"}
	for status, code := range cases {
		_, srv := newFake(t, reply{status: status, contentType: "text/html", body: "<html>\n  oops  </html>"})
		err := mustNew(t, srv.URL).Health(context.Background())
		var e *Error
		if !errors.As(err, &e) || e.Code != code || e.Status != status || e.Detail != "<html> oops </html>" {
			t.Errorf("status %d: got %#v", status, err)
		}
	}
}

func TestRetriesAreBoundedAndOnlyForSafeCalls(t *testing.T) {
	unavailable := reply{status: 503, contentType: "application/problem+json", body: `{"code":"UNAVAILABLE","status":503}`}
	ctx := context.Background()

	t.Run("GET retried up to the bound", func(t *testing.T) {
		rec, srv := newFake(t, unavailable)
		c := mustNew(t, srv.URL, WithRetry(3, time.Millisecond))
		err := c.Health(ctx)
		if !IsCode(err, "UNAVAILABLE") {
			t.Fatalf("err %v", err)
		}
		if n := len(rec.requests()); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
	t.Run("bound is capped", func(t *testing.T) {
		rec, srv := newFake(t, unavailable)
		c := mustNew(t, srv.URL, WithRetry(1000, time.Microsecond))
		c.baseBackoff = time.Microsecond // keep the test fast
		_ = c.Health(ctx)
		if n := len(rec.requests()); n != MaxRetryAttempts {
			t.Errorf("%d attempts, want %d", n, MaxRetryAttempts)
		}
	})
	t.Run("POST without key not retried", func(t *testing.T) {
		rec, srv := newFake(t, unavailable)
		c := mustNew(t, srv.URL, WithRetry(3, time.Millisecond))
		_, err := c.Claim(ctx, voucher.ClaimArgs{})
		if !IsCode(err, "UNAVAILABLE") {
			t.Fatalf("err %v", err)
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("business rejection not retried", func(t *testing.T) {
		rec, srv := newFake(t, reply{status: 409, body: `{"code":"ALREADY_CLAIMED"}`})
		c := mustNew(t, srv.URL, WithRetry(3, time.Millisecond), WithIdempotencyKeys())
		_, err := c.Claim(ctx, voucher.ClaimArgs{})
		if !IsCode(err, "ALREADY_CLAIMED") {
			t.Fatalf("err %v", err)
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("POST with auto key retried with the same key", func(t *testing.T) {
		rec, srv := newFake(t, unavailable, unavailable, reply{status: 201, body: `{"id":"V9","status":"issued"}`})
		c := mustNew(t, srv.URL, WithRetry(5, time.Millisecond), WithIdempotencyKeys())
		v, err := c.Claim(ctx, voucher.ClaimArgs{EnterpriseID: "E"})
		if err != nil || v.ID != "V9" {
			t.Fatalf("v %+v err %v", v, err)
		}
		reqs := rec.requests()
		if len(reqs) != 3 {
			t.Fatalf("%d attempts, want 3", len(reqs))
		}
		key := reqs[0].Header.Get("Idempotency-Key")
		if len(key) != 32 {
			t.Fatalf("key %q", key)
		}
		for i, r := range reqs {
			if r.Header.Get("Idempotency-Key") != key || r.Body != reqs[0].Body {
				t.Errorf("attempt %d: key %q body %s differ from the first", i, r.Header.Get("Idempotency-Key"), r.Body)
			}
		}
		// A new call gets a new key.
		if _, err := c.Claim(ctx, voucher.ClaimArgs{EnterpriseID: "E"}); err != nil {
			t.Fatal(err)
		}
		reqs = rec.requests()
		if k := reqs[len(reqs)-1].Header.Get("Idempotency-Key"); k == "" || k == key {
			t.Errorf("second call key %q, want a fresh one", k)
		}
	})
	t.Run("explicit key from context", func(t *testing.T) {
		rec, srv := newFake(t, unavailable, reply{status: 200, body: `{}`})
		c := mustNew(t, srv.URL, WithRetry(2, time.Millisecond))
		if _, err := c.Redeem(ContextWithIdempotencyKey(ctx, "my-key"), "V1"); err != nil {
			t.Fatal(err)
		}
		reqs := rec.requests()
		if len(reqs) != 2 || reqs[0].Header.Get("Idempotency-Key") != "my-key" || reqs[1].Header.Get("Idempotency-Key") != "my-key" {
			t.Errorf("requests %+v", reqs)
		}
	})
}

// TestRetriesConnectionFailure proves a dropped connection (no answer) is
// retried for a keyed POST, and reported as a transport error in the end.
func TestRetriesConnectionFailure(t *testing.T) {
	var mu sync.Mutex
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	c := mustNew(t, srv.URL, WithRetry(4, time.Millisecond), WithIdempotencyKeys())
	_, err := c.Claim(context.Background(), voucher.ClaimArgs{})
	if !IsTransport(err) || CodeOf(err) != "" {
		t.Fatalf("err %v (%T), want a transport error", err, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 4 {
		t.Errorf("%d attempts, want 4", attempts)
	}
}

func TestTimeoutBoundsAnAttempt(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := mustNew(t, srv.URL, WithTimeout(50*time.Millisecond))
	start := time.Now()
	err := c.Health(context.Background())
	if !IsTransport(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a deadline transport error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[`)
		chunk := strings.Repeat(`{"id":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},`, 1000)
		for written := 0; written <= MaxResponseBytes; written += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `{"id":"y"}]}`)
	}))
	defer srv.Close()
	_, err := mustNew(t, srv.URL).ListVouchers(context.Background(), voucher.ListVouchersArgs{})
	if err == nil || !strings.Contains(err.Error(), "response over") {
		t.Fatalf("err %v, want a size error", err)
	}
}

func TestAllVouchersFollowsCursors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("status") != "issued" {
			t.Errorf("filter lost on page %q", r.URL.RawQuery)
		}
		switch r.URL.Query().Get("cursor") {
		case "":
			_, _ = io.WriteString(w, `{"items":[{"id":"V1"},{"id":"V2"}],"next_cursor":"c2"}`)
		case "c2":
			_, _ = io.WriteString(w, `{"items":[{"id":"V3"}],"next_cursor":""}`)
		default:
			t.Errorf("unexpected cursor %q", r.URL.RawQuery)
		}
	}))
	defer srv.Close()
	var ids []string
	for v, err := range mustNew(t, srv.URL).AllVouchers(context.Background(), voucher.ListVouchersArgs{Status: voucher.StatusIssued}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	if strings.Join(ids, ",") != "V1,V2,V3" {
		t.Errorf("ids %v", ids)
	}
}

func TestAllAgenciesStopsOnCursorLoop(t *testing.T) {
	_, srv := newFake(t, reply{status: 200, body: `{"items":[{"id":"A"}],"next_cursor":"same"}`})
	n := 0
	var last error
	for _, err := range mustNew(t, srv.URL).AllAgencies(context.Background(), 10) {
		n++
		last = err
		if n > 10 {
			t.Fatal("walk does not stop")
		}
	}
	if !errors.Is(last, errCursorLoop) {
		t.Errorf("last %v", last)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "127.0.0.1:8080", "http://"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := New("http://x", WithToken("a\nb")); err == nil {
		t.Error("token with newline accepted")
	}
	if _, err := New("http://x", WithRetry(0, 0)); err == nil {
		t.Error("zero attempts accepted")
	}
}

// TestPutIsNeverRetried: the gateway keys POSTs only, so a repeated PUT
// /v1/policy would install a second version.
func TestPutIsNeverRetried(t *testing.T) {
	rec, srv := newFake(t, reply{status: 503, body: `{"code":"UNAVAILABLE"}`})
	c := mustNew(t, srv.URL, WithRetry(3, time.Millisecond), WithIdempotencyKeys())
	_, err := c.SetPolicy(context.Background(), voucher.SetPolicyArgs{})
	if !IsCode(err, "UNAVAILABLE") {
		t.Fatalf("err %v", err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Idempotency-Key") != "" {
		t.Errorf("%d attempts, key %q", len(reqs), reqs[0].Header.Get("Idempotency-Key"))
	}
}
