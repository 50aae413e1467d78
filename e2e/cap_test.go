package e2e

import (
	"errors"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
)

// TestCapExactUnderConcurrentClaims fires 40 claims of one agency at once
// when its cap has room for 20 (100,000.00 / 5,000.00): exactly 20 are
// issued and 20 refused with CAP_EXCEEDED and nothing remaining. A
// revocation then releases room for exactly one more.
func TestCapExactUnderConcurrentClaims(t *testing.T) {
	s := startSystem(t)
	aud := s.newParty(t, "cap-auditor", voucher.RoleAuditor, "")
	id := registerAgency(t, s.admin, "红山众创空间", voucher.KindIncubator)
	ag := s.newParty(t, "cap-agency", voucher.RoleAgency, id)
	chk := newChecker(aud.c)
	chk.track(id)

	const claims, room = 40, 20
	dates := make([]string, claims+1)
	for i := range dates {
		dates[i] = "2024-06-15"
	}
	es := prepare(t, s.admin, []party{ag}, dates)[0]

	type result struct {
		i   int
		v   voucher.Voucher
		err error
	}
	start := make(chan struct{})
	results := make(chan result, claims)
	c := ctx(t)
	for i := range claims {
		go func() {
			<-start
			v, err := ag.c.Claim(c, voucher.ClaimArgs{EnterpriseID: es[i].id, CertificateNo: es[i].certNo})
			results <- result{i, v, err}
		}()
	}
	close(start)
	var issued []voucher.Voucher
	var refused []int
	for range claims {
		r := <-results
		switch {
		case r.err == nil:
			issued = append(issued, r.v)
			chk.expect(r.v)
		case client.IsCode(r.err, "CAP_EXCEEDED"):
			var ce *client.Error
			errors.As(r.err, &ce)
			if ce.Status != 422 || ce.Remaining != "0.00" {
				t.Errorf("claim %d: CAP_EXCEEDED with status %d, remaining %q; want 422, 0.00", r.i, ce.Status, ce.Remaining)
			}
			refused = append(refused, r.i)
		default:
			t.Errorf("claim %d: %v", r.i, r.err)
		}
	}
	if len(issued) != room || len(refused) != claims-room {
		t.Fatalf("%d issued and %d CAP_EXCEEDED, want %d and %d", len(issued), len(refused), room, claims-room)
	}
	u, err := aud.c.GetCap(ctx(t), id, "2024")
	ok(t, "cap", err)
	if u.UsedCNY != "100000.00" || u.RemainingCNY != "0.00" || u.LiveCount != room {
		t.Fatalf("cap after the burst: %+v", u)
	}
	chk.check(t, "40 concurrent claims")

	// One revocation makes room for exactly one more voucher.
	_, err = s.admin.Revoke(ctx(t), issued[0].ID, "e2e: release room")
	ok(t, "revoke", err)
	chk.expect(claim(t, ag, es[refused[0]]))
	_, err = ag.c.Claim(ctx(t), voucher.ClaimArgs{EnterpriseID: es[claims].id, CertificateNo: es[claims].certNo})
	if ce := rejection(t, "claim past the cap", err, "CAP_EXCEEDED"); ce.Remaining != "0.00" {
		t.Fatalf("CAP_EXCEEDED remaining %q", ce.Remaining)
	}
	chk.check(t, "revoke and claim again")
}
