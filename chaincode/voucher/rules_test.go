package voucher

import (
	"encoding/json"
	"fmt"
	"testing"
)

// claimOne records a service and claims certificate n for agency a.
func (w *world) claimOne(t testing.TB, a, n int) Voucher {
	t.Helper()
	must[ServiceRecord](t, w.l, w.c, agencyIdentity(a), "RecordService", serviceArgs(n, fmt.Sprintf("HT-%d-%d", a, n)))
	return must[Voucher](t, w.l, w.c, agencyIdentity(a), "Claim", ClaimArgs{EnterpriseID: enterpriseID(n), CertificateNo: certNo(n)})
}

func TestClaimHappyPath(t *testing.T) {
	w := newWorld(t, 1, 1)
	v := w.claimOne(t, 1, 1)
	if v.Status != StatusIssued || v.AmountCNY != "5000.00" || v.Period != "2024" || v.AgencyID != makeUSCC(1) || v.PolicyVersion != 1 {
		t.Fatalf("voucher %+v", v)
	}
	ag := must[AgencyView](t, w.l, w.c, auditor, "GetAgency", IDArgs{ID: makeUSCC(1)})
	if len(ag.Caps) != 1 || ag.Caps[0].UsedCNY != "5000.00" || ag.Caps[0].RemainingCNY != "95000.00" || ag.Caps[0].LiveCount != 1 {
		t.Fatalf("caps %+v", ag.Caps)
	}
	ev := w.l.events[len(w.l.events)-1]
	if ev.Type != EventVoucherIssued || ev.Voucher == nil || ev.Voucher.ID != v.ID || ev.Cap == nil || ev.Cap.UsedCNY != "5000.00" {
		t.Fatalf("event %+v", ev)
	}
}

func TestClaimRules(t *testing.T) {
	type setup func(t *testing.T, w *world)
	serviceFor := func(enterprise int, started string) setup {
		return func(t *testing.T, w *world) {
			a := serviceArgs(enterprise, "HT-rule")
			a.StartedOn = started
			must[ServiceRecord](t, w.l, w.c, agencyIdentity(1), "RecordService", a)
		}
	}
	cases := []struct {
		name  string
		setup []setup
		args  ClaimArgs
		want  Code
	}{
		{"no service record", nil, ClaimArgs{enterpriseID(1), certNo(1)}, CodeNoServiceRecord},
		{"service started after certification", []setup{serviceFor(1, "2024-11-21")}, ClaimArgs{enterpriseID(1), certNo(1)}, CodeNoServiceRecord},
		{"service on the issue date counts", []setup{serviceFor(1, "2024-11-20")}, ClaimArgs{enterpriseID(1), certNo(1)}, ""},
		{"another agency's service does not count", []setup{func(t *testing.T, w *world) {
			must[ServiceRecord](t, w.l, w.c, agencyIdentity(2), "RecordService", serviceArgs(1, "HT-other"))
		}}, ClaimArgs{enterpriseID(1), certNo(1)}, CodeNoServiceRecord},
		{"unknown certificate", []setup{serviceFor(1, "2024-01-01")}, ClaimArgs{enterpriseID(1), certNo(99)}, CodeNotCertified},
		{"certificate of another enterprise", []setup{serviceFor(1, "2024-01-01")}, ClaimArgs{enterpriseID(1), certNo(2)}, CodeNotCertified},
		{"renewal earns nothing", []setup{func(t *testing.T, w *world) {
			must[Certification](t, w.l, w.c, sciTech, "RecordCertification", RecordCertificationArgs{enterpriseID(7), "续期企业", "GR202465000777", "2024-12-01", CertRenewal})
		}, serviceFor(7, "2024-01-01")}, ClaimArgs{enterpriseID(7), "GR202465000777"}, CodeNotEligible},
		{"before the programme window", []setup{func(t *testing.T, w *world) {
			must[Certification](t, w.l, w.c, sciTech, "RecordCertification", RecordCertificationArgs{enterpriseID(8), "早期企业", "GR202365000888", "2023-02-28", CertFirst})
		}, serviceFor(8, "2022-01-01")}, ClaimArgs{enterpriseID(8), "GR202365000888"}, CodeNotEligible},
		{"first day of the window", []setup{func(t *testing.T, w *world) {
			must[Certification](t, w.l, w.c, sciTech, "RecordCertification", RecordCertificationArgs{enterpriseID(9), "首日企业", "GR202365000999", "2023-03-01", CertFirst})
		}, serviceFor(9, "2022-01-01")}, ClaimArgs{enterpriseID(9), "GR202365000999"}, ""},
		{"suspended agency", []setup{serviceFor(1, "2024-01-01"), func(t *testing.T, w *world) {
			must[Agency](t, w.l, w.c, sciTech, "SuspendAgency", AgencyReasonArgs{makeUSCC(1), "审计中"})
		}}, ClaimArgs{enterpriseID(1), certNo(1)}, CodeAgencySuspended},
		{"malformed enterprise", nil, ClaimArgs{"91650104000000012Y", certNo(1)}, CodeInvalidArgument},
		{"malformed certificate", nil, ClaimArgs{enterpriseID(1), "GR2024"}, CodeInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 2, 3)
			for _, s := range tc.setup {
				s(t, w)
			}
			before := len(w.l.state)
			_, err := w.l.invoke(w.c, agencyIdentity(1), "Claim", tc.args)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			wantCode(t, err, tc.want)
			if len(w.l.state) != before {
				t.Fatalf("a rejected claim changed state")
			}
		})
	}
}

