package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/xuri/excelize/v2"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// router mounts the Service as docs/reports.md says, behind a stand-in
// for the gateway's authentication: the X-Test-Role header becomes the
// principal under CallerKey.
func router(s *Service) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Header("X-Request-Id", "req-1")
		if role := c.GetHeader("X-Test-Role"); role != "" {
			c.Set(CallerKey, auth.Principal{Name: "tester", Role: voucher.Role(role)})
		}
	})
	v1 := r.Group("/v1")
	v1.GET("/reports/reconciliation", s.Reconciliation)
	v1.POST("/reports/reconciliation/payments", s.TreasuryMatch)
	v1.GET("/ledger/verify", s.Verify)
	return r
}

func do(r http.Handler, method, target, role, contentType string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	return rec
}

// problemOf decodes a problem answer and checks its shape.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q", ct)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != code || p.Status != status || p.Title == "" || p.Detail == "" || p.RequestID != "req-1" || !strings.HasPrefix(p.Type, "urn:hongshan:problem:") {
		t.Errorf("problem %+v, want code %s", p, code)
	}
	return p
}

func TestReconciliationOverHTTP(t *testing.T) {
	w, ag := threeAgencies(t)
	w.commit()
	r := router(New(w.store, nil, WithTempDir(t.TempDir())))

	problemOf(t, do(r, "GET", "/v1/reports/reconciliation?period=2024", "", "", nil), 401, "UNAUTHENTICATED")
	problemOf(t, do(r, "GET", "/v1/reports/reconciliation?period=2024", "agency", "", nil), 403, "FORBIDDEN")
	problemOf(t, do(r, "GET", "/v1/reports/reconciliation?period=2024", "scitech", "", nil), 403, "FORBIDDEN")
	for _, q := range []string{"", "?period=1999", "?period=2024&format=pdf", "?period=2024&limit=5", "?period=2024&period=2023",
		"?period=2024&table=exceptions", "?period=2024&format=csv&table=vouchers", "?period=2024&as_of=soon"} {
		problemOf(t, do(r, "GET", "/v1/reports/reconciliation"+q, "auditor", "", nil), 400, "INVALID_ARGUMENT")
	}

	res := do(r, "GET", "/v1/reports/reconciliation?period=2024", "auditor", "", nil)
	if res.Code != 200 || !strings.HasPrefix(res.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", res.Code, res.Body.String())
	}
	var doc struct {
		Digest   string      `json:"digest"`
		Height   uint64      `json:"height"`
		Agencies []AgencyRow `json:"agencies"`
		Totals   AgencyRow   `json:"totals"`
	}
	if err := json.Unmarshal(res.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Agencies) != 3 || doc.Totals.ReimbursedCNY != "15000.00" || res.Header().Get(HeaderDigest) != doc.Digest ||
		res.Header().Get(HeaderHeight) != fmt.Sprint(doc.Height) {
		t.Errorf("report %+v, headers %v", doc, res.Header())
	}

	csvRes := do(r, "GET", "/v1/reports/reconciliation?period=2024&format=csv", "finance", "", nil)
	if csvRes.Code != 200 || csvRes.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(csvRes.Header().Get("Content-Disposition"), `filename="hongshan-reconciliation-2024-h`) ||
		!bytes.HasPrefix(csvRes.Body.Bytes(), []byte("\uFEFF机构代码 / Agency ID")) {
		t.Errorf("CSV: %d %v %q", csvRes.Code, csvRes.Header(), csvRes.Body.String()[:40])
	}
	if !strings.Contains(csvRes.Body.String(), ag[0].ID) || csvRes.Header().Get(HeaderDigest) != doc.Digest {
		t.Error("the CSV report has A's row and the same digest as the JSON one")
	}
	excRes := do(r, "GET", "/v1/reports/reconciliation?period=2024&format=csv&table=exceptions", "auditor", "", nil)
	if excRes.Code != 200 || !strings.Contains(excRes.Header().Get("Content-Disposition"), "-exceptions.csv") {
		t.Errorf("exceptions CSV: %d %v", excRes.Code, excRes.Header())
	}

	xlsxRes := do(r, "GET", "/v1/reports/reconciliation?period=all&format=xlsx", "auditor", "", nil)
	if xlsxRes.Code != 200 || xlsxRes.Header().Get("Content-Type") != contentTypes[FormatXLSX] {
		t.Fatalf("XLSX: %d %v", xlsxRes.Code, xlsxRes.Header())
	}
	f, err := excelize.OpenReader(xlsxRes.Body)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
}

