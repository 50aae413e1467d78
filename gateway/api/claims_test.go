package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// seedClaimable records n first-time certificates issued in 2024 for agency
// A to claim, and returns their numbers.
func (h *harness) seedClaimable(n int) []string {
	h.reads.mu.Lock()
	defer h.reads.mu.Unlock()
	h.reads.agencies[agencyA] = voucher.AgencyView{Agency: voucher.Agency{ID: agencyA, Status: voucher.AgencyActive}}
	nos := make([]string, n)
	for i := range n {
		nos[i] = fmt.Sprintf("GR202465%06d", i+1)
		h.reads.certs[nos[i]] = voucher.Certification{CertificateNo: nos[i], EnterpriseID: enterprise1,
			IssuedOn: "2024-06-01", Kind: voucher.CertFirst}
	}
	return nos
}

// claimAll sends one claim per certificate at once and counts the answers
// by status.
func (h *harness) claimAll(nos []string) (map[int]int, []*httptest.ResponseRecorder) {
	recs := make([]*httptest.ResponseRecorder, len(nos))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, no := range nos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			recs[i] = h.do(req{method: "POST", path: "/v1/claims", as: "ag-a",
				body: map[string]string{"enterprise_id": enterprise1, "certificate_no": no}})
		}()
	}
	close(start)
	wg.Wait()
	byStatus := map[int]int{}
	for _, r := range recs {
		byStatus[r.Code]++
	}
	return byStatus, recs
}

// TestClaimsCapPrecheck: 40 concurrent claims by one agency with room for
// 20 give exactly 20 vouchers and 20 CAP_EXCEEDED, and the refused 20 never
// reach the ledger.
func TestClaimsCapPrecheck(t *testing.T) {
	h := newHarness(t)
	h.be.fakeClaims()
	nos := h.seedClaimable(40)
	byStatus, recs := h.claimAll(nos)
	if byStatus[http.StatusCreated] != 20 || byStatus[http.StatusUnprocessableEntity] != 20 || len(byStatus) != 2 {
		t.Fatalf("answers by status %v", byStatus)
	}
	for _, r := range recs {
		if r.Code == http.StatusUnprocessableEntity {
			if p := wantProblem(t, r, 422, voucher.CodeCapExceeded); p.Remaining != "0.00" {
				t.Fatalf("remaining %q", p.Remaining)
			}
		} else if r.Header().Get("Location") == "" {
			t.Fatal("201 without Location")
		}
	}
	if n := len(h.be.callsOf("Claim")); n != 20 {
		t.Fatalf("%d claims reached the ledger, want 20", n)
	}
	u, _ := h.reads.Cap(agencyA, "2024")
	if u.UsedCNY != "100000.00" || u.RemainingCNY != "0.00" || u.LiveCount != 20 {
		t.Fatalf("cap %+v", u)
	}
	if h.api.lanes.size() != 0 {
		t.Fatalf("%d lanes left after the claims", h.api.lanes.size())
	}
}