func TestClaimOnlyOnceWhileLive(t *testing.T) {
	w := newWorld(t, 2, 1)
	v := w.claimOne(t, 1, 1)
	_, err := w.l.invoke(w.c, agencyIdentity(1), "Claim", ClaimArgs{enterpriseID(1), certNo(1)})
	wantCode(t, err, CodeAlreadyClaimed)
	must[ServiceRecord](t, w.l, w.c, agencyIdentity(2), "RecordService", serviceArgs(1, "HT-2"))
	_, err = w.l.invoke(w.c, agencyIdentity(2), "Claim", ClaimArgs{enterpriseID(1), certNo(1)})
	wantCode(t, err, CodeAlreadyClaimed)
	// Revoking frees the certificate for a new claim.
	must[Voucher](t, w.l, w.c, sciTech, "Revoke", VoucherReasonArgs{v.ID, "服务合同不实"})
	v2 := must[Voucher](t, w.l, w.c, agencyIdentity(2), "Claim", ClaimArgs{enterpriseID(1), certNo(1)})
	if v2.ID == v.ID || v2.AgencyID != makeUSCC(2) {
		t.Fatalf("second voucher %+v", v2)
	}
}

func TestCapPerAgencyAndPeriod(t *testing.T) {
	w := newWorld(t, 2, 22)
	for n := 1; n <= 20; n++ {
		w.claimOne(t, 1, n)
	}
	must[ServiceRecord](t, w.l, w.c, agencyIdentity(1), "RecordService", serviceArgs(21, "HT-21"))
	_, err := w.l.invoke(w.c, agencyIdentity(1), "Claim", ClaimArgs{enterpriseID(21), certNo(21)})
	wantCode(t, err, CodeCapExceeded)
	var e *Error
	if b := EncodeError(err); true {
		var ok bool
		if e, ok = DecodeError("wrapped: " + b); !ok || e.Details["remaining"] != "0.00" || e.Code != CodeCapExceeded {
			t.Fatalf("decoded %+v from %s", e, b)
		}
	}
	// Another agency is not affected.
	w.claimOne(t, 2, 22)
	// A certificate of another year is another period.
	must[Certification](t, w.l, w.c, sciTech, "RecordCertification", RecordCertificationArgs{enterpriseID(30), "二五年企业", "GR202565000030", "2025-10-10", CertFirst})
	must[ServiceRecord](t, w.l, w.c, agencyIdentity(1), "RecordService", serviceArgs(30, "HT-30"))
	v := must[Voucher](t, w.l, w.c, agencyIdentity(1), "Claim", ClaimArgs{enterpriseID(30), "GR202565000030"})
	if v.Period != "2025" {
		t.Fatalf("period %s", v.Period)
	}
	// Rejecting one 2024 voucher releases room for exactly one more.
	page := must[Page[Voucher]](t, w.l, w.c, finance, "ListVouchers", ListVouchersArgs{AgencyID: makeUSCC(1), Period: "2024", Limit: 1})
	must[Voucher](t, w.l, w.c, finance, "Reject", VoucherReasonArgs{page.Items[0].ID, "材料不全"})
	must[Voucher](t, w.l, w.c, agencyIdentity(1), "Claim", ClaimArgs{enterpriseID(21), certNo(21)})
}