func paymentsFile(t *testing.T) (*world, string) {
	w := newWorld(t)
	a := w.agency(1, "A")
	w.plant(voucherSpec{agency: a, status: voucher.StatusReimbursed, paymentRef: "GK-1"})
	w.plant(voucherSpec{agency: a, status: voucher.StatusReimbursed, paymentRef: "GK-2"})
	w.commit()
	return w, "payment_ref,agency_id,amount,paid_on\nGK-1," + a.ID + ",5000.00,2024-03-05\nGK-9," + a.ID + ",1.00,2024-03-05\nbad row\n"
}

func TestTreasuryMatchOverHTTP(t *testing.T) {
	w, file := paymentsFile(t)
	r := router(New(w.store, nil, WithTempDir(t.TempDir()), WithPaymentLimits(1000, 100)))
	const target = "/v1/reports/reconciliation/payments?period=2024"

	problemOf(t, do(r, "POST", target, "agency", "text/csv", strings.NewReader(file)), 403, "FORBIDDEN")
	problemOf(t, do(r, "POST", target, "auditor", "application/json", strings.NewReader(file)), 400, "INVALID_ARGUMENT")
	problemOf(t, do(r, "POST", target, "auditor", "text/csv; charset=gbk", strings.NewReader(file)), 400, "INVALID_ARGUMENT")
	problemOf(t, do(r, "POST", target+"&format=csv&table=exceptions", "auditor", "text/csv", strings.NewReader(file)), 400, "INVALID_ARGUMENT")

	summary := func(res *httptest.ResponseRecorder) MatchSummary {
		t.Helper()
		if res.Code != 200 {
			t.Fatalf("%d %s", res.Code, res.Body.String())
		}
		var doc struct {
			Summary MatchSummary `json:"summary"`
			BadRows []BadRow     `json:"bad_rows"`
		}
		if err := json.Unmarshal(res.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.BadRows) != 1 || doc.BadRows[0].Line != 4 {
			t.Errorf("bad rows %+v", doc.BadRows)
		}
		return doc.Summary
	}
	s := summary(do(r, "POST", target, "finance", "text/csv", strings.NewReader(file)))
	if s.Matched != 1 || s.LedgerOnly != 1 || s.FileOnly != 1 || s.BadRows != 1 {
		t.Errorf("summary %+v", s)
	}

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("note", "March payments")
	fw, _ := mw.CreateFormFile("file", "payments.csv")
	_, _ = io.WriteString(fw, file)
	_ = mw.Close()
	if s2 := summary(do(r, "POST", target, "auditor", mw.FormDataContentType(), bytes.NewReader(mp.Bytes()))); s2 != s {
		t.Errorf("multipart summary %+v, text/csv %+v", s2, s)
	}
	var noFile bytes.Buffer
	mw = multipart.NewWriter(&noFile)
	_ = mw.WriteField("note", "forgot the file")
	_ = mw.Close()
	problemOf(t, do(r, "POST", target, "auditor", mw.FormDataContentType(), &noFile), 400, "INVALID_ARGUMENT")

	big := file + strings.Repeat("GK-3,91650104000000019C,5000.00,2024-03-05\n", 40)
	problemOf(t, do(r, "POST", target, "auditor", "text/csv", strings.NewReader(big)), 413, "PAYLOAD_TOO_LARGE")
	// Without a Content-Length (chunked), the limit holds while reading.
	req := httptest.NewRequest("POST", target, io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("X-Test-Role", "auditor")
	req.Header.Set("Content-Type", "text/csv")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	problemOf(t, rec, 413, "PAYLOAD_TOO_LARGE")
	manyRows := "payment_ref,agency_id,amount,paid_on\n" + strings.Repeat("x\n", 101)
	r2 := router(New(w.store, nil, WithTempDir(t.TempDir()), WithPaymentLimits(1<<20, 100)))
	problemOf(t, do(r2, "POST", target, "auditor", "text/csv", strings.NewReader(manyRows)), 413, "PAYLOAD_TOO_LARGE")

	xres := do(r, "POST", target+"&format=xlsx", "auditor", "text/csv", strings.NewReader(file))
	if xres.Code != 200 || !strings.Contains(xres.Header().Get("Content-Disposition"), "hongshan-treasury-match-2024-h") {
		t.Errorf("XLSX match: %d %v", xres.Code, xres.Header())
	}
}

func TestVerifyOverHTTP(t *testing.T) {
	w := newWorld(t)
	w.commit()
	entered := make(chan struct{})
	release := make(chan struct{})
	bad := uint64(7)
	var calls atomic.Int32
	stub := stubBackend{verify: func(ctx context.Context) (backend.VerifyResult, error) {
		if calls.Add(1) == 1 { // the first check holds the slot until released
			entered <- struct{}{}
			<-release
		}
		return backend.VerifyResult{OK: false, Height: 12, HeadHash: "abc", CheckedBlocks: 12, FirstBadBlock: &bad, Detail: "block 7: data hash"}, nil
	}}
	r := router(New(w.store, stub))
	problemOf(t, do(r, "GET", "/v1/ledger/verify", "scitech", "", nil), 403, "FORBIDDEN")
	problemOf(t, do(r, "GET", "/v1/ledger/verify?deep=1", "auditor", "", nil), 400, "INVALID_ARGUMENT")

	// One check at a time: a second one while the first runs is 503.
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- do(r, "GET", "/v1/ledger/verify", "auditor", "", nil) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first check never reached the backend")
	}
	busy := do(r, "GET", "/v1/ledger/verify", "finance", "", nil)
	problemOf(t, busy, 503, "UNAVAILABLE")
	if busy.Header().Get("Retry-After") == "" {
		t.Error("a busy answer says when to retry")
	}
	close(release)
	res := <-first
	if res.Code != 200 {
		t.Fatalf("%d %s", res.Code, res.Body.String())
	}
	var vr backend.VerifyResult
	if err := json.Unmarshal(res.Body.Bytes(), &vr); err != nil || vr.OK || vr.FirstBadBlock == nil || *vr.FirstBadBlock != 7 || vr.Height != 12 {
		t.Errorf("verify answer %s (%v)", res.Body.String(), err)
	}
	if !strings.Contains(res.Body.String(), `"first_bad_block":7`) || !strings.Contains(res.Body.String(), `"checked_blocks":12`) {
		t.Errorf("wire names: %s", res.Body.String())
	}

	down := router(New(w.store, stubBackend{verify: func(context.Context) (backend.VerifyResult, error) {
		return backend.VerifyResult{}, fmt.Errorf("peer: %w", backend.ErrUnavailable)
	}}))
	problemOf(t, do(down, "GET", "/v1/ledger/verify", "auditor", "", nil), 503, "UNAVAILABLE")
}

func TestCustomErrorWriterAndRoleLookup(t *testing.T) {
	w := newWorld(t)
	w.commit()
	var got []error
	s := New(w.store, nil,
		WithErrorWriter(func(c *gin.Context, err error) { got = append(got, err); c.AbortWithStatus(499) }),
		WithRoleOf(func(c *gin.Context) (voucher.Role, bool) {
			return voucher.Role(c.GetHeader("X-Role")), c.GetHeader("X-Role") != ""
		}))
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/r", s.Reconciliation)
	req := httptest.NewRequest("GET", "/r?period=2024", nil)
	req.Header.Set("X-Role", "agency")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != 499 || len(got) != 1 || voucher.CodeOf(got[0]) != voucher.CodeForbidden {
		t.Errorf("status %d, errors %v", rec.Code, got)
	}
	req = httptest.NewRequest("GET", "/r?period=2024", nil)
	req.Header.Set("X-Role", "auditor")
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("auditor through the custom role lookup: %d", rec.Code)
	}
}
