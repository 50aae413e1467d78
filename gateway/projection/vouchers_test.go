package projection

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

var allStatuses = []voucher.Status{voucher.StatusIssued, voucher.StatusRedemptionRequested, voucher.StatusReimbursed, voucher.StatusRejected, voucher.StatusRevoked}

// populate applies vouchers across agencies, periods and every status, and
// returns the expected state by id. Agency 1 is big, agency 3 small, so the
// index choice differs between filter combinations.
func populate(t *testing.T, s *Store) map[string]voucher.Voucher {
	t.Helper()
	want, _ := populateChain(t, s)
	return want
}

// populateChain is populate, also returning the chain to extend.
func populateChain(t *testing.T, s *Store) (map[string]voucher.Voucher, *chain) {
	t.Helper()
	c := newChain(t)
	want := map[string]voucher.Voucher{}
	perAgency := map[int]int{1: 120, 2: 60, 3: 12}
	c.block(agencyEvent(agencyID(1), "一"), agencyEvent(agencyID(2), "二"), agencyEvent(agencyID(3), "三"))
	n := 0
	for a := 1; a <= 3; a++ {
		var issue, moves []voucher.Event
		for i := 0; i < perAgency[a]; i++ {
			n++
			period := []string{"2023", "2024", "2025"}[n%3]
			// ids interleave agencies so id order differs from agency order
			v := newVoucher(fmt.Sprintf("V-%s-%016x", period, (n*7919)%100003), agencyID(a), period)
			issue = append(issue, issueEvent(v, capUsage(v.AgencyID, period, "5000.00", "95000.00", 1)))
			to := allStatuses[n%len(allStatuses)]
			if to != voucher.StatusIssued {
				moves = append(moves, moveEvent(v, to, "Voucher"+string(to), "Move"))
				v.Status, v.LastAction = to, "Move"
				if to == voucher.StatusRedemptionRequested {
					v.RedemptionRequestedAt = at(9)
				}
			}
			want[v.ID] = v
		}
		c.block(issue...)
		c.block(moves...)
	}
	mustApply(t, s, c.blocks...)
	return want, c
}

// pageAll follows the cursor to the end and returns the ids in order.
func pageAll(t *testing.T, s *Store, f voucher.ListVouchersArgs, want map[string]voucher.Voucher) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("Vouchers(%+v): no end after 1000 pages", f)
		}
		page, err := s.Vouchers(f)
		if err != nil {
			t.Fatalf("Vouchers(%+v): %v", f, err)
		}
		limit := clampLimit(f.Limit)
		if len(page.Items) > limit {
			t.Fatalf("Vouchers(%+v) returned %d items, over the limit %d", f, len(page.Items), limit)
		}
		for _, v := range page.Items {
			if v != want[v.ID] {
				t.Fatalf("Vouchers(%+v) item %+v, stored %+v", f, v, want[v.ID])
			}
			ids = append(ids, v.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		if len(page.Items) < limit && maxScan > 1000 {
			t.Fatalf("Vouchers(%+v): a short page (%d of %d) with a cursor", f, len(page.Items), limit)
		}
		f.Cursor = page.NextCursor
	}
}

func checkEveryCombination(t *testing.T, s *Store, want map[string]voucher.Voucher, limits []int) {
	t.Helper()
	agencies := []string{"", agencyID(1), agencyID(2), agencyID(3), agencyID(9)}
	statuses := append([]voucher.Status{""}, allStatuses...)
	periods := []string{"", "2023", "2024", "2025", "1999"}
	for _, a := range agencies {
		for _, st := range statuses {
			for _, p := range periods {
				var expect []string
				for id, v := range want {
					if (a == "" || v.AgencyID == a) && (st == "" || v.Status == st) && (p == "" || v.Period == p) {
						expect = append(expect, id)
					}
				}
				slices.Sort(expect)
				for _, limit := range limits {
					f := voucher.ListVouchersArgs{AgencyID: a, Status: st, Period: p, Limit: limit}
					got := pageAll(t, s, f, want)
					sorted := slices.Clone(got)
					slices.Sort(sorted)
					if !slices.Equal(sorted, expect) || len(slices.Compact(sorted)) != len(got) {
						t.Fatalf("Vouchers(%+v) visited %d ids, want each of %d exactly once", f, len(got), len(expect))
					}
				}
			}
		}
	}
}

