package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// Identifiers that pass both USCC checks (DOMAIN.md).
const (
	agencyA     = "91330100716105852F"
	agencyB     = "914403001922038216"
	enterprise1 = "91440300708461136T"
	enterprise2 = "91110000600037341L"
)

// memReads is a read model held in maps, for unit tests.
type memReads struct {
	mu       sync.Mutex
	height   uint64
	policy   voucher.Policy
	agencies map[string]voucher.AgencyView
	caps     map[string]voucher.CapUsage
	certs    map[string]voucher.Certification
	vouchers map[string]voucher.Voucher
	history  map[string][]voucher.HistoryItem
	waitErr  error
	waited   []uint64
}

func newMemReads() *memReads {
	return &memReads{
		height:   1,
		policy:   voucher.DefaultPolicy(),
		agencies: map[string]voucher.AgencyView{},
		caps:     map[string]voucher.CapUsage{},
		certs:    map[string]voucher.Certification{},
		vouchers: map[string]voucher.Voucher{},
		history:  map[string][]voucher.HistoryItem{},
	}
}

func (m *memReads) WaitFor(_ context.Context, n uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waited = append(m.waited, n)
	return m.waitErr
}

func (m *memReads) Head() (uint64, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.height, "head"
}

func (m *memReads) Policy() (voucher.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.policy, nil
}

func (m *memReads) PolicyFor(issuedOn string) (voucher.Policy, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.policy, m.policy.Covers(issuedOn), nil
}

func (m *memReads) Agency(id string) (voucher.AgencyView, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.agencies[id]
	return a, ok, nil
}

func (m *memReads) Agencies(limit int, cursor string) (voucher.Page[voucher.AgencyView], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.agencies))
	for id := range m.agencies {
		ids = append(ids, id)
	}
	items, next, err := pageIDs(ids, limit, cursor)
	page := voucher.Page[voucher.AgencyView]{Items: []voucher.AgencyView{}, NextCursor: next}
	for _, id := range items {
		page.Items = append(page.Items, m.agencies[id])
	}
	return page, err
}

func (m *memReads) Cap(agencyID, period string) (voucher.CapUsage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.caps[agencyID+"|"+period]; ok {
		return u, nil
	}
	return voucher.CapUsage{AgencyID: agencyID, Period: period, LimitCNY: m.policy.CapPerAgencyCNY,
		UsedCNY: "0.00", RemainingCNY: m.policy.CapPerAgencyCNY}, nil
}

func (m *memReads) Certification(no string) (voucher.Certification, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.certs[no]
	return c, ok, nil
}

// ClaimFacts is the projection's, from the other reads: Certification,
// Agency, PolicyFor and Cap, each part only when the ones before it were
// found.
func (m *memReads) ClaimFacts(agencyID, certNo string) (projection.ClaimFacts, error) {
	var f projection.ClaimFacts
	f.Certification, f.CertificationKnown, _ = m.Certification(certNo)
	if !f.CertificationKnown {
		return f, nil
	}
	var av voucher.AgencyView
	if av, f.AgencyKnown, _ = m.Agency(agencyID); !f.AgencyKnown {
		return f, nil
	}
	f.Agency = av.Agency
	if _, err := time.Parse(time.DateOnly, f.Certification.IssuedOn); err != nil {
		return f, nil // as the projection: no policy judges a non-date
	}
	if f.Policy, f.PolicyKnown, _ = m.PolicyFor(f.Certification.IssuedOn); !f.PolicyKnown {
		f.Policy = voucher.Policy{}
		return f, nil
	}
	f.Period = f.Policy.PeriodOf(f.Certification.IssuedOn)
	f.Cap, _ = m.Cap(agencyID, f.Period)
	return f, nil
}

func (m *memReads) Voucher(id string) (voucher.Voucher, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vouchers[id]
	return v, ok, nil
}

func (m *memReads) Vouchers(f voucher.ListVouchersArgs) (voucher.Page[voucher.Voucher], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, v := range m.vouchers {
		if (f.AgencyID == "" || v.AgencyID == f.AgencyID) && (f.Status == "" || v.Status == f.Status) &&
			(f.Period == "" || v.Period == f.Period) {
			ids = append(ids, id)
		}
	}
	items, next, err := pageIDs(ids, f.Limit, f.Cursor)
	page := voucher.Page[voucher.Voucher]{Items: []voucher.Voucher{}, NextCursor: next}
	for _, id := range items {
		page.Items = append(page.Items, m.vouchers[id])
	}
	return page, err
}

func (m *memReads) VoucherHistory(id string) ([]voucher.HistoryItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.history[id], nil
}

// pageIDs pages sorted ids; a cursor is "c:" + the last id of a page.
func pageIDs(ids []string, limit int, cursor string) ([]string, string, error) {
	sort.Strings(ids)
	if cursor != "" {
		last, ok := strings.CutPrefix(cursor, "c:")
		if !ok {
			return nil, "", &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "cursor is not one this listing returned"}
		}
		i := sort.SearchStrings(ids, last)
		for i < len(ids) && ids[i] <= last {
			i++
		}
		ids = ids[i:]
	}
	if len(ids) > limit {
		return ids[:limit], "c:" + ids[limit-1], nil
	}
	return ids, "", nil
}

