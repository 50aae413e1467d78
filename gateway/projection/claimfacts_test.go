package projection

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

func policyEvent(p voucher.Policy) voucher.Event {
	return voucher.Event{Type: voucher.EventPolicySet, Actor: "sci@HongshanEmbeddedMSP", Policy: &p}
}

// factsByFourCalls is ClaimFacts' definition: what the pre-check read
// before it, one call (one read transaction) per part.
func factsByFourCalls(t *testing.T, s *Store, agencyID, certNo string) ClaimFacts {
	t.Helper()
	var f ClaimFacts
	var err error
	if f.Certification, f.CertificationKnown, err = s.Certification(certNo); err != nil {
		t.Fatal(err)
	}
	if !f.CertificationKnown {
		return f
	}
	av, ok, err := s.Agency(agencyID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Agency, f.AgencyKnown = av.Agency, ok; !ok {
		return f
	}
	f.Policy, f.PolicyKnown, err = s.PolicyFor(f.Certification.IssuedOn)
	if voucher.CodeOf(err) == voucher.CodeInvalidArgument {
		return ClaimFacts{Certification: f.Certification, CertificationKnown: true, Agency: f.Agency, AgencyKnown: true}
	}
	if err != nil {
		t.Fatal(err)
	}
	if !f.PolicyKnown {
		return f
	}
	f.Period = f.Policy.PeriodOf(f.Certification.IssuedOn)
	if f.Cap, err = s.Cap(agencyID, f.Period); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestClaimFactsEqualsFourCalls compares ClaimFacts with Certification,
// Agency, PolicyFor and Cap for every combination of known, unknown and
// suspended agencies and certificates inside, between and outside policy
// windows, under year and programme scopes, as policies are added.
func TestClaimFactsEqualsFourCalls(t *testing.T) {
	s, _ := openTemp(t)
	c := newChain(t)
	a, b, suspended := agencyID(1), agencyID(2), agencyID(3)
	susp := voucher.Agency{ID: suspended, Name: "停", Kind: voucher.KindServiceAgency, Status: voucher.AgencySuspended, Reason: "audit", RegisteredAt: at(0), UpdatedAt: at(4)}
	c.block(agencyEvent(a, "甲"), agencyEvent(b, "乙"), agencyEvent(suspended, "停"),
		voucher.Event{Type: voucher.EventAgencySuspended, Actor: "sci@HongshanEmbeddedMSP", Agency: &susp})
	certs := map[string]string{ // certificate → issue date
		"GR202465000001": "2024-03-01", // policy 1
		"GR202265000002": "2022-06-01", // before every window
		"GR202765000003": "2027-05-01", // policy 2, then 3
		"GR202665000004": "2026-02-28", // last day of policy 1
		"GR202565000005": "2025-13-01", // not a date (the contract never stores one)
	}
	var evs []voucher.Event
	for no, date := range certs {
		evs = append(evs, certEvent(no, "E1", date))
	}
	c.block(evs...)
	v := newVoucher("V-2024-00000000000a0001", a, "2024")
	c.block(issueEvent(v, capUsage(a, "2024", "5000.00", "95000.00", 1)))
	mustApply(t, s, c.blocks...)

	compare := func(stage string) {
		t.Helper()
		for _, ag := range []string{a, b, suspended, agencyID(99), ""} {
			for _, no := range []string{"GR202465000001", "GR202265000002", "GR202765000003", "GR202665000004", "GR202565000005", "GR209965000009", ""} {
				got, err := s.ClaimFacts(ag, no)
				if err != nil {
					t.Fatalf("%s: ClaimFacts(%s, %s): %v", stage, ag, no, err)
				}
				if want := factsByFourCalls(t, s, ag, no); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: ClaimFacts(%s, %s) =\n%+v\nwant\n%+v", stage, ag, no, got, want)
				}
			}
		}
	}
	compare("default policy")
	if f, _ := s.ClaimFacts(a, "GR202465000001"); !f.PolicyKnown || f.Policy.Version != 1 || f.Period != "2024" || f.Cap.RemainingCNY != "95000.00" {
		t.Fatalf("ClaimFacts(a, 2024 certificate) = %+v", f)
	}
	if f, _ := s.ClaimFacts(suspended, "GR202465000001"); !f.AgencyKnown || f.Agency.Status != voucher.AgencySuspended {
		t.Fatalf("ClaimFacts(suspended, …) = %+v", f)
	}

	mustApply(t, s, c.block(policyEvent(voucher.Policy{Version: 2, UnitRewardCNY: "6000.00", CapPerAgencyCNY: "120000.00",
		CapScope: voucher.CapScopeYear, WindowFrom: "2026-03-01", WindowTo: "2029-02-28", StaleAfterDays: 90})))
	compare("policy 2 (year)")
	mustApply(t, s, c.block(policyEvent(voucher.Policy{Version: 3, UnitRewardCNY: "7000.00", CapPerAgencyCNY: "140000.00",
		CapScope: voucher.CapScopeProgram, WindowFrom: "2027-01-01", WindowTo: "2030-12-31", StaleAfterDays: 90})))
	compare("policy 3 (programme)")
	if f, _ := s.ClaimFacts(a, "GR202765000003"); f.Policy.Version != 3 || f.Period != voucher.ProgramPeriod || f.Cap.LimitCNY != "140000.00" {
		t.Fatalf("ClaimFacts under the programme policy = %+v", f)
	}
}

// TestPolicyCacheFollowsPolicyEvents: a new policy version applied is
// seen by the next read (the cache holds the old versions until then),
// and a block without a policy keeps the cache.
func TestPolicyCacheFollowsPolicyEvents(t *testing.T) {
	s, _ := openTemp(t)
	c := newChain(t)
	a := agencyID(1)
	c.block(agencyEvent(a, "甲"), certEvent("GR202465000001", "E1", "2024-03-01"))
	mustApply(t, s, c.blocks...)

	f, err := s.ClaimFacts(a, "GR202465000001")
	if err != nil || f.Policy != voucher.DefaultPolicy() || f.Cap.LimitCNY != "100000.00" {
		t.Fatalf("ClaimFacts before any SetPolicy = %+v, %v", f, err)
	}
	cached := s.policyCache.Load()
	if cached == nil || len(cached.all) != 1 {
		t.Fatalf("policy cache after a read = %+v, want the default version", cached)
	}
	mustApply(t, s, c.block(certEvent("GR202465000002", "E2", "2024-04-01")))
	if s.policyCache.Load() != cached {
		t.Fatal("a block without a policy dropped the policy cache")
	}
	if _, err := s.ClaimFacts(a, "GR202465000002"); err != nil || s.policyCache.Load() != cached {
		t.Fatalf("a read without a policy change replaced the cache (%v)", err)
	}

	p2 := voucher.Policy{Version: 2, UnitRewardCNY: "4000.00", CapPerAgencyCNY: "80000.00", CapScope: voucher.CapScopeYear,
		WindowFrom: "2024-01-01", WindowTo: "2027-12-31", StaleAfterDays: 30}
	mustApply(t, s, c.block(policyEvent(p2)))
	if s.policyCache.Load() != nil {
		t.Fatal("applying a policy kept the old cache")
	}
	for _, read := range []string{"ClaimFacts", "PolicyFor", "Cap", "Policy"} {
		var ok bool
		switch read {
		case "ClaimFacts":
			f, err = s.ClaimFacts(a, "GR202465000001")
			ok = f.Policy == p2 && f.Cap.LimitCNY == "80000.00" && f.Cap.RemainingCNY == "80000.00"
		case "PolicyFor":
			var p voucher.Policy
			p, ok, err = s.PolicyFor("2024-03-01")
			ok = ok && p == p2
		case "Cap":
			var cu voucher.CapUsage
			cu, err = s.Cap(a, "2025")
			ok = cu.LimitCNY == "80000.00"
		case "Policy":
			var p voucher.Policy
			p, err = s.Policy()
			ok = p == p2
		}
		if err != nil || !ok {
			t.Fatalf("%s after policy 2 was applied: %+v %v", read, f, err)
		}
	}
	if got := s.policyCache.Load(); got == nil || len(got.all) != 2 || got.all[1] != p2 {
		t.Fatalf("policy cache after policy 2 = %+v", got)
	}

	// A reader that decoded the versions before policy 2 committed may
	// publish them after ApplyBlocks dropped the cache. The sequence its
	// transaction saw keys them, so no later read takes them for current.
	s.policyCache.Store(cached)
	if f, err = s.ClaimFacts(a, "GR202465000001"); err != nil || f.Policy != p2 {
		t.Fatalf("ClaimFacts after a late publish of the old versions = %+v, %v; want policy 2", f.Policy, err)
	}
}

// TestPolicyCacheBounded: beyond maxCachedPolicies versions nothing is
// cached, and reads stay right.
func TestPolicyCacheBounded(t *testing.T) {
	s, _ := openTemp(t)
	c := newChain(t)
	a := agencyID(1)
	evs := []voucher.Event{agencyEvent(a, "甲"), certEvent("GR202465000001", "E1", "2024-03-01")}
	for v := 2; v <= maxCachedPolicies+1; v++ {
		evs = append(evs, policyEvent(voucher.Policy{Version: v, UnitRewardCNY: fmt.Sprintf("%d.00", 1000+v), CapPerAgencyCNY: "100000.00",
			CapScope: voucher.CapScopeYear, WindowFrom: "2024-01-01", WindowTo: "2024-12-31", StaleAfterDays: 30}))
	}
	c.block(evs...)
	mustApply(t, s, c.blocks...)
	f, err := s.ClaimFacts(a, "GR202465000001")
	if err != nil || f.Policy.Version != maxCachedPolicies+1 || f.Policy.UnitRewardCNY != fmt.Sprintf("%d.00", 1001+maxCachedPolicies) {
		t.Fatalf("ClaimFacts with %d versions = %+v, %v", maxCachedPolicies+1, f.Policy, err)
	}
	if got := s.policyCache.Load(); got != nil {
		t.Fatalf("cached %d versions, bound is %d", len(got.all), maxCachedPolicies)
	}
}

// TestPolicyCacheUnderConcurrentPolicyChanges: readers racing with the
// application of new policy versions never see a version older than one
// they saw before (a stale cache published late would), and a read after
// Apply returns sees the version it applied.
func TestPolicyCacheUnderConcurrentPolicyChanges(t *testing.T) {
	s, _ := openTemp(t)
	c := newChain(t)
	a := agencyID(1)
	c.block(agencyEvent(a, "甲"), certEvent("GR202465000001", "E1", "2024-03-01"))
	mustApply(t, s, c.blocks...)
	const versions, readers = 60, 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for ctx.Err() == nil {
				f, err := s.ClaimFacts(a, "GR202465000001")
				if err == nil && f.Policy.Version < last {
					err = fmt.Errorf("read version %d after %d", f.Policy.Version, last)
				}
				if err == nil && f.Policy.UnitRewardCNY != fmt.Sprintf("%d.00", 1000+f.Policy.Version) && f.Policy.Version > 1 {
					err = fmt.Errorf("version %d with unit reward %s", f.Policy.Version, f.Policy.UnitRewardCNY)
				}
				if err != nil {
					errs <- err
					return
				}
				last = f.Policy.Version
			}
		}()
	}
	for v := 2; v <= versions; v++ {
		mustApply(t, s, c.block(policyEvent(voucher.Policy{Version: v, UnitRewardCNY: fmt.Sprintf("%d.00", 1000+v), CapPerAgencyCNY: "100000.00",
			CapScope: voucher.CapScopeYear, WindowFrom: "2024-01-01", WindowTo: "2024-12-31", StaleAfterDays: 30})))
		if f, err := s.ClaimFacts(a, "GR202465000001"); err != nil || f.Policy.Version != v {
			t.Fatalf("after applying version %d ClaimFacts read version %d (%v)", v, f.Policy.Version, err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// precheckStore is a read model shaped like a busy year: agencies with
// usage in three periods, one certificate per agency and two policy
// versions (the default and one set later).
func precheckStore(b *testing.B, agencies int) (*Store, []string, []string) {
	s, _ := openTemp(b)
	c := newChain(b)
	p2 := voucher.Policy{Version: 2, UnitRewardCNY: "5000.00", CapPerAgencyCNY: "100000.00", CapScope: voucher.CapScopeYear,
		WindowFrom: "2026-03-01", WindowTo: "2029-02-28", StaleAfterDays: 90, SetAt: at(50), SetBy: "sci@HongshanEmbeddedMSP"}
	c.block(voucher.Event{Type: voucher.EventPolicySet, Actor: "sci@HongshanEmbeddedMSP", Policy: &p2})
	ids, certs := make([]string, agencies), make([]string, agencies)
	for i := range agencies {
		ids[i], certs[i] = agencyID(i+1), fmt.Sprintf("GR2024650%05d", i)
		evs := []voucher.Event{agencyEvent(ids[i], "机构"), certEvent(certs[i], "E1", "2024-06-01")}
		for j, period := range []string{"2023", "2024", "2025"} {
			v := newVoucher(fmt.Sprintf("V-%s-%010d%06d", period, i, j), ids[i], period)
			evs = append(evs, issueEvent(v, capUsage(ids[i], period, "5000.00", "95000.00", 1)))
		}
		c.block(evs...)
	}
	mustApply(b, s, c.blocks...)
	return s, ids, certs
}

// BenchmarkPrecheckReads is the read model's share of one claim's cap
// pre-check. four-calls reads as the pre-check did before ClaimFacts:
// Certification, Agency (with all its caps), PolicyFor and Cap, each in
// its own read transaction.
func BenchmarkPrecheckReads(b *testing.B) {
	const agencies = 500
	s, ids, certs := precheckStore(b, agencies)
	b.Run("four-calls", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			id, no := ids[i%agencies], certs[i%agencies]
			cert, ok, err := s.Certification(no)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			if ag, ok, err := s.Agency(id); err != nil || !ok || ag.Status != voucher.AgencyActive {
				b.Fatal(ok, err)
			}
			p, ok, err := s.PolicyFor(cert.IssuedOn)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			if cu, err := s.Cap(id, p.PeriodOf(cert.IssuedOn)); err != nil || cu.RemainingCNY != "95000.00" {
				b.Fatal(cu, err)
			}
		}
	})
	b.Run("claim-facts", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f, err := s.ClaimFacts(ids[i%agencies], certs[i%agencies])
			if err != nil || !f.PolicyKnown || f.Agency.Status != voucher.AgencyActive || f.Cap.RemainingCNY != "95000.00" {
				b.Fatal(f, err)
			}
		}
	})
}
