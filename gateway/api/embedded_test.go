package api

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/backend/embedded"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// These tests run the API on the real embedded ledger, the real contract
// and the real projection, as the gateway binary wires them.

// commitCounter counts what the embedded ledger committed and refused.
type commitCounter struct {
	mu       sync.Mutex
	txs      int
	rejected int
}

func (c *commitCounter) observe(s embedded.CommitStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.txs += s.Txs
	c.rejected += s.Rejected
}

func (c *commitCounter) snapshot() (txs, rejected int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txs, c.rejected
}

type realHarness struct {
	*harness
	ledger  *embedded.Ledger
	proj    *projection.Store
	commits *commitCounter
}

func newRealHarness(t testing.TB) *realHarness {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	commits := &commitCounter{}
	led, err := embedded.Open(ctx, filepath.Join(dir, "ledger"),
		embedded.WithLogger(discardLogger()), embedded.WithCommitObserver(commits.observe))
	if err != nil {
		t.Fatal(err)
	}
	proj, err := projection.Open(filepath.Join(dir, "projection.db"))
	if err != nil {
		t.Fatal(err)
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	followed := make(chan error, 1)
	go func() { followed <- proj.Follow(followCtx, led) }()
	db, err := bolt.Open(filepath.Join(dir, "gateway.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := mustStore(t, db)
	h := &harness{t: t, store: store, db: db, reg: prometheus.NewRegistry(), logs: &syncBuffer{}, tokens: map[string]string{}}
	a, err := New(Deps{Backend: led, Reads: proj, Principals: store, DB: db},
		WithLogger(discardLogger()), WithRegistry(h.reg))
	if err != nil {
		t.Fatal(err)
	}
	h.api = a
	t.Cleanup(func() {
		a.Close()
		stopFollow()
		if err := <-followed; err != nil {
			t.Errorf("projection.Follow: %v", err)
		}
		_ = proj.Close()
		_ = led.Close()
		_ = db.Close()
	})
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
	return &realHarness{harness: h, ledger: led, proj: proj, commits: commits}
}

// submitted is how many transactions of fn the API has submitted to the
// ledger, whatever the contract answered (the commit observer sees only
// batches that wrote a block, so a lone refused claim escapes it).
func (h *realHarness) submitted(fn string) int {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "hongshan_ledger_commit_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "fn" && l.GetValue() == fn {
					n += int(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return n
}

// uscc builds a valid 统一社会信用代码 for Urumqi's high-tech zone from a
// sequence number, computing both check characters (DOMAIN.md).
func uscc(seq int) string {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	org := fmt.Sprintf("%08d", seq)
	sum := 0
	for i, w := range [8]int{3, 7, 9, 10, 5, 8, 4, 2} {
		sum += int(org[i]-'0') * w
	}
	switch c := 11 - sum%11; c {
	case 10:
		org += "X"
	case 11:
		org += "0"
	default:
		org += string(rune('0' + c))
	}
	body := "91650104" + org
	sum = 0
	for i, w := range [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28} {
		sum += strings.IndexByte(alphabet, body[i]) * w
	}
	return body + string(alphabet[(31-sum%31)%31])
}

func TestUSCCGenerator(t *testing.T) {
	for i := range 200 {
		if err := voucher.ValidateUSCC(uscc(i)); err != nil {
			t.Fatalf("uscc(%d) = %s: %v", i, uscc(i), err)
		}
	}
}

// must sends r and requires status.
func (h *harness) must(r req, status int) map[string]any {
	h.t.Helper()
	rec := h.do(r)
	if rec.Code != status {
		h.t.Fatalf("%s %s as %s: status %d, want %d; %s", r.method, r.path, r.as, rec.Code, status, rec.Body)
	}
	return decode[map[string]any](h.t, rec)
}

// setUpAgency registers agency id (once) and gives it n certified
// enterprises it served, returning their (enterprise, certificate) pairs.
func (h *realHarness) setUpAgency(id, principal string, firstSeq, n int) [][2]string {
	h.must(req{method: "POST", path: "/v1/agencies", as: "admin",
		body: map[string]string{"id": id, "name": "机构 " + id[len(id)-4:], "kind": "service_agency"}}, 201)
	out := make([][2]string, n)
	for i := range n {
		ent := uscc(firstSeq + i)
		cert := fmt.Sprintf("GR202465%06d", firstSeq+i)
		h.must(req{method: "POST", path: "/v1/certifications", as: "admin", body: map[string]string{
			"enterprise_id": ent, "enterprise_name": "企业 " + ent[10:], "certificate_no": cert,
			"issued_on": "2024-06-01", "kind": "first"}}, 201)
		h.must(req{method: "POST", path: "/v1/service-records", as: principal, body: map[string]string{
			"enterprise_id": ent, "contract_ref": "HT-" + cert, "started_on": "2024-01-15",
			"evidence_sha256": strings.Repeat("0", 63) + "1"}}, 201)
		out[i] = [2]string{ent, cert}
	}
	return out
}

func claimReq(as string, pair [2]string) req {
	return req{method: "POST", path: "/v1/claims", as: as,
		body: map[string]string{"enterprise_id": pair[0], "certificate_no": pair[1]}}
}

// TestEmbeddedVoucherLife drives a voucher's whole life and the errors of
// each step over the real ledger; every answer is visible to the next read.
func TestEmbeddedVoucherLife(t *testing.T) {
	h := newRealHarness(t)
	a := h.setUpAgency(agencyA, "ag-a", 1, 3)
	b := h.setUpAgency(agencyB, "ag-b", 100, 1)

	v := h.must(claimReq("ag-a", a[0]), 201)
	id := v["id"].(string)
	if v["status"] != "issued" || v["amount"] != "5000.00" || v["agency_id"] != agencyA || v["period"] != "2024" {
		t.Fatalf("voucher %v", v)
	}
	// Read-your-writes: the next GET sees it.
	if got := h.must(req{method: "GET", path: "/v1/vouchers/" + id, as: "ag-a"}, 200); got["status"] != "issued" {
		t.Fatalf("read after claim %v", got)
	}
	wantProblem(t, h.do(claimReq("ag-a", a[0])), 409, voucher.CodeAlreadyClaimed)
	// Reimbursing before redemption is the wrong state.
	wantProblem(t, h.do(req{method: "POST", path: "/v1/vouchers/" + id + "/reimburse", as: "fin",
		body: map[string]string{"payment_ref": "GK2024-1", "amount": "5000.00", "paid_on": today()}}), 409, voucher.CodeInvalidState)
	if got := h.must(req{method: "POST", path: "/v1/vouchers/" + id + "/redeem", as: "ag-a"}, 200); got["status"] != "redemption_requested" {
		t.Fatalf("redeem %v", got)
	}
	wantProblem(t, h.do(req{method: "POST", path: "/v1/vouchers/" + id + "/reimburse", as: "fin",
		body: map[string]string{"payment_ref": "GK2024-1", "amount": "4999.99", "paid_on": today()}}), 422, voucher.CodeAmountMismatch)
	if got := h.must(req{method: "POST", path: "/v1/vouchers/" + id + "/reimburse", as: "fin",
		body: map[string]string{"payment_ref": "GK2024-1", "amount": "5000.00", "paid_on": today()}}, 200); got["status"] != "reimbursed" {
		t.Fatalf("reimburse %v", got)
	}
	// The payment reference is used once only.
	v2 := h.must(claimReq("ag-a", a[1]), 201)
	id2 := v2["id"].(string)
	h.must(req{method: "POST", path: "/v1/vouchers/" + id2 + "/redeem", as: "ag-a"}, 200)
	wantProblem(t, h.do(req{method: "POST", path: "/v1/vouchers/" + id2 + "/reimburse", as: "fin",
		body: map[string]string{"payment_ref": "GK2024-1", "amount": "5000.00", "paid_on": today()}}), 409, voucher.CodeDuplicatePaymentRef)
	if got := h.must(req{method: "POST", path: "/v1/vouchers/" + id2 + "/reject", as: "fin",
		body: map[string]string{"reason": "证明材料不全"}}, 200); got["status"] != "rejected" {
		t.Fatalf("reject %v", got)
	}
	v3 := h.must(claimReq("ag-a", a[2]), 201)
	if got := h.must(req{method: "POST", path: "/v1/vouchers/" + v3["id"].(string) + "/revoke", as: "admin",
		body: map[string]string{"reason": "认定撤销"}}, 200); got["status"] != "revoked" {
		t.Fatalf("revoke %v", got)
	}

	hist := decode[[]voucher.HistoryItem](t, h.do(req{method: "GET", path: "/v1/vouchers/" + id + "/history", as: "aud"}))
	if len(hist) != 3 || hist[0].Status != voucher.StatusIssued || hist[2].Status != voucher.StatusReimbursed {
		t.Fatalf("history %+v", hist)
	}
	// Only the reimbursed voucher counts against the cap now.
	capA := h.must(req{method: "GET", path: "/v1/agencies/" + agencyA + "/cap?period=2024", as: "ag-a"}, 200)
	if capA["used"] != "5000.00" || capA["remaining"] != "95000.00" || capA["limit"] != "100000.00" {
		t.Fatalf("cap %v", capA)
	}
	// Suspension stops claims; reinstatement allows them again.
	h.must(req{method: "POST", path: "/v1/agencies/" + agencyB + "/suspend", as: "admin", body: map[string]string{"reason": "检查"}}, 200)
	wantProblem(t, h.do(claimReq("ag-b", b[0])), 422, voucher.CodeAgencySuspended)
	h.must(req{method: "POST", path: "/v1/agencies/" + agencyB + "/reinstate", as: "admin", body: map[string]string{"reason": "整改完成"}}, 200)
	h.must(claimReq("ag-b", b[0]), 201)

	// Lists and paging on the real projection.
	page := h.must(req{method: "GET", path: "/v1/vouchers?limit=2", as: "aud"}, 200)
	if items := page["items"].([]any); len(items) != 2 || page["next_cursor"] == "" {
		t.Fatalf("page %v", page)
	}
	page2 := h.must(req{method: "GET", path: "/v1/vouchers?limit=2&cursor=" + page["next_cursor"].(string), as: "aud"}, 200)
	if items := page2["items"].([]any); len(items) != 2 || page2["next_cursor"] != "" {
		t.Fatalf("page 2 %v", page2)
	}
	wantProblem(t, h.do(req{method: "GET", path: "/v1/vouchers?cursor=bm90LWEtY3Vyc29y", as: "aud"}), 400, voucher.CodeInvalidArgument)
	if got := h.must(req{method: "GET", path: "/v1/vouchers?status=revoked", as: "aud"}, 200); len(got["items"].([]any)) != 1 {
		t.Fatalf("revoked %v", got)
	}

	// Policy, and the ledger verifies.
	pol := h.must(req{method: "PUT", path: "/v1/policy", as: "admin", body: map[string]any{"unit_reward": "5000.00",
		"cap_per_agency": "100000.00", "cap_scope": "program", "window_from": "2026-03-01", "window_to": "2029-02-28"}}, 200)
	if pol["version"] != float64(2) {
		t.Fatalf("policy %v", pol)
	}
	if got := h.must(req{method: "GET", path: "/v1/policy", as: "ag-a"}, 200); got["version"] != float64(2) {
		t.Fatalf("policy after PUT %v", got)
	}
	if got := h.must(req{method: "GET", path: "/v1/ledger/verify", as: "aud"}, 200); got["ok"] != true {
		t.Fatalf("verify %v", got)
	}
	wantStatus(t, h.do(req{method: "GET", path: "/readyz"}), 200)
}

// TestEmbeddedClaimsCap: 40 concurrent claims by one agency with room for
// 20 → exactly 20 issued, 20 CAP_EXCEEDED, and the 20 refused never reach
// the ledger (the pre-check answered them).
func TestEmbeddedClaimsCap(t *testing.T) {
	h := newRealHarness(t)
	pairs := h.setUpAgency(agencyA, "ag-a", 1, 40)
	txsBefore, rejectedBefore := h.commits.snapshot()
	submittedBefore := h.submitted("Claim")

	recs := make([]int, len(pairs))
	problems := make([]Problem, len(pairs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, pair := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec := h.do(claimReq("ag-a", pair))
			recs[i] = rec.Code
			if rec.Code != http.StatusCreated {
				problems[i] = problemOf(t, rec)
			}
		}()
	}
	close(start)
	wg.Wait()
	byStatus := map[int]int{}
	for i, s := range recs {
		byStatus[s]++
		if s == http.StatusUnprocessableEntity && (problems[i].Code != string(voucher.CodeCapExceeded) || problems[i].Remaining != "0.00") {
			t.Fatalf("422 %+v", problems[i])
		}
	}
	if byStatus[201] != 20 || byStatus[422] != 20 || len(byStatus) != 2 {
		t.Fatalf("answers by status %v", byStatus)
	}
	txs, rejected := h.commits.snapshot()
	if txs-txsBefore != 20 || rejected-rejectedBefore != 0 {
		t.Fatalf("ledger committed %d and refused %d claims; want 20 and 0", txs-txsBefore, rejected-rejectedBefore)
	}
	if n := h.submitted("Claim") - submittedBefore; n != 20 {
		t.Fatalf("%d claims reached the ledger, want 20 (the pre-check answers the rest)", n)
	}
	capA := h.must(req{method: "GET", path: "/v1/agencies/" + agencyA + "/cap?period=2024", as: "admin"}, 200)
	if capA["used"] != "100000.00" || capA["remaining"] != "0.00" || capA["live_count"] != float64(20) {
		t.Fatalf("cap %v", capA)
	}
	list := h.must(req{method: "GET", path: "/v1/vouchers?agency_id=" + agencyA + "&limit=500", as: "fin"}, 200)
	if n := len(list["items"].([]any)); n != 20 {
		t.Fatalf("%d vouchers listed", n)
	}
}

// TestEmbeddedPrecheckFollowsPolicy: the pre-check judges by the policy
// version in force once a new one is set (its policy cache does not keep
// the old one). With 5,000.00 left and a new unit reward of 6,000.00 for
// the certificate's date, the next claim is CAP_EXCEEDED from the
// pre-check, and the contract refuses nothing.
func TestEmbeddedPrecheckFollowsPolicy(t *testing.T) {
	h := newRealHarness(t)
	pairs := h.setUpAgency(agencyA, "ag-a", 1, 20)
	for _, pair := range pairs[:19] {
		h.must(claimReq("ag-a", pair), 201)
	}
	h.must(req{method: "PUT", path: "/v1/policy", as: "admin", body: map[string]any{"unit_reward": "6000.00",
		"cap_per_agency": "100000.00", "cap_scope": "year", "window_from": "2024-01-01", "window_to": "2027-12-31"}}, 200)
	submittedBefore := h.submitted("Claim")
	rec := h.do(claimReq("ag-a", pairs[19]))
	if p := wantProblem(t, rec, http.StatusUnprocessableEntity, voucher.CodeCapExceeded); p.Remaining != "5000.00" {
		t.Fatalf("remaining %q, want 5000.00", p.Remaining)
	}
	if n := h.submitted("Claim") - submittedBefore; n != 0 {
		t.Fatal("the claim reached the ledger: the pre-check judged it by the old policy")
	}
}

// TestEmbeddedAgencyIsolation: agency A cannot read, list or redeem B's
// vouchers, and its attempts never reach the ledger.
func TestEmbeddedAgencyIsolation(t *testing.T) {
	h := newRealHarness(t)
	a := h.setUpAgency(agencyA, "ag-a", 1, 1)
	b := h.setUpAgency(agencyB, "ag-b", 100, 1)
	va := h.must(claimReq("ag-a", a[0]), 201)["id"].(string)
	vb := h.must(claimReq("ag-b", b[0]), 201)["id"].(string)
	txsBefore, rejectedBefore := h.commits.snapshot()

	for _, r := range []req{
		{method: "GET", path: "/v1/vouchers/" + vb, as: "ag-a"},
		{method: "GET", path: "/v1/vouchers/" + vb + "/history", as: "ag-a"},
		{method: "POST", path: "/v1/vouchers/" + vb + "/redeem", as: "ag-a"},
		{method: "GET", path: "/v1/agencies/" + agencyB, as: "ag-a"},
		{method: "GET", path: "/v1/agencies/" + agencyB + "/cap?period=2024", as: "ag-a"},
	} {
		rec := h.do(r)
		wantProblem(t, rec, http.StatusNotFound, voucher.CodeNotFound)
		if strings.Contains(rec.Body.String(), b[0][0]) {
			t.Fatalf("%s %s leaks B's data: %s", r.method, r.path, rec.Body)
		}
	}
	list := h.must(req{method: "GET", path: "/v1/vouchers", as: "ag-a"}, 200)
	items := list["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != va {
		t.Fatalf("A lists %v", items)
	}
	if got := h.must(req{method: "GET", path: "/v1/vouchers?agency_id=" + agencyB, as: "ag-a"}, 200); len(got["items"].([]any)) != 0 {
		t.Fatalf("A lists B's vouchers %v", got)
	}
	ags := h.must(req{method: "GET", path: "/v1/agencies", as: "ag-a"}, 200)["items"].([]any)
	if len(ags) != 1 || ags[0].(map[string]any)["id"] != agencyA {
		t.Fatalf("A lists agencies %v", ags)
	}
	// B's voucher is untouched.
	if got := h.must(req{method: "GET", path: "/v1/vouchers/" + vb, as: "ag-b"}, 200); got["status"] != "issued" {
		t.Fatalf("B's voucher %v", got)
	}
	if txs, rejected := h.commits.snapshot(); txs != txsBefore || rejected != rejectedBefore {
		t.Fatalf("isolation probes reached the ledger: %d txs, %d refused", txs-txsBefore, rejected-rejectedBefore)
	}
}

// TestEmbeddedIdempotentClaim replays a claim over the real ledger: one
// voucher, the same answer twice.
func TestEmbeddedIdempotentClaim(t *testing.T) {
	h := newRealHarness(t)
	a := h.setUpAgency(agencyA, "ag-a", 1, 1)
	r := claimReq("ag-a", a[0])
	r.header = map[string]string{HeaderIdempotencyKey: "claim-1"}
	first := h.do(r)
	wantStatus(t, first, 201)
	again := h.do(r)
	wantStatus(t, again, 201)
	if again.Body.String() != first.Body.String() || again.Header().Get(HeaderReplayed) != "true" ||
		again.Header().Get("Location") != first.Header().Get("Location") {
		t.Fatalf("replay differs: %s vs %s", again.Body, first.Body)
	}
	list := h.must(req{method: "GET", path: "/v1/vouchers", as: "ag-a"}, 200)
	if n := len(list["items"].([]any)); n != 1 {
		t.Fatalf("%d vouchers after a replayed claim", n)
	}
}

var _ backend.Backend = (*embedded.Ledger)(nil)

// today is the Beijing calendar date, the contract's "now" for paid_on.
func today() string { return time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly) }
