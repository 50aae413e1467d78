package voucher

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// TestInvariantsUnderRandomOperations runs random sequences of operations by
// random callers (any role, any agency, valid or not) and checks the
// programme's invariants after every step:
//   - live amount per agency and period ≤ the cap, and equals the stored usage;
//   - at most one live voucher per certificate;
//   - statuses only move along DOMAIN.md's diagram;
//   - every reimbursement pays exactly the voucher amount, once per reference;
//   - an agency never sees another agency's data.
func TestInvariantsUnderRandomOperations(t *testing.T) {
	defer func() { t.Logf("successful operations: %v", propertyWins) }()
	rapid.Check(t, func(rt *rapid.T) {
		const agencies, enterprises = 3, 8
		l, c := newMemLedger(), New()
		// A small cap so random runs reach it.
		if _, err := l.invoke(c, sciTech, "SetPolicy", SetPolicyArgs{UnitRewardCNY: "5000", CapPerAgencyCNY: "15000", CapScope: CapScopeYear, WindowFrom: "2023-03-01", WindowTo: "2026-02-28"}); err != nil {
			rt.Fatal(err)
		}
		callers := []Identity{sciTech, finance, auditor, admin}
		for i := 1; i <= agencies+1; i++ { // agency 4 is never registered
			callers = append(callers, agencyIdentity(i))
		}
		statusSeen := map[string]Status{}
		anyCaller := rapid.SampledFrom(callers)
		agencyCaller := rapid.SampledFrom(callers[4 : 4+agencies])
		// pick draws the role an operation needs most of the time, and anyone
		// otherwise, so runs reach deep states and still probe authorisation.
		pick := func(rt *rapid.T, want Identity) Identity {
			if rapid.IntRange(0, 99).Draw(rt, "wrong-caller") >= 90 {
				return anyCaller.Draw(rt, "caller")
			}
			if want.Role == RoleAgency {
				return agencyCaller.Draw(rt, "agency")
			}
			return want
		}
		for i := 1; i <= agencies; i++ {
			if _, err := l.invoke(c, sciTech, "RegisterAgency", RegisterAgencyArgs{makeUSCC(i), "机构", KindServiceAgency}); err != nil {
				rt.Fatal(err)
			}
		}
		ent := rapid.IntRange(1, enterprises)
		ag := rapid.IntRange(1, agencies+1)
		voucherID := func(rt *rapid.T) string {
			ids := voucherIDs(l)
			if len(ids) == 0 || rapid.Bool().Draw(rt, "bogus") && rapid.IntRange(0, 9).Draw(rt, "p") == 0 {
				return "V-2024-0000000000000000"
			}
			return rapid.SampledFrom(ids).Draw(rt, "voucher")
		}
		ops := map[string]func(*rapid.T) (Identity, string, any){
			"register": func(rt *rapid.T) (Identity, string, any) {
				return pick(rt, sciTech), "RegisterAgency", RegisterAgencyArgs{makeUSCC(ag.Draw(rt, "ag")), "机构", KindServiceAgency}
			},
			"suspend": func(rt *rapid.T) (Identity, string, any) {
				return pick(rt, sciTech), "SuspendAgency", AgencyReasonArgs{makeUSCC(ag.Draw(rt, "ag")), "审计"}
			},
			"reinstate": func(rt *rapid.T) (Identity, string, any) {
				return pick(rt, sciTech), "ReinstateAgency", AgencyReasonArgs{makeUSCC(ag.Draw(rt, "ag")), "恢复"}
			},
			"certify": func(rt *rapid.T) (Identity, string, any) {
				n := ent.Draw(rt, "ent")
				year := rapid.SampledFrom([]string{"2023", "2024", "2025"}).Draw(rt, "year")
				kind := rapid.SampledFrom([]string{CertFirst, CertFirst, CertRenewal}).Draw(rt, "kind")
				return pick(rt, sciTech), "RecordCertification", RecordCertificationArgs{enterpriseID(n), "企业", fmt.Sprintf("GR%s65%06d", year, n), year + "-11-20", kind}
			},
			"service": func(rt *rapid.T) (Identity, string, any) {
				enterprise := enterpriseID(ent.Draw(rt, "ent"))
				if certs := certNos(l); len(certs) > 0 && rapid.IntRange(0, 4).Draw(rt, "known-cert") < 4 {
					var cert Certification
					_ = json.Unmarshal(l.state[certKey(rapid.SampledFrom(certs).Draw(rt, "cert"))], &cert)
					enterprise = cert.EnterpriseID
				}
				started := rapid.SampledFrom([]string{"2023-01-01", "2024-06-01", "2025-12-01"}).Draw(rt, "started")
				return pick(rt, agencyIdentity(1)), "RecordService", RecordServiceArgs{enterprise, "HT-" + started, started, evidence(started)}
			},
			"claim": func(rt *rapid.T) (Identity, string, any) {
				n := ent.Draw(rt, "ent")
				no := fmt.Sprintf("GR%s65%06d", rapid.SampledFrom([]string{"2023", "2024", "2025"}).Draw(rt, "year"), n)
				if certs := certNos(l); len(certs) > 0 && rapid.IntRange(0, 4).Draw(rt, "known-cert") < 4 {
					var cert Certification
					_ = json.Unmarshal(l.state[certKey(rapid.SampledFrom(certs).Draw(rt, "cert"))], &cert)
					return pick(rt, agencyIdentity(1)), "Claim", ClaimArgs{cert.EnterpriseID, cert.CertificateNo}
				}
				return pick(rt, agencyIdentity(1)), "Claim", ClaimArgs{enterpriseID(n), no}
			},
			"redeem": func(rt *rapid.T) (Identity, string, any) {
				return pick(rt, agencyIdentity(1)), "Redeem", VoucherIDArgs{voucherID(rt)}
			},
			"reimburse": func(rt *rapid.T) (Identity, string, any) {
				amount := rapid.SampledFrom([]string{"5000.00", "5000", "4999.99"}).Draw(rt, "amount")
				ref := fmt.Sprintf("GK-%d", rapid.IntRange(1, 4).Draw(rt, "ref"))
				return pick(rt, finance), "Reimburse", ReimburseArgs{voucherID(rt), ref, amount, "2026-03-02"}
			},
			"reject": func(rt *rapid.T) (Identity, string, any) {
				return pick(rt, finance), "Reject", VoucherReasonArgs{voucherID(rt), "不符"}
			},
			"revoke": func(rt *rapid.T) (Identity, string, any) {
				return pick(rt, sciTech), "Revoke", VoucherReasonArgs{voucherID(rt), "撤销"}
			},
			"read": func(rt *rapid.T) (Identity, string, any) {
				caller := anyCaller.Draw(rt, "caller")
				switch rapid.IntRange(0, 2).Draw(rt, "read") {
				case 0:
					return caller, "GetVoucher", VoucherIDArgs{voucherID(rt)}
				case 1:
					return caller, "ListVouchers", ListVouchersArgs{AgencyID: makeUSCC(ag.Draw(rt, "ag"))}
				default:
					return caller, "GetAgency", IDArgs{makeUSCC(ag.Draw(rt, "ag"))}
				}
			},
		}
		// Weighted so runs claim and move vouchers often and suspend rarely.
		weights := map[string]int{"register": 1, "suspend": 1, // rarer than it looks: see the order below
			"reinstate": 3, "certify": 3, "service": 4, "claim": 6, "redeem": 3, "reimburse": 3, "reject": 1, "revoke": 1, "read": 2}
		var names []string
		// rapid favours early elements, so the common operations come first.
		for _, n := range []string{"claim", "service", "certify", "redeem", "reimburse", "read", "reject", "revoke", "reinstate", "register", "suspend"} {
			for range weights[n] {
				names = append(names, n)
			}
		}
		if len(weights) != len(ops) {
			rt.Fatalf("weights cover %d of %d operations", len(weights), len(ops))
		}
		steps := rapid.IntRange(20, 200).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			op := rapid.SampledFrom(names).Draw(rt, "op")
			caller, fn, args := ops[op](rt)
			stateBefore := len(l.state)
			out, err := l.invoke(c, caller, fn, args)
			if err == nil {
				propertyWins[fn]++
			} else {
				propertyWins[fn+":"+string(CodeOf(err))]++
			}
			if err != nil {
				if CodeOf(err) == CodeInternal {
					rt.Fatalf("%s by %s: internal error %v", fn, caller.Name, err)
				}
				if len(l.state) != stateBefore {
					rt.Fatalf("rejected %s changed state", fn)
				}
			} else if caller.Role == RoleAgency {
				checkOwnData(rt, caller, fn, out)
			}
			checkInvariants(rt, l, statusSeen)
		}
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func voucherIDs(l *memLedger) []string {
	var ids []string
	prefix := CompositeKey(objVoucher)
	for k := range l.state {
		if strings.HasPrefix(k, prefix) {
			_, attrs := SplitCompositeKey(k)
			ids = append(ids, attrs[0])
		}
	}
	sortStrings(ids)
	return ids
}

func certNos(l *memLedger) []string {
	var nos []string
	prefix := CompositeKey(objCert)
	for k := range l.state {
		if strings.HasPrefix(k, prefix) {
			_, attrs := SplitCompositeKey(k)
			nos = append(nos, attrs[0])
		}
	}
	sortStrings(nos)
	return nos
}

func checkOwnData(rt *rapid.T, caller Identity, fn string, out []byte) {
	switch fn {
	case "GetVoucher":
		var v Voucher
		_ = json.Unmarshal(out, &v)
		if v.AgencyID != caller.AgencyID {
			rt.Fatalf("%s saw voucher of %s", caller.AgencyID, v.AgencyID)
		}
	case "ListVouchers":
		var p Page[Voucher]
		_ = json.Unmarshal(out, &p)
		for _, v := range p.Items {
			if v.AgencyID != caller.AgencyID {
				rt.Fatalf("%s listed voucher of %s", caller.AgencyID, v.AgencyID)
			}
		}
	case "GetAgency":
		var a AgencyView
		_ = json.Unmarshal(out, &a)
		if a.ID != caller.AgencyID {
			rt.Fatalf("%s saw agency %s", caller.AgencyID, a.ID)
		}
	}
}

func checkInvariants(rt *rapid.T, l *memLedger, statusSeen map[string]Status) {
	live := map[string]decimal.Decimal{} // agency|period → live amount
	liveCount := map[string]int{}
	perCert := map[string]int{}
	paidRefs := map[string]string{}
	for _, id := range voucherIDs(l) {
		var v Voucher
		_ = json.Unmarshal(l.state[voucherKey(id)], &v)
		if prev, ok := statusSeen[id]; ok && prev != v.Status && !CanTransition(prev, v.Status) {
			rt.Fatalf("voucher %s moved %s → %s", id, prev, v.Status)
		}
		if _, ok := statusSeen[id]; !ok && v.Status != StatusIssued {
			rt.Fatalf("voucher %s was born %s", id, v.Status)
		}
		statusSeen[id] = v.Status
		if v.Status.Live() {
			k := v.AgencyID + "|" + v.Period
			live[k] = live[k].Add(mustMoney(v.AmountCNY))
			liveCount[k]++
			perCert[v.CertificateNo]++
			if perCert[v.CertificateNo] > 1 {
				rt.Fatalf("certificate %s backs %d live vouchers", v.CertificateNo, perCert[v.CertificateNo])
			}
			if got := string(l.state[certLiveKey(v.CertificateNo)]); got != v.ID {
				rt.Fatalf("certificate %s live marker %q, want %s", v.CertificateNo, got, v.ID)
			}
		}
		if v.Status == StatusReimbursed {
			if v.PaidAmountCNY != v.AmountCNY {
				rt.Fatalf("voucher %s paid %s of %s", v.ID, v.PaidAmountCNY, v.AmountCNY)
			}
			if other, dup := paidRefs[v.PaymentRef]; dup {
				rt.Fatalf("payment %s paid %s and %s", v.PaymentRef, other, v.ID)
			}
			paidRefs[v.PaymentRef] = v.ID
		}
	}
	capPrefix := CompositeKey(objCap)
	for k, b := range l.state {
		if !strings.HasPrefix(k, capPrefix) {
			continue
		}
		var u CapUsage
		_ = json.Unmarshal(b, &u)
		key := u.AgencyID + "|" + u.Period
		if !mustMoney(u.UsedCNY).Equal(live[key]) || u.LiveCount != liveCount[key] {
			rt.Fatalf("cap %s: stored used %s/%d, live vouchers %s/%d", key, u.UsedCNY, u.LiveCount, live[key], liveCount[key])
		}
		if mustMoney(u.UsedCNY).GreaterThan(mustMoney(u.LimitCNY)) {
			rt.Fatalf("cap %s exceeded: %s > %s", key, u.UsedCNY, u.LimitCNY)
		}
		delete(live, key)
	}
	for key, amount := range live {
		if amount.IsPositive() {
			rt.Fatalf("live vouchers of %s have no cap record", key)
		}
	}
}

// propertyWins counts outcomes per transaction and code, logged so a reader
// can see that runs reach deep states.
var propertyWins = map[string]int{}

// TestCapInvariantNearTheLimit drives two agencies that have served many
// certified enterprises through random claims, redemptions, payments,
// rejections and revocations, so runs press against the cap and release it.
func TestCapInvariantNearTheLimit(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const certs = 30
		w := newWorld(rt, 2, certs)
		if _, err := w.l.invoke(w.c, sciTech, "SetPolicy", SetPolicyArgs{UnitRewardCNY: "5000", CapPerAgencyCNY: "25000", CapScope: CapScopeYear, WindowFrom: "2023-03-01", WindowTo: "2026-02-28"}); err != nil {
			rt.Fatal(err)
		}
		for a := 1; a <= 2; a++ {
			for n := 1; n <= certs; n++ {
				if _, err := w.l.invoke(w.c, agencyIdentity(a), "RecordService", serviceArgs(n, fmt.Sprintf("HT-%d", n))); err != nil {
					rt.Fatal(err)
				}
			}
		}
		statusSeen := map[string]Status{}
		capHits := 0
		for i := rapid.IntRange(30, 150).Draw(rt, "steps"); i > 0; i-- {
			a := rapid.IntRange(1, 2).Draw(rt, "agency")
			var err error
			switch op := rapid.IntRange(0, 5).Draw(rt, "op"); {
			case op <= 2:
				n := rapid.IntRange(1, certs).Draw(rt, "cert")
				_, err = w.l.invoke(w.c, agencyIdentity(a), "Claim", ClaimArgs{enterpriseID(n), certNo(n)})
				if CodeOf(err) == CodeCapExceeded {
					capHits++
				}
			default:
				ids := voucherIDs(w.l)
				if len(ids) == 0 {
					continue
				}
				id := rapid.SampledFrom(ids).Draw(rt, "voucher")
				switch op {
				case 3:
					_, err = w.l.invoke(w.c, agencyIdentity(a), "Redeem", VoucherIDArgs{id})
					if err == nil {
						checkInvariants(rt, w.l, statusSeen)
						_, err = w.l.invoke(w.c, finance, "Reimburse", ReimburseArgs{id, "GK-" + id, "5000.00", "2026-03-02"})
					}
				case 4:
					_, err = w.l.invoke(w.c, finance, "Reject", VoucherReasonArgs{id, "不符"})
				case 5:
					_, err = w.l.invoke(w.c, sciTech, "Revoke", VoucherReasonArgs{id, "撤销"})
				}
			}
			if CodeOf(err) == CodeInternal {
				rt.Fatalf("internal error: %v", err)
			}
			checkInvariants(rt, w.l, statusSeen)
		}
		propertyWins["cap-hits"] += capHits
	})
	if propertyWins["cap-hits"] == 0 {
		t.Fatal("no run reached the cap: the generator no longer exercises it")
	}
	t.Logf("claims refused at the cap: %d", propertyWins["cap-hits"])
}