// TestClaimsPrecheckDefersToContract: when the read model cannot judge the
// claim (unknown certificate, other enterprise, renewal, suspended agency),
// the claim goes to the contract even with the cap full.
func TestClaimsPrecheckDefersToContract(t *testing.T) {
	h := newHarness(t)
	h.be.fakeClaims()
	h.seedClaimable(1)
	h.reads.mu.Lock()
	h.reads.caps[agencyA+"|2024"] = voucher.CapUsage{AgencyID: agencyA, Period: "2024", LimitCNY: "100000.00", UsedCNY: "100000.00", RemainingCNY: "0.00"}
	h.reads.certs["GR202465000777"] = voucher.Certification{CertificateNo: "GR202465000777", EnterpriseID: enterprise1, IssuedOn: "2024-06-01", Kind: voucher.CertRenewal}
	h.reads.mu.Unlock()
	contractSaid := voucher.CodeNotEligible
	h.be.handle("Claim", func(_ backend.Caller, _ []byte) ([]byte, error) {
		return nil, &voucher.Error{Code: contractSaid, Message: "contract"}
	})
	for _, body := range []map[string]string{
		{"enterprise_id": enterprise1, "certificate_no": "GR202465999999"}, // unknown to the read model
		{"enterprise_id": enterprise2, "certificate_no": "GR202465000001"}, // another enterprise's
		{"enterprise_id": enterprise1, "certificate_no": "GR202465000777"}, // a renewal
	} {
		rec := h.do(req{method: "POST", path: "/v1/claims", as: "ag-a", body: body})
		wantProblem(t, rec, http.StatusUnprocessableEntity, contractSaid)
	}
	if n := len(h.be.callsOf("Claim")); n != 3 {
		t.Fatalf("%d claims reached the contract, want 3", n)
	}
	// The same claim on a full cap with everything known: the gateway says
	// CAP_EXCEEDED itself.
	rec := h.do(req{method: "POST", path: "/v1/claims", as: "ag-a", body: map[string]string{"enterprise_id": enterprise1, "certificate_no": "GR202465000001"}})
	wantProblem(t, rec, http.StatusUnprocessableEntity, voucher.CodeCapExceeded)
	if n := len(h.be.callsOf("Claim")); n != 3 {
		t.Fatalf("the pre-check let a claim through")
	}
	// A suspended agency: the contract answers AGENCY_SUSPENDED.
	h.reads.mu.Lock()
	ag := h.reads.agencies[agencyA]
	ag.Status = voucher.AgencySuspended
	h.reads.agencies[agencyA] = ag
	h.reads.mu.Unlock()
	contractSaid = voucher.CodeAgencySuspended
	rec = h.do(req{method: "POST", path: "/v1/claims", as: "ag-a", body: map[string]string{"enterprise_id": enterprise1, "certificate_no": "GR202465000001"}})
	wantProblem(t, rec, http.StatusUnprocessableEntity, voucher.CodeAgencySuspended)
	// An agency unknown to the read model: the contract decides.
	h.reads.mu.Lock()
	delete(h.reads.agencies, agencyA)
	h.reads.mu.Unlock()
	contractSaid = voucher.CodeNotFound
	rec = h.do(req{method: "POST", path: "/v1/claims", as: "ag-a", body: map[string]string{"enterprise_id": enterprise1, "certificate_no": "GR202465000001"}})
	wantProblem(t, rec, http.StatusNotFound, voucher.CodeNotFound)
	if n := len(h.be.callsOf("Claim")); n != 5 {
		t.Fatalf("%d claims reached the contract, want 5", n)
	}
}

// TestClaimsPrecheckOutsidePolicyWindows: a certificate issued outside
// every policy window goes to the contract, even with the cap of its year
// full; a stored issue date that is not a date is INVALID_ARGUMENT, as the
// projection's PolicyFor answered it.
func TestClaimsPrecheckOutsidePolicyWindows(t *testing.T) {
	h := newHarness(t)
	h.be.fakeClaims()
	h.seedClaimable(0)
	h.reads.mu.Lock()
	h.reads.caps[agencyA+"|2022"] = voucher.CapUsage{AgencyID: agencyA, Period: "2022", LimitCNY: "100000.00", UsedCNY: "100000.00", RemainingCNY: "0.00"}
	h.reads.certs["GR202265000001"] = voucher.Certification{CertificateNo: "GR202265000001", EnterpriseID: enterprise1, IssuedOn: "2022-06-01", Kind: voucher.CertFirst}
	h.reads.certs["GR202465000002"] = voucher.Certification{CertificateNo: "GR202465000002", EnterpriseID: enterprise1, IssuedOn: "2024-6-1", Kind: voucher.CertFirst}
	h.reads.mu.Unlock()
	h.be.handle("Claim", func(_ backend.Caller, _ []byte) ([]byte, error) {
		return nil, &voucher.Error{Code: voucher.CodeNotEligible, Message: "contract"}
	})
	rec := h.do(req{method: "POST", path: "/v1/claims", as: "ag-a", body: map[string]string{"enterprise_id": enterprise1, "certificate_no": "GR202265000001"}})
	wantProblem(t, rec, http.StatusUnprocessableEntity, voucher.CodeNotEligible)
	rec = h.do(req{method: "POST", path: "/v1/claims", as: "ag-a", body: map[string]string{"enterprise_id": enterprise1, "certificate_no": "GR202465000002"}})
	wantProblem(t, rec, http.StatusBadRequest, voucher.CodeInvalidArgument)
	if n := len(h.be.callsOf("Claim")); n != 1 {
		t.Fatalf("%d claims reached the contract, want 1", n)
	}
}