func TestProgramScopeCap(t *testing.T) {
	w := newWorld(t, 1, 0)
	must[Policy](t, w.l, w.c, sciTech, "SetPolicy", SetPolicyArgs{UnitRewardCNY: "5000", CapPerAgencyCNY: "10000", CapScope: CapScopeProgram, WindowFrom: "2023-03-01", WindowTo: "2026-02-28"})
	for i, issued := range []string{"2023-06-01", "2024-06-01", "2025-06-01"} {
		no := fmt.Sprintf("GR%s65%06d", issued[:4], i)
		must[Certification](t, w.l, w.c, sciTech, "RecordCertification", RecordCertificationArgs{enterpriseID(i), "企业", no, issued, CertFirst})
		must[ServiceRecord](t, w.l, w.c, agencyIdentity(1), "RecordService", RecordServiceArgs{enterpriseID(i), fmt.Sprintf("P-%d", i), "2023-01-01", evidence("p")})
		_, err := w.l.invoke(w.c, agencyIdentity(1), "Claim", ClaimArgs{enterpriseID(i), no})
		if i < 2 && err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if i == 2 {
			wantCode(t, err, CodeCapExceeded)
		}
	}
}

func TestPolicyVersionJudgesByCertificate(t *testing.T) {
	w := newWorld(t, 1, 1)
	p := must[Policy](t, w.l, w.c, sciTech, "SetPolicy", SetPolicyArgs{UnitRewardCNY: "8000.00", CapPerAgencyCNY: "160000.00", CapScope: CapScopeYear, WindowFrom: "2026-03-01", WindowTo: "2028-12-31", StaleAfterDays: 90})
	if p.Version != 2 {
		t.Fatalf("version %d", p.Version)
	}
	v := w.claimOne(t, 1, 1) // a 2024 certificate: judged by version 1
	if v.AmountCNY != "5000.00" || v.PolicyVersion != 1 {
		t.Fatalf("voucher %+v", v)
	}
	if got := must[Policy](t, w.l, w.c, agencyIdentity(1), "GetPolicy", GetPolicyArgs{}); got.Version != 2 || got.UnitRewardCNY != "8000.00" {
		t.Fatalf("current policy %+v", got)
	}
	if got := must[Policy](t, w.l, w.c, auditor, "GetPolicy", GetPolicyArgs{Version: 1}); got.UnitRewardCNY != "5000.00" {
		t.Fatalf("v1 %+v", got)
	}
	_, err := w.l.invoke(w.c, auditor, "GetPolicy", GetPolicyArgs{Version: 3})
	wantCode(t, err, CodeNotFound)
	for _, bad := range []SetPolicyArgs{
		{UnitRewardCNY: "5000.001", CapPerAgencyCNY: "100000", CapScope: "year", WindowFrom: "2023-03-01", WindowTo: "2026-02-28"},
		{UnitRewardCNY: "5000", CapPerAgencyCNY: "4000", CapScope: "year", WindowFrom: "2023-03-01", WindowTo: "2026-02-28"},
		{UnitRewardCNY: "5000", CapPerAgencyCNY: "100000", CapScope: "month", WindowFrom: "2023-03-01", WindowTo: "2026-02-28"},
		{UnitRewardCNY: "5000", CapPerAgencyCNY: "100000", CapScope: "year", WindowFrom: "2026-03-01", WindowTo: "2026-02-28"},
		{UnitRewardCNY: "5000", CapPerAgencyCNY: "100000", CapScope: "year", WindowFrom: "2023-03-01", WindowTo: "2026-02-28", StaleAfterDays: 4000},
	} {
		_, err := w.l.invoke(w.c, sciTech, "SetPolicy", bad)
		wantCode(t, err, CodeInvalidArgument)
	}
}