func TestPagingVisitsEveryVoucherOnce(t *testing.T) {
	s, _ := openTemp(t)
	want := populate(t, s)
	checkEveryCombination(t, s, want, []int{1, 7, 0, 1000})
}

func TestPagingWithAScanBudget(t *testing.T) {
	s, _ := openTemp(t)
	want := populate(t, s)
	old := maxScan
	maxScan = 5
	defer func() { maxScan = old }()
	checkEveryCombination(t, s, want, []int{3})
}

func TestLimitIsClamped(t *testing.T) {
	s, _ := openTemp(t)
	populate(t, s)
	for limit, want := range map[int]int{-5: DefaultLimit, 0: DefaultLimit, 1: 1, 120: 120, 10000: 192} {
		page, err := s.Vouchers(voucher.ListVouchersArgs{Limit: limit})
		if err != nil || len(page.Items) != want {
			t.Errorf("Vouchers(limit %d) = %d items, %v; want %d", limit, len(page.Items), err, want)
		}
	}
	if MaxLimit != 500 {
		t.Fatalf("MaxLimit = %d", MaxLimit)
	}
}

func TestStatusIndexFollowsTransitions(t *testing.T) {
	s, _ := openTemp(t)
	c := newChain(t)
	a := agencyID(1)
	v := newVoucher("V-2024-00000000000000aa", a, "2024")
	c.block(issueEvent(v, capUsage(a, "2024", "5000.00", "95000.00", 1)))
	mustApply(t, s, c.blocks...)
	listed := func(st voucher.Status, period string) bool {
		t.Helper()
		page, err := s.Vouchers(voucher.ListVouchersArgs{Status: st, Period: period})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items) == 1 && page.Items[0].ID == v.ID && page.Items[0].Status == st
	}
	if !listed(voucher.StatusIssued, "") || !listed(voucher.StatusIssued, "2024") {
		t.Fatal("issued voucher not listed under issued")
	}
	mustApply(t, s, c.block(moveEvent(v, voucher.StatusRedemptionRequested, voucher.EventRedemptionRequested, "Redeem")))
	if listed(voucher.StatusIssued, "") || listed(voucher.StatusIssued, "2024") {
		t.Fatal("redeemed voucher still listed under issued")
	}
	if !listed(voucher.StatusRedemptionRequested, "") || !listed(voucher.StatusRedemptionRequested, "2024") {
		t.Fatal("redeemed voucher not listed under redemption_requested")
	}
	st, _ := s.Stats()
	if st.VouchersByStatus[voucher.StatusIssued] != 0 || st.VouchersByStatus[voucher.StatusRedemptionRequested] != 1 || st.Vouchers != 1 {
		t.Fatalf("Stats after the transition = %+v", st)
	}
	// The period index carries the status too: a period listing filtered
	// by status follows the move.
	page, _ := s.Vouchers(voucher.ListVouchersArgs{Period: "2024", AgencyID: a, Status: voucher.StatusIssued})
	if len(page.Items) != 0 {
		t.Fatalf("period+status listing still has the old status: %+v", page.Items)
	}
}