func TestLanes(t *testing.T) {
	l := newLanes(2)
	ctx := context.Background()
	relA, err := l.acquire(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	// Another key runs in parallel.
	relB, err := l.acquire(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	relB()
	// The same key waits until released.
	got := make(chan func(), 1)
	go func() {
		rel, err := l.acquire(ctx, "A")
		if err != nil {
			t.Error(err)
			return
		}
		got <- rel
	}()
	waitRefs(t, l, "A", 2)
	select {
	case <-got:
		t.Fatal("second holder of lane A while the first holds it")
	default:
	}
	// A cancelled waiter leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	waited := make(chan error, 1)
	go func() { _, err := l.acquire(cctx, "A"); waited <- err }()
	waitRefs(t, l, "A", 3)
	// The queue is full: a fourth is refused at once.
	if _, err := l.acquire(ctx, "A"); voucher.CodeOf(err) != CodeUnavailable {
		t.Fatalf("over the queue bound: %v", err)
	}
	cancel()
	if err := <-waited; voucher.CodeOf(err) != CodeUnavailable {
		t.Fatalf("cancelled waiter: %v", err)
	}
	relA()
	rel2 := <-got
	rel2()
	if l.size() != 0 {
		t.Fatalf("%d lanes left", l.size())
	}
}

func (l *lanes) refs(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ln := l.m[key]; ln != nil {
		return ln.refs
	}
	return 0
}

// waitRefs polls, with a deadline, until key has n holders and waiters.
func waitRefs(t *testing.T, l *lanes, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.refs(key) != n {
		if time.Now().After(deadline) {
			t.Fatalf("refs %d, want %d", l.refs(key), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLanesReuseIdle retires lanes to a bounded idle list and hands them to
// other keys, still one holder at a time.
func TestLanesReuseIdle(t *testing.T) {
	l := newLanes(4)
	ctx := context.Background()
	for i := range maxIdleLanes + 10 {
		rel, err := l.acquire(ctx, fmt.Sprint("k", i))
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	if l.size() != 0 || len(l.idle) != 1 {
		t.Fatalf("size %d, idle %d after sequential use", l.size(), len(l.idle))
	}
	held := make([]func(), 0, maxIdleLanes+10)
	for i := range maxIdleLanes + 10 {
		rel, err := l.acquire(ctx, fmt.Sprint("h", i))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, rel)
	}
	for _, rel := range held {
		rel()
	}
	if l.size() != 0 || len(l.idle) != maxIdleLanes {
		t.Fatalf("size %d, idle %d, want 0 and the bound %d", l.size(), len(l.idle), maxIdleLanes)
	}
	// A reused lane still serialises its key.
	rel, err := l.acquire(ctx, "X")
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan func(), 1)
	go func() {
		r, err := l.acquire(ctx, "X")
		if err != nil {
			t.Error(err)
			return
		}
		second <- r
	}()
	waitRefs(t, l, "X", 2)
	select {
	case <-second:
		t.Fatal("a reused lane let a second holder in")
	default:
	}
	rel()
	(<-second)()
	if l.size() != 0 {
		t.Fatalf("%d lanes left", l.size())
	}
}

// TestRemainingBelow holds the integer-cents comparison of the cap
// pre-check to decimal's on plain and odd amounts.
func TestRemainingBelow(t *testing.T) {
	amounts := []string{"0", "0.00", "0.01", "4999.99", "5000", "5000.0", "5000.00", "5000.01", "95000.00",
		"-1.00", "-0.01", "123456789012345.99", "1234567890123456.00", "1e4", "5000.001", ".5", "5.", "+5", "x", "", "-"}
	for _, r := range amounts {
		for _, u := range amounts {
			rd, err1 := decimal.NewFromString(r)
			ud, err2 := decimal.NewFromString(u)
			want := err1 == nil && err2 == nil && rd.LessThan(ud)
			if got := remainingBelow(r, u); got != want {
				t.Errorf("remainingBelow(%q, %q) = %v, decimal says %v", r, u, got, want)
			}
		}
	}
}