// call is one Submit the fake backend saw.
type call struct {
	caller backend.Caller
	fn     string
	arg    map[string]any
}

// fakeBackend answers Submit through per-transaction handlers and records
// every call.
type fakeBackend struct {
	mu       sync.Mutex
	reads    *memReads
	block    uint64
	calls    []call
	handlers map[string]func(caller backend.Caller, arg []byte) ([]byte, error)
	enrolled []backend.Caller
	infoErr  error
	// gate, when set, is received from before each Submit runs.
	gate chan struct{}
}

func newFakeBackend(reads *memReads) *fakeBackend {
	return &fakeBackend{reads: reads, handlers: map[string]func(backend.Caller, []byte) ([]byte, error){}}
}

func (f *fakeBackend) Name() string { return "fake" }

func (f *fakeBackend) Submit(ctx context.Context, caller backend.Caller, fn string, arg []byte) (backend.Receipt, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return backend.Receipt{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(arg, &m); err != nil {
		return backend.Receipt{}, fmt.Errorf("fake: argument is not a JSON object: %w", err)
	}
	f.calls = append(f.calls, call{caller: caller, fn: fn, arg: m})
	out := []byte(`{"ok":true}`)
	if h := f.handlers[fn]; h != nil {
		var err error
		if out, err = h(caller, arg); err != nil {
			return backend.Receipt{}, err
		}
	}
	f.block++
	f.reads.mu.Lock()
	f.reads.height = f.block + 1
	f.reads.mu.Unlock()
	return backend.Receipt{TxID: fmt.Sprintf("tx%d", f.block), BlockNumber: f.block, Payload: out}, nil
}

func (f *fakeBackend) Evaluate(context.Context, backend.Caller, string, []byte) ([]byte, error) {
	return nil, fmt.Errorf("fake: Evaluate is not used by the gateway")
}

func (f *fakeBackend) Blocks(ctx context.Context, _ uint64) (<-chan backend.Block, func() error) {
	ch := make(chan backend.Block)
	close(ch)
	return ch, func() error { return nil }
}

func (f *fakeBackend) Info(context.Context) (backend.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return backend.Info{Height: f.block + 1, HeadHash: "head"}, f.infoErr
}

func (f *fakeBackend) Verify(context.Context, backend.Progress) (backend.VerifyResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return backend.VerifyResult{OK: true, Height: f.block + 1, HeadHash: "head", CheckedBlocks: f.block + 1}, nil
}

func (f *fakeBackend) Enroll(_ context.Context, c backend.Caller) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enrolled = append(f.enrolled, c)
	return nil
}

func (f *fakeBackend) Close() error { return nil }

// callsOf returns the Submits of fn.
func (f *fakeBackend) callsOf(fn string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if fn == "" || c.fn == fn {
			out = append(out, c)
		}
	}
	return out
}