func TestVoucherTransitions(t *testing.T) {
	// Every (from, action) pair: allowed ones succeed, the rest are INVALID_STATE.
	actions := []struct {
		name   string
		caller Identity
		to     Status
		args   func(id string) any
	}{
		{"Redeem", agencyIdentity(1), StatusRedemptionRequested, func(id string) any { return VoucherIDArgs{id} }},
		{"Reimburse", finance, StatusReimbursed, func(id string) any {
			return ReimburseArgs{ID: id, PaymentRef: "GK-" + id, AmountCNY: "5000.00", PaidOn: "2026-03-02"}
		}},
		{"Reject", finance, StatusRejected, func(id string) any { return VoucherReasonArgs{id, "不符合条件"} }},
		{"Revoke", sciTech, StatusRevoked, func(id string) any { return VoucherReasonArgs{id, "撤销"} }},
	}
	paths := map[Status][]string{
		StatusIssued:              nil,
		StatusRedemptionRequested: {"Redeem"},
		StatusReimbursed:          {"Redeem", "Reimburse"},
		StatusRejected:            {"Reject"},
		StatusRevoked:             {"Revoke"},
	}
	for from, path := range paths {
		for _, act := range actions {
			t.Run(fmt.Sprintf("%s_%s", from, act.name), func(t *testing.T) {
				w := newWorld(t, 1, 1)
				v := w.claimOne(t, 1, 1)
				for _, step := range path {
					for _, a := range actions {
						if a.name == step {
							must[Voucher](t, w.l, w.c, a.caller, a.name, a.args(v.ID))
						}
					}
				}
				got, err := w.l.invoke(w.c, act.caller, act.name, act.args(v.ID))
				if CanTransition(from, act.to) {
					if err != nil {
						t.Fatalf("allowed transition failed: %v", err)
					}
					var nv Voucher
					_ = json.Unmarshal(got, &nv)
					if nv.Status != act.to {
						t.Fatalf("status %s, want %s", nv.Status, act.to)
					}
					return
				}
				wantCode(t, err, CodeInvalidState)
			})
		}
	}
}

func TestReimburseRules(t *testing.T) {
	w := newWorld(t, 1, 3)
	v1, v2 := w.claimOne(t, 1, 1), w.claimOne(t, 1, 2)
	for _, v := range []Voucher{v1, v2} {
		must[Voucher](t, w.l, w.c, agencyIdentity(1), "Redeem", VoucherIDArgs{v.ID})
	}
	cases := []struct {
		args ReimburseArgs
		want Code
	}{
		{ReimburseArgs{v1.ID, "GK2026-1", "4999.99", "2026-03-02"}, CodeAmountMismatch},
		{ReimburseArgs{v1.ID, "GK2026-1", "5000.001", "2026-03-02"}, CodeInvalidArgument},
		{ReimburseArgs{v1.ID, "GK 2026", "5000.00", "2026-03-02"}, CodeInvalidArgument},
		{ReimburseArgs{v1.ID, "GK2026-1", "5000.00", "2099-01-01"}, CodeInvalidArgument},
		{ReimburseArgs{v1.ID, "GK2026-1", "5000.00", "2026-02-30"}, CodeInvalidArgument},
		{ReimburseArgs{v1.ID, "GK2026-1", "5000.00", "2025-01-01"}, CodeInvalidArgument},
		{ReimburseArgs{"V-2024-nope", "GK2026-1", "5000.00", "2026-03-02"}, CodeNotFound},
		{ReimburseArgs{v1.ID, "GK2026-1", "5000", "2026-03-02"}, ""},
		{ReimburseArgs{v2.ID, "GK2026-1", "5000.00", "2026-03-02"}, CodeDuplicatePaymentRef},
		{ReimburseArgs{v1.ID, "GK2026-9", "5000.00", "2026-03-02"}, CodeInvalidState},
	}
	for i, tc := range cases {
		_, err := w.l.invoke(w.c, finance, "Reimburse", tc.args)
		if tc.want == "" {
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			continue
		}
		if CodeOf(err) != tc.want {
			t.Fatalf("case %d: want %s, got %v", i, tc.want, err)
		}
	}
	got := must[Voucher](t, w.l, w.c, auditor, "GetVoucher", VoucherIDArgs{v1.ID})
	if got.Status != StatusReimbursed || got.PaidAmountCNY != "5000.00" || got.PaymentRef != "GK2026-1" {
		t.Fatalf("%+v", got)
	}
	hist := must[[]HistoryItem](t, w.l, w.c, agencyIdentity(1), "GetVoucherHistory", VoucherIDArgs{v1.ID})
	if len(hist) != 3 || hist[0].Action != "Claim" || hist[1].Action != "Redeem" || hist[2].Action != "Reimburse" || hist[2].Status != StatusReimbursed || hist[2].Actor != "finance-clerk@FinanceBureauMSP" {
		t.Fatalf("history %+v", hist)
	}
}

