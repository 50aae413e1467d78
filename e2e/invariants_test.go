package e2e

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
)

// next is DOMAIN.md's voucher diagram, written out here independently of
// the contract's own table:
//
//	claim ──► issued ──redeem──► redemption_requested ──reimburse──► reimbursed
//	             ├──revoke──► revoked
//	             └──reject (also from redemption_requested)──► rejected
var next = map[voucher.Status][]voucher.Status{
	voucher.StatusIssued:              {voucher.StatusRedemptionRequested, voucher.StatusRevoked, voucher.StatusRejected},
	voucher.StatusRedemptionRequested: {voucher.StatusReimbursed, voucher.StatusRejected},
}

// step reports whether to follows from in one transition.
func step(from, to voucher.Status) bool { return slices.Contains(next[from], to) }

// reachable reports whether to follows from in zero or more transitions.
func reachable(from, to voucher.Status) bool {
	if from == to {
		return true
	}
	for _, n := range next[from] {
		if reachable(n, to) {
			return true
		}
	}
	return false
}

// checker checks the programme's invariants through the API after each
// step, as an auditor, over the agencies it tracks:
//   - an agency's live amount in a period is at most its cap, and equals
//     the cap usage the gateway reports;
//   - a certificate backs at most one live voucher;
//   - a voucher's status only moves along DOMAIN.md's diagram, and a
//     voucher once seen never disappears (no acknowledged write is lost).
type checker struct {
	auditor *client.Client

	mu       sync.Mutex
	agencies []string
	last     map[string]voucher.Voucher
}

func newChecker(auditor *client.Client) *checker {
	return &checker{auditor: auditor, last: map[string]voucher.Voucher{}}
}

// track adds agencies whose vouchers the checker follows.
func (c *checker) track(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.agencies = append(c.agencies, ids...)
}

// expect records a voucher acknowledged to a client, so the checker fails
// if it is ever missing.
func (c *checker) expect(v voucher.Voucher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.last[v.ID]; !ok {
		c.last[v.ID] = v
	}
}

// check runs every invariant; after names the step just done.
func (c *checker) check(t *testing.T, after string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	type agencyPeriod struct{ agency, period string }
	live := map[agencyPeriod]decimal.Decimal{}
	liveCount := map[agencyPeriod]int{}
	liveByCert := map[string][]string{}
	seen := map[string]bool{}
	for _, agency := range c.agencies {
		for v, err := range c.auditor.AllVouchers(ctx(t), voucher.ListVouchersArgs{AgencyID: agency, Limit: voucher.MaxPageSize}) {
			if err != nil {
				t.Fatalf("after %s: list vouchers of %s: %v", after, agency, err)
			}
			if v.AgencyID != agency {
				t.Fatalf("after %s: filter agency_id=%s returned voucher %s of %s", after, agency, v.ID, v.AgencyID)
			}
			if seen[v.ID] {
				t.Fatalf("after %s: voucher %s listed twice", after, v.ID)
			}
			seen[v.ID] = true
			if !v.Status.Valid() {
				t.Fatalf("after %s: voucher %s has unknown status %q", after, v.ID, v.Status)
			}
			if prev, ok := c.last[v.ID]; ok && !reachable(prev.Status, v.Status) {
				t.Fatalf("after %s: voucher %s went from %s to %s", after, v.ID, prev.Status, v.Status)
			}
			c.last[v.ID] = v
			if v.Status.Live() {
				amount, err := decimal.NewFromString(v.AmountCNY)
				if err != nil {
					t.Fatalf("after %s: voucher %s amount %q: %v", after, v.ID, v.AmountCNY, err)
				}
				k := agencyPeriod{v.AgencyID, v.Period}
				live[k] = live[k].Add(amount)
				liveCount[k]++
				liveByCert[v.CertificateNo] = append(liveByCert[v.CertificateNo], v.ID)
			}
		}
	}
	for id, v := range c.last {
		if !seen[id] && slices.Contains(c.agencies, v.AgencyID) {
			t.Fatalf("after %s: voucher %s (%s, %s) is missing", after, id, v.CertificateNo, v.Status)
		}
	}
	for cert, ids := range liveByCert {
		if len(ids) > 1 {
			t.Fatalf("after %s: certificate %s backs %d live vouchers %v", after, cert, len(ids), ids)
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(live), func(a, b agencyPeriod) int {
		return cmp.Or(cmp.Compare(a.agency, b.agency), cmp.Compare(a.period, b.period))
	}) {
		u, err := c.auditor.GetCap(ctx(t), k.agency, k.period)
		if err != nil {
			t.Fatalf("after %s: cap of %s in %s: %v", after, k.agency, k.period, err)
		}
		limit, used := mustDecimal(t, u.LimitCNY), mustDecimal(t, u.UsedCNY)
		if live[k].GreaterThan(limit) {
			t.Fatalf("after %s: agency %s has %s live in %s, over its cap %s", after, k.agency, live[k].StringFixed(2), k.period, u.LimitCNY)
		}
		if !used.Equal(live[k]) || u.LiveCount != liveCount[k] {
			t.Fatalf("after %s: agency %s in %s: cap says used %s (%d live), vouchers say %s (%d)",
				after, k.agency, k.period, u.UsedCNY, u.LiveCount, live[k].StringFixed(2), liveCount[k])
		}
		if rem := mustDecimal(t, u.RemainingCNY); !rem.Equal(limit.Sub(used)) {
			t.Fatalf("after %s: agency %s in %s: remaining %s ≠ limit %s − used %s", after, k.agency, k.period, u.RemainingCNY, u.LimitCNY, u.UsedCNY)
		}
	}
}

// checkHistories checks that each tracked voucher's history starts at
// issued, moves one allowed step at a time, and ends at its status.
func (c *checker) checkHistories(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	vouchers := slices.Collect(maps.Values(c.last))
	c.mu.Unlock()
	for _, v := range vouchers {
		h, err := c.auditor.VoucherHistory(ctx(t), v.ID)
		if err != nil {
			t.Fatalf("history of %s: %v", v.ID, err)
		}
		if len(h) == 0 || h[0].Status != voucher.StatusIssued {
			t.Fatalf("history of %s does not start at issued: %+v", v.ID, h)
		}
		for i := 1; i < len(h); i++ {
			if !step(h[i-1].Status, h[i].Status) {
				t.Fatalf("history of %s: step %d goes %s → %s: %+v", v.ID, i, h[i-1].Status, h[i].Status, h)
			}
		}
		if last := h[len(h)-1]; last.Status != v.Status {
			t.Fatalf("history of %s ends at %s, voucher is %s", v.ID, last.Status, v.Status)
		}
	}
}

func mustDecimal(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("money %q: %v", s, err)
	}
	if d.StringFixed(2) != s {
		t.Fatalf("money %q is not written with exactly two decimals", s)
	}
	return d
}
