package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// BenchmarkClaimsEmbedded fires claims at the API in-process (no HTTP) on
// the real embedded ledger and projection from 64 goroutines spread over
// agencies with room to spare, to profile the gateway's own share of a
// claim: go test -run '^$' -bench ClaimsEmbedded -cpuprofile cpu.out ./gateway/api
func BenchmarkClaimsEmbedded(b *testing.B) {
	const agencies, clients = 50, 64
	h := newRealHarness(b)
	perAgency := (b.N + agencies - 1) / agencies
	if perAgency > 20 {
		b.Skipf("b.N=%d needs more than 20 claims per agency", b.N)
	}
	perAgencyWork := make([][][2]string, agencies)
	names := make([]string, agencies)
	for i := range agencies {
		id := uscc(900000 + i)
		name := fmt.Sprintf("ag-%d", i)
		tok, err := h.token(auth.NewPrincipal{Name: name, Role: voucher.RoleAgency, AgencyID: id})
		if err != nil {
			b.Fatal(err)
		}
		h.tokens[name] = tok
		perAgencyWork[i], names[i] = h.setUpAgency(id, name, 1000*(i+1), perAgency), name
	}
	// Interleave the agencies, as independent clients would.
	var work [][2]string
	var as []string
	for j := range perAgency {
		for i := range agencies {
			if j < len(perAgencyWork[i]) {
				work, as = append(work, perAgencyWork[i][j]), append(as, names[i])
			}
		}
	}
	var next atomic.Int64
	var failed atomic.Int64
	cpu := processCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if rec := h.do(claimReq(as[i], work[i])); rec.Code != 201 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	// Process CPU (ledger, projection and API, GC included) is steadier
	// than wall time on a shared machine.
	cpuPerClaim := processCPU() - cpu
	if failed.Load() > 0 {
		b.Fatalf("%d claims failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	b.ReportMetric(float64(cpuPerClaim.Microseconds())/float64(b.N), "cpu-µs/claim")
	// The ledger's share of a claim's time, from the gateway's own metrics.
	mfs, err := h.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			hist := m.GetHistogram()
			if hist == nil || hist.GetSampleCount() == 0 {
				continue
			}
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + " "
			}
			avgMS := hist.GetSampleSum() / float64(hist.GetSampleCount()) * 1000
			switch {
			case strings.Contains(labels, "fn=Claim "):
				b.ReportMetric(avgMS, "submit_ms/claim")
			case strings.Contains(labels, "route=/v1/claims "):
				b.ReportMetric(avgMS, "answer_ms/claim")
			}
		}
	}
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stubLedger is a backend and read model that answer every claim at once
// from fixed data, so BenchmarkClaimHTTPPath measures only the API's own
// work: routing, authentication, idempotency, the lane, the cap pre-check,
// decoding, the answer, metrics and the access log.
type stubLedger struct {
	block   atomic.Uint64
	payload []byte
	certs   map[string]voucher.Certification // read-only after set-up
	policy  voucher.Policy
}

func (s *stubLedger) Name() string { return "stub" }
func (s *stubLedger) Submit(context.Context, backend.Caller, string, []byte) (backend.Receipt, error) {
	n := s.block.Add(1)
	return backend.Receipt{TxID: "tx", BlockNumber: n, Payload: s.payload}, nil
}
func (s *stubLedger) Evaluate(context.Context, backend.Caller, string, []byte) ([]byte, error) {
	return nil, errors.New("stub: no Evaluate")
}
func (s *stubLedger) Blocks(context.Context, uint64) (<-chan backend.Block, func() error) {
	ch := make(chan backend.Block)
	close(ch)
	return ch, func() error { return nil }
}
func (s *stubLedger) Info(context.Context) (backend.Info, error) {
	return backend.Info{Height: s.block.Load() + 1}, nil
}
func (s *stubLedger) Verify(context.Context, backend.Progress) (backend.VerifyResult, error) {
	return backend.VerifyResult{OK: true}, nil
}
func (s *stubLedger) Enroll(context.Context, backend.Caller) error { return nil }
func (s *stubLedger) Close() error                                 { return nil }

