package projection

import (
	"fmt"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

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
}