func TestAgencyLifecycle(t *testing.T) {
	w := newWorld(t, 1, 0)
	_, err := w.l.invoke(w.c, sciTech, "RegisterAgency", RegisterAgencyArgs{makeUSCC(1), "重复", KindIncubator})
	wantCode(t, err, CodeAlreadyExists)
	_, err = w.l.invoke(w.c, sciTech, "ReinstateAgency", AgencyReasonArgs{makeUSCC(1), ""})
	wantCode(t, err, CodeInvalidState)
	_, err = w.l.invoke(w.c, sciTech, "SuspendAgency", AgencyReasonArgs{makeUSCC(1), ""})
	wantCode(t, err, CodeInvalidArgument)
	must[Agency](t, w.l, w.c, sciTech, "SuspendAgency", AgencyReasonArgs{makeUSCC(1), "审计"})
	_, err = w.l.invoke(w.c, agencyIdentity(1), "RecordService", serviceArgs(1, "x"))
	wantCode(t, err, CodeAgencySuspended)
	if ag := must[Agency](t, w.l, w.c, sciTech, "ReinstateAgency", AgencyReasonArgs{makeUSCC(1), "整改完成"}); ag.Status != AgencyActive {
		t.Fatalf("%+v", ag)
	}
	_, err = w.l.invoke(w.c, sciTech, "SuspendAgency", AgencyReasonArgs{makeUSCC(2), "x"})
	wantCode(t, err, CodeNotFound)
	for _, bad := range []RegisterAgencyArgs{{makeUSCC(3), "", KindIncubator}, {makeUSCC(3), "x", "bank"}, {"914403001922038217", "x", KindIncubator}, {makeUSCC(3), " padded", KindIncubator}, {makeUSCC(3), "a\x07b", KindIncubator}} {
		_, err := w.l.invoke(w.c, sciTech, "RegisterAgency", bad)
		wantCode(t, err, CodeInvalidArgument)
	}
	// Other provinces' codes are valid agencies.
	must[Agency](t, w.l, w.c, sciTech, "RegisterAgency", RegisterAgencyArgs{"91440300708461136T", "深圳某机构", KindServiceAgency})
}

func TestServiceRecordRules(t *testing.T) {
	w := newWorld(t, 1, 0)
	must[ServiceRecord](t, w.l, w.c, agencyIdentity(1), "RecordService", serviceArgs(1, "HT-1"))
	_, err := w.l.invoke(w.c, agencyIdentity(1), "RecordService", serviceArgs(1, "HT-1"))
	wantCode(t, err, CodeAlreadyExists)
	_, err = w.l.invoke(w.c, agencyIdentity(9), "RecordService", serviceArgs(1, "HT-1"))
	wantCode(t, err, CodeForbidden) // agency 9 is not registered
	self := serviceArgs(1, "HT-self")
	self.EnterpriseID = makeUSCC(1)
	_, err = w.l.invoke(w.c, agencyIdentity(1), "RecordService", self)
	wantCode(t, err, CodeInvalidArgument)
	future := serviceArgs(1, "HT-f")
	future.StartedOn = "2030-01-01"
	_, err = w.l.invoke(w.c, agencyIdentity(1), "RecordService", future)
	wantCode(t, err, CodeInvalidArgument)
	badHash := serviceArgs(1, "HT-h")
	badHash.EvidenceSHA256 = "abc"
	_, err = w.l.invoke(w.c, agencyIdentity(1), "RecordService", badHash)
	wantCode(t, err, CodeInvalidArgument)
}