func (s *stubLedger) WaitFor(context.Context, uint64) error { return nil }
func (s *stubLedger) Head() (uint64, string)                { return s.block.Load() + 1, "head" }
func (s *stubLedger) Policy() (voucher.Policy, error)       { return s.policy, nil }
func (s *stubLedger) PolicyFor(issuedOn string) (voucher.Policy, bool, error) {
	return s.policy, s.policy.Covers(issuedOn), nil
}
func (s *stubLedger) Agency(id string) (voucher.AgencyView, bool, error) {
	return voucher.AgencyView{Agency: voucher.Agency{ID: id, Status: voucher.AgencyActive}}, true, nil
}
func (s *stubLedger) Agencies(int, string) (voucher.Page[voucher.AgencyView], error) {
	return voucher.Page[voucher.AgencyView]{}, nil
}
func (s *stubLedger) Cap(agencyID, period string) (voucher.CapUsage, error) {
	return voucher.CapUsage{AgencyID: agencyID, Period: period, LimitCNY: "100000.00", UsedCNY: "5000.00",
		RemainingCNY: "95000.00"}, nil
}
func (s *stubLedger) Certification(no string) (voucher.Certification, bool, error) {
	c, ok := s.certs[no]
	return c, ok, nil
}
func (s *stubLedger) ClaimFacts(agencyID, certNo string) (projection.ClaimFacts, error) {
	c, ok := s.certs[certNo]
	if !ok {
		return projection.ClaimFacts{}, nil
	}
	f := projection.ClaimFacts{Certification: c, CertificationKnown: true,
		Agency: voucher.Agency{ID: agencyID, Status: voucher.AgencyActive}, AgencyKnown: true}
	if f.PolicyKnown = s.policy.Covers(c.IssuedOn); f.PolicyKnown {
		f.Policy, f.Period = s.policy, s.policy.PeriodOf(c.IssuedOn)
		f.Cap, _ = s.Cap(agencyID, f.Period)
	}
	return f, nil
}
func (s *stubLedger) Voucher(string) (voucher.Voucher, bool, error) {
	return voucher.Voucher{}, false, nil
}
func (s *stubLedger) Vouchers(voucher.ListVouchersArgs) (voucher.Page[voucher.Voucher], error) {
	return voucher.Page[voucher.Voucher]{}, nil
}
func (s *stubLedger) VoucherHistory(string) ([]voucher.HistoryItem, error) { return nil, nil }

// discardWriter is a reusable http.ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

// BenchmarkClaimHTTPPath is the API's own cost of one successful claim
// (POST /v1/claims from handler entry to the written answer) over a stub
// ledger that answers at once, from 500 agencies, with the JSON access log
// formatted and discarded as in production. Set idem=key to send an
// Idempotency-Key with each claim:
// go test -run '^$' -bench ClaimHTTPPath -benchmem ./gateway/api
func BenchmarkClaimHTTPPath(b *testing.B) {
	for _, withKey := range []bool{false, true} {
		name := "no-key"
		if withKey {
			name = "idempotency-key"
		}
		b.Run(name, func(b *testing.B) { benchClaimHTTPPath(b, withKey) })
	}
}

func benchClaimHTTPPath(b *testing.B, withKey bool) {
	const agencies, certsPerAgency = 500, 20
	db, err := bolt.Open(filepath.Join(b.TempDir(), "gateway.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	store := mustStore(b, db)
	stub := &stubLedger{certs: map[string]voucher.Certification{}, policy: voucher.DefaultPolicy()}
	v := voucher.Voucher{ID: "V-2024-000001", AgencyID: uscc(900000), EnterpriseID: uscc(1), CertificateNo: "GR202465000001",
		Period: "2024", AmountCNY: "5000.00", Status: voucher.StatusIssued, IssuedAt: "2024-07-01T00:00:00Z"}
	if stub.payload, err = json.Marshal(v); err != nil {
		b.Fatal(err)
	}
	a, err := New(Deps{Backend: stub, Reads: stub, Principals: store, DB: db},
		WithLogger(discardLogger()), WithRegistry(prometheus.NewRegistry()))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	type claimant struct {
		auth   string
		bodies [][]byte
	}
	cs := make([]claimant, agencies)
	for i := range cs {
		_, tok, err := store.Create(context.Background(), auth.NewPrincipal{Name: fmt.Sprintf("ag-%d", i),
			Role: voucher.RoleAgency, AgencyID: uscc(900000 + i)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		cs[i].auth = "Bearer " + tok
		for j := range certsPerAgency {
			seq := 1000*(i+1) + j
			ent, cert := uscc(seq), fmt.Sprintf("GR202465%06d", seq)
			stub.certs[cert] = voucher.Certification{CertificateNo: cert, EnterpriseID: ent, IssuedOn: "2024-06-01", Kind: voucher.CertFirst}
			cs[i].bodies = append(cs[i].bodies, []byte(`{"enterprise_id":"`+ent+`","certificate_no":"`+cert+`"}`))
		}
	}
	u, _ := url.Parse("/v1/claims")
	h := a.Handler()
	var next, failed, keys atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			i := int(next.Add(1))
			c := cs[i%agencies]
			body := c.bodies[(i/agencies)%certsPerAgency]
			hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {c.auth}}
			if withKey {
				hdr["Idempotency-Key"] = []string{strconv.FormatInt(keys.Add(1), 10)}
			}
			r := &http.Request{Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
				Host: "127.0.0.1", RemoteAddr: "127.0.0.1:40000", RequestURI: "/v1/claims"}
			clear(w.h)
			w.status = 0
			h.ServeHTTP(w, r)
			if w.status != http.StatusCreated {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d claims were not 201", n, b.N)
	}
}