func TestCursorKeepsItsIndexWhenCountsChange(t *testing.T) {
	s, _ := openTemp(t)
	want, c := populateChain(t, s)
	// Agency 3 (12 vouchers) is more selective than "issued" now.
	f := voucher.ListVouchersArgs{AgencyID: agencyID(3), Status: voucher.StatusIssued, Limit: 1}
	first, err := s.Vouchers(f)
	if err != nil || len(first.Items) != 1 || first.NextCursor == "" {
		t.Fatalf("first page = %+v %v", first, err)
	}
	if kind, _, _ := decodeCursor(first.NextCursor); kind != cursorVouchers {
		t.Fatalf("first page chose index %q, want the agency index", kind)
	}
	// Make agency 3 the biggest, so a fresh choice takes the status index;
	// the cursor must still continue the agency scan.
	var more []voucher.Event
	for i := 0; i < 300; i++ {
		v := newVoucher(fmt.Sprintf("V-2024-%016x", 500000+i), agencyID(3), "2024")
		v.Status = voucher.StatusRevoked
		more = append(more, issueEvent(v, capUsage(v.AgencyID, "2024", "0.00", "100000.00", 0)))
		want[v.ID] = v
	}
	mustApply(t, s, c.block(more...))
	fresh, err := s.Vouchers(voucher.ListVouchersArgs{AgencyID: agencyID(3), Status: voucher.StatusIssued, Limit: 1})
	if kind, _, _ := decodeCursor(fresh.NextCursor); err != nil || kind != cursorByStatus {
		t.Fatalf("fresh first page chose index %q (%v), want the status index", kind, err)
	}
	f.Cursor = first.NextCursor
	rest := pageAll(t, s, f, want)
	var expect []string
	for id, v := range want {
		if v.AgencyID == agencyID(3) && v.Status == voucher.StatusIssued && id != first.Items[0].ID {
			expect = append(expect, id)
		}
	}
	slices.Sort(expect)
	slices.Sort(rest)
	if len(expect) == 0 || !slices.Equal(rest, expect) {
		t.Fatalf("pages after the first = %v, want %v", rest, expect)
	}
}

func TestMalformedCursorsAreRejected(t *testing.T) {
	s, _ := openTemp(t)
	populate(t, s)
	byStatus, err := s.Vouchers(voucher.ListVouchersArgs{Status: voucher.StatusIssued, Limit: 1})
	if err != nil || byStatus.NextCursor == "" {
		t.Fatalf("status page = %+v %v", byStatus, err)
	}
	agencies, err := s.Agencies(1, "")
	if err != nil || agencies.NextCursor == "" {
		t.Fatalf("agencies page = %+v %v", agencies, err)
	}
	long := make([]byte, 2000)
	for _, tc := range []struct {
		name   string
		f      voucher.ListVouchersArgs
		cursor string
	}{
		{"not base64", voucher.ListVouchersArgs{}, "%%%"},
		{"too short", voucher.ListVouchersArgs{}, base64.RawURLEncoding.EncodeToString([]byte("v"))},
		{"unknown kind", voucher.ListVouchersArgs{}, base64.RawURLEncoding.EncodeToString([]byte("zkey"))},
		{"too long", voucher.ListVouchersArgs{}, base64.RawURLEncoding.EncodeToString(long)},
		{"status cursor without status filter", voucher.ListVouchersArgs{}, byStatus.NextCursor},
		{"status cursor for another status", voucher.ListVouchersArgs{Status: voucher.StatusRevoked}, byStatus.NextCursor},
		{"agency cursor on vouchers", voucher.ListVouchersArgs{}, agencies.NextCursor},
		{"voucher cursor of another agency", voucher.ListVouchersArgs{AgencyID: agencyID(2)}, base64.RawURLEncoding.EncodeToString(append([]byte{'v'}, join(agencyID(1), "V-x")...))},
	} {
		tc.f.Cursor = tc.cursor
		_, err := s.Vouchers(tc.f)
		if !errors.Is(err, ErrBadCursor) || voucher.CodeOf(err) != voucher.CodeInvalidArgument {
			t.Errorf("%s: Vouchers error = %v, want ErrBadCursor (INVALID_ARGUMENT)", tc.name, err)
		}
	}
	if _, err := s.Agencies(1, byStatus.NextCursor); !errors.Is(err, ErrBadCursor) {
		t.Errorf("Agencies(voucher cursor) = %v, want ErrBadCursor", err)
	}
	if _, err := s.Agencies(1, "!!"); !errors.Is(err, ErrBadCursor) {
		t.Errorf("Agencies(garbage) = %v, want ErrBadCursor", err)
	}
}