func TestCertificationRules(t *testing.T) {
	w := newWorld(t, 0, 1)
	base := RecordCertificationArgs{enterpriseID(2), "企业", certNo(2), "2024-11-20", CertFirst}
	for name, mod := range map[string]func(*RecordCertificationArgs){
		"year mismatch": func(a *RecordCertificationArgs) { a.IssuedOn = "2023-11-20" },
		"future":        func(a *RecordCertificationArgs) { a.CertificateNo, a.IssuedOn = "GR202765000001", "2027-01-01" },
		"kind":          func(a *RecordCertificationArgs) { a.Kind = "second" },
		"no name":       func(a *RecordCertificationArgs) { a.EnterpriseName = "" },
		"long name":     func(a *RecordCertificationArgs) { a.EnterpriseName = string(make([]rune, 201)) },
	} {
		a := base
		mod(&a)
		if _, err := w.l.invoke(w.c, sciTech, "RecordCertification", a); CodeOf(err) != CodeInvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	dup := base
	dup.CertificateNo = certNo(1)
	_, err := w.l.invoke(w.c, sciTech, "RecordCertification", dup)
	wantCode(t, err, CodeAlreadyExists)
	if c := must[Certification](t, w.l, w.c, agencyIdentity(1), "GetCertification", IDArgs{certNo(1)}); c.EnterpriseID != enterpriseID(1) {
		t.Fatalf("%+v", c)
	}
}

func TestStrictArguments(t *testing.T) {
	w := newWorld(t, 1, 0)
	valid := `{"id":"` + makeUSCC(9) + `","name":"n","kind":"service_agency"}`
	for _, raw := range []string{`{"id":1}`, `{"id":"x","extra":true}`, `[]`, `{"id":"a"}{"id":"b"}`, `not json`,
		// names are exact, each at most once; strings are UTF-8
		`{"ID":"` + makeUSCC(9) + `","name":"n","kind":"service_agency"}`,
		`{"id":"` + makeUSCC(9) + `","id":"` + makeUSCC(9) + `","name":"n","kind":"service_agency"}`,
		"{\"id\":\"" + makeUSCC(9) + "\",\"name\":\"\xff\",\"kind\":\"service_agency\"}",
		valid + `{}`,
	} {
		_, err := w.l.invoke(w.c, sciTech, "RegisterAgency", raw)
		wantCode(t, err, CodeInvalidArgument)
	}
	if _, err := w.l.invoke(w.c, sciTech, "RegisterAgency", " "+valid+"\n"); err != nil {
		t.Fatalf("a valid argument with surrounding white space: %v", err)
	}
	_, err := w.l.invoke(w.c, sciTech, "NoSuchFunction", "{}")
	wantCode(t, err, CodeInvalidArgument)
	huge := make([]byte, MaxArgBytes+1)
	_, err = w.l.invoke(w.c, sciTech, "RegisterAgency", huge)
	wantCode(t, err, CodeInvalidArgument)
}

// TestRoleMatrix runs every transaction as every kind of caller and checks
// that exactly the allowed ones get past authorisation.
func TestRoleMatrix(t *testing.T) {
	callers := map[string]Identity{
		"scitech": sciTech, "finance": finance, "auditor": auditor, "agency": agencyIdentity(1), "orgadmin": admin,
		"norole": {MSPID: "SciTechBureauMSP", Name: "nobody"},
	}
	allowed := map[string][]string{
		"RegisterAgency": {"scitech"}, "SuspendAgency": {"scitech"}, "ReinstateAgency": {"scitech"},
		"RecordCertification": {"scitech"}, "SetPolicy": {"scitech"}, "Revoke": {"scitech"},
		"RecordService": {"agency"}, "Claim": {"agency"}, "Redeem": {"agency"},
		"Reimburse": {"finance"}, "Reject": {"finance"},
	}
	readers := []string{"scitech", "finance", "auditor", "agency", "orgadmin"}
	for _, fn := range Functions() {
		who := allowed[fn]
		if IsReadOnly(fn) {
			who = readers
		}
		for name, caller := range callers {
			t.Run(fn+"/"+name, func(t *testing.T) {
				w := newWorld(t, 1, 1)
				_, err := w.l.invoke(w.c, caller, fn, "{}")
				permitted := false
				for _, n := range who {
					permitted = permitted || n == name
				}
				if permitted && CodeOf(err) == CodeForbidden {
					t.Fatalf("%s should be allowed for %s: %v", fn, name, err)
				}
				if !permitted {
					wantCode(t, err, CodeForbidden)
				}
			})
		}
	}
}

func TestRoleMSPBinding(t *testing.T) {
	c := New(WithRoleMSPs(RoleFinance, "FinanceBureauMSP"))
	l := newMemLedger()
	forged := Identity{MSPID: "SciTechBureauMSP", Name: "mallory", Role: RoleFinance}
	_, err := l.invoke(c, forged, "GetPolicy", "{}")
	wantCode(t, err, CodeForbidden)
	if _, err := l.invoke(c, finance, "GetPolicy", "{}"); err != nil {
		t.Fatal(err)
	}
	_, err = l.invoke(c, Identity{Name: "x", Role: RoleAgency, AgencyID: "bad"}, "GetPolicy", "{}")
	wantCode(t, err, CodeForbidden)
	_, err = l.invoke(c, Identity{Name: "x", Role: RoleAuditor, AgencyID: makeUSCC(1)}, "GetPolicy", "{}")
	wantCode(t, err, CodeForbidden)
}

func TestAgencyIsolation(t *testing.T) {
	w := newWorld(t, 2, 2)
	v1 := w.claimOne(t, 1, 1)
	w.claimOne(t, 2, 2)
	other := agencyIdentity(2)
	for _, fn := range []string{"GetVoucher", "GetVoucherHistory", "Redeem"} {
		_, err := w.l.invoke(w.c, other, fn, VoucherIDArgs{v1.ID})
		wantCode(t, err, CodeNotFound)
	}
	_, err := w.l.invoke(w.c, other, "GetAgency", IDArgs{makeUSCC(1)})
	wantCode(t, err, CodeNotFound)
	for _, args := range []ListVouchersArgs{{}, {AgencyID: makeUSCC(1)}} {
		page := must[Page[Voucher]](t, w.l, w.c, other, "ListVouchers", args)
		for _, v := range page.Items {
			if v.AgencyID != makeUSCC(2) {
				t.Fatalf("agency 2 saw %+v", v)
			}
		}
	}
	ags := must[Page[AgencyView]](t, w.l, w.c, other, "ListAgencies", ListArgs{})
	if len(ags.Items) != 1 || ags.Items[0].ID != makeUSCC(2) {
		t.Fatalf("%+v", ags)
	}
}

func TestListVouchersPaging(t *testing.T) {
	w := newWorld(t, 3, 30)
	for n := 1; n <= 30; n++ {
		w.claimOne(t, 1+n%3, n)
	}
	for _, f := range []ListVouchersArgs{{Limit: 7}, {AgencyID: makeUSCC(2), Limit: 3}, {Status: StatusIssued, Period: "2024", Limit: 200}} {
		seen := map[string]bool{}
		for {
			page := must[Page[Voucher]](t, w.l, w.c, auditor, "ListVouchers", f)
			for _, v := range page.Items {
				if seen[v.ID] {
					t.Fatalf("voucher %s listed twice", v.ID)
				}
				seen[v.ID] = true
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		want := 30
		if f.AgencyID != "" {
			want = 10
		}
		if len(seen) != want {
			t.Fatalf("%+v: saw %d, want %d", f, len(seen), want)
		}
	}
	for _, bad := range []ListVouchersArgs{{Limit: 201}, {Limit: -1}, {Cursor: "!!"}, {Cursor: encodeCursor(agencyKey("x"))}, {Status: "paid"}, {Period: "24"}} {
		_, err := w.l.invoke(w.c, auditor, "ListVouchers", bad)
		wantCode(t, err, CodeInvalidArgument)
	}
}