// handle sets the handler of fn.
func (f *fakeBackend) handle(fn string, h func(caller backend.Caller, arg []byte) ([]byte, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[fn] = h
}

// fakeClaims makes the fake's Claim behave like the contract's cap rule on
// the memReads state: certificate cert-per-enterprise, unit 5000.00.
func (f *fakeBackend) fakeClaims() {
	f.handle("Claim", func(caller backend.Caller, arg []byte) ([]byte, error) {
		var a voucher.ClaimArgs
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		r := f.reads
		r.mu.Lock()
		defer r.mu.Unlock()
		cert := r.certs[a.CertificateNo]
		period := cert.IssuedOn[:4]
		key := caller.AgencyID + "|" + period
		u, ok := r.caps[key]
		if !ok {
			u = voucher.CapUsage{AgencyID: caller.AgencyID, Period: period, LimitCNY: "100000.00", UsedCNY: "0.00", RemainingCNY: "100000.00"}
		}
		unit := decimal.RequireFromString("5000.00")
		remaining := decimal.RequireFromString(u.RemainingCNY)
		if remaining.LessThan(unit) {
			return nil, &voucher.Error{Code: voucher.CodeCapExceeded, Message: "contract: cap",
				Details: map[string]string{"remaining": u.RemainingCNY}}
		}
		used := decimal.RequireFromString(u.UsedCNY).Add(unit)
		u.UsedCNY, u.RemainingCNY = voucher.FormatMoney(used), voucher.FormatMoney(remaining.Sub(unit))
		u.LiveCount++
		r.caps[key] = u
		v := voucher.Voucher{ID: fmt.Sprintf("V-%s-%d", period, len(r.vouchers)+1), AgencyID: caller.AgencyID,
			EnterpriseID: a.EnterpriseID, CertificateNo: a.CertificateNo, Period: period, AmountCNY: "5000.00",
			Status: voucher.StatusIssued}
		r.vouchers[v.ID] = v
		return json.Marshal(v)
	})
}

// harness is an API over the fakes with one principal per role.
type harness struct {
	t      testing.TB
	api    *API
	be     *fakeBackend
	reads  *memReads
	store  *auth.Store
	db     *bolt.DB
	reg    *prometheus.Registry
	logs   *syncBuffer
	tokens map[string]string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, opts ...Option) *harness {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gateway.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return newHarnessOn(t, db, opts...)
}

func newHarnessOn(t *testing.T, db *bolt.DB, opts ...Option) *harness {
	t.Helper()
	store, err := auth.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	reads := newMemReads()
	be := newFakeBackend(reads)
	h := &harness{t: t, be: be, reads: reads, store: store, db: db, reg: prometheus.NewRegistry(),
		logs: &syncBuffer{}, tokens: map[string]string{}}
	logger := slog.New(slog.NewJSONHandler(h.logs, nil))
	a, err := New(Deps{Backend: be, Reads: reads, Principals: store, DB: db},
		append([]Option{WithLogger(logger), WithRegistry(h.reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	h.api = a
	for _, p := range []auth.NewPrincipal{
		{Name: "admin", Role: voucher.RoleSciTech},
		{Name: "fin", Role: voucher.RoleFinance},
		{Name: "aud", Role: voucher.RoleAuditor},
		{Name: "ag-a", Role: voucher.RoleAgency, AgencyID: agencyA},
		{Name: "ag-b", Role: voucher.RoleAgency, AgencyID: agencyB},
	} {
		tok, err := h.token(p)
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[p.Name] = tok
	}
	return h
}

// token returns the token of p, creating p when it does not exist yet.
func (h *harness) token(p auth.NewPrincipal) (string, error) {
	if _, ok, _ := h.store.Get(p.Name); ok {
		return "", fmt.Errorf("principal %s exists; token unknown", p.Name)
	}
	_, tok, err := h.store.Create(context.Background(), p, nil)
	return tok, err
}

// req is one request to send.
type req struct {
	method, path, as string
	body             any // string/[]byte sent as is; anything else as JSON
	header           map[string]string
}

func (h *harness) do(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.as != "" {
		hr.Header.Set("Authorization", "Bearer "+h.tokens[r.as])
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.api.Handler().ServeHTTP(rec, hr)
	return rec
}

// problemOf decodes a problem answer, failing the test when it is not one.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d, Content-Type %q, body %s: not a problem", rec.Code, ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %s: %v", rec.Body, err)
	}
	if p.Status != rec.Code || p.RequestID == "" || p.Type == "" || p.Title == "" {
		t.Fatalf("incomplete problem %+v for status %d", p, rec.Code)
	}
	return p
}

// wantProblem asserts an answer is a problem with status and code.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code voucher.Code) Problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	p := problemOf(t, rec)
	if p.Code != string(code) {
		t.Fatalf("code = %s, want %s; detail %q", p.Code, code, p.Detail)
	}
	return p
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
}

func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return v
}

// seed puts two agencies, certificates and a voucher of each into the read
// model.
func (h *harness) seed() {
	r := h.reads
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range []string{agencyA, agencyB} {
		r.agencies[id] = voucher.AgencyView{Agency: voucher.Agency{ID: id, Name: "agency " + id, Kind: voucher.KindServiceAgency,
			Status: voucher.AgencyActive}, Caps: []voucher.CapUsage{}}
	}
	r.certs["GR202465000001"] = voucher.Certification{CertificateNo: "GR202465000001", EnterpriseID: enterprise1,
		IssuedOn: "2024-06-01", Kind: voucher.CertFirst}
	r.vouchers["V-2024-A1"] = voucher.Voucher{ID: "V-2024-A1", AgencyID: agencyA, EnterpriseID: enterprise1,
		CertificateNo: "GR202465000001", Period: "2024", AmountCNY: "5000.00", Status: voucher.StatusIssued}
	r.vouchers["V-2024-B1"] = voucher.Voucher{ID: "V-2024-B1", AgencyID: agencyB, EnterpriseID: enterprise2,
		CertificateNo: "GR202465000002", Period: "2024", AmountCNY: "5000.00", Status: voucher.StatusIssued}
	r.history["V-2024-A1"] = []voucher.HistoryItem{{TxID: "tx1", At: "2024-07-01T00:00:00Z", Action: "Claim", Actor: "ag-a", Status: voucher.StatusIssued}}
	r.history["V-2024-B1"] = []voucher.HistoryItem{{TxID: "tx2", At: "2024-07-01T00:00:00Z", Action: "Claim", Actor: "ag-b", Status: voucher.StatusIssued}}
}

func principal(name string, role voucher.Role) auth.NewPrincipal {
	return auth.NewPrincipal{Name: name, Role: role}
}

func mustStore(t testing.TB, db *bolt.DB) *auth.Store {
	t.Helper()
	s, err := auth.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }
