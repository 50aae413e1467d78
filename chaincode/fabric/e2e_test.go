package fabric

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// expectEvent checks that the transaction set exactly one event, of type
// want, whose payload is a voucher.Event naming this transaction.
func expectEvent(t *testing.T, stub *fakeStub, want string) voucher.Event {
	t.Helper()
	if stub.eventCalls != 1 || stub.event == nil {
		t.Fatalf("%s: SetEvent called %d times, want once", want, stub.eventCalls)
	}
	if stub.event.EventName != want {
		t.Fatalf("event name %q, want %q", stub.event.EventName, want)
	}
	var ev voucher.Event
	if err := json.Unmarshal(stub.event.Payload, &ev); err != nil {
		t.Fatalf("%s payload: %v", want, err)
	}
	if ev.Type != want || ev.TxID != stub.txID {
		t.Errorf("%s: event %+v does not name its transaction %s", want, ev, stub.txID)
	}
	if ev.At != stub.ts.AsTime().UTC().Format(voucher.TimeLayout) {
		t.Errorf("%s: event at %q, transaction timestamp %v", want, ev.At, stub.ts.AsTime())
	}
	return ev
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestVoucherLifeThroughTheAdapter runs the programme's happy path through
// shim.Chaincode.Invoke, with identities from X.509 certificates, and checks
// the events a Fabric client would see.
func TestVoucherLifeThroughTheAdapter(t *testing.T) {
	w := newWorld(t)

	_, stub := w.ok(t, w.scitech, "RegisterAgency", voucher.RegisterAgencyArgs{ID: agencyID, Name: "红山科技服务中心", Kind: voucher.KindServiceAgency})
	if ev := expectEvent(t, stub, voucher.EventAgencyRegistered); ev.Agency == nil || ev.Agency.ID != agencyID || ev.Actor != "kjj-clerk@"+sciMSP {
		t.Errorf("AgencyRegistered %+v", ev)
	}
	_, stub = w.ok(t, w.scitech, "RegisterAgency", voucher.RegisterAgencyArgs{ID: otherAgencyID, Name: "另一家孵化器", Kind: voucher.KindIncubator})
	expectEvent(t, stub, voucher.EventAgencyRegistered)

	for i, ent := range []string{enterpriseA, enterpriseB} {
		certNo := []string{"GR202465000123", "GR202465000124"}[i]
		_, stub = w.ok(t, w.scitech, "RecordCertification", voucher.RecordCertificationArgs{
			EnterpriseID: ent, EnterpriseName: "新疆企业", CertificateNo: certNo, IssuedOn: "2024-11-20", Kind: voucher.CertFirst,
		})
		if ev := expectEvent(t, stub, voucher.EventCertificationRecorded); ev.Certification == nil || ev.Certification.CertificateNo != certNo {
			t.Errorf("CertificationRecorded %+v", ev)
		}
		_, stub = w.ok(t, w.agency, "RecordService", voucher.RecordServiceArgs{
			EnterpriseID: ent, ContractRef: "HT-2024-00" + string(rune('1'+i)), StartedOn: "2024-01-15", EvidenceSHA256: sha(ent),
		})
		// The service is the certificate's agency's, not anything an argument said.
		if ev := expectEvent(t, stub, voucher.EventServiceRecorded); ev.Service == nil || ev.Service.AgencyID != agencyID {
			t.Errorf("ServiceRecorded %+v", ev)
		}
	}

	resp, stub := w.ok(t, w.agency, "Claim", voucher.ClaimArgs{EnterpriseID: enterpriseA, CertificateNo: "GR202465000123"})
	ev := expectEvent(t, stub, voucher.EventVoucherIssued)
	var v voucher.Voucher
	if err := json.Unmarshal(resp.GetPayload(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != voucher.StatusIssued || v.AmountCNY != "5000.00" || v.AgencyID != agencyID || v.Period != "2024" {
		t.Fatalf("claimed voucher %+v", v)
	}
	if ev.Voucher == nil || ev.Voucher.ID != v.ID || ev.Cap == nil || ev.Cap.UsedCNY != "5000.00" || ev.Cap.RemainingCNY != "95000.00" {
		t.Errorf("VoucherIssued %+v cap %+v", ev.Voucher, ev.Cap)
	}

	// The same certificate cannot be claimed twice; the rejection's code
	// survives the string-only transport.
	claimAgain, _ := json.Marshal(voucher.ClaimArgs{EnterpriseID: enterpriseA, CertificateNo: "GR202465000123"})
	if e := w.rejected(t, w.agency, "Claim", string(claimAgain)); e.Code != voucher.CodeAlreadyClaimed {
		t.Errorf("second claim: %+v", e)
	}
	// Another agency neither claims on this agency's service nor sees its voucher.
	if e := w.rejected(t, w.other, "Claim", `{"enterprise_id":"`+enterpriseB+`","certificate_no":"GR202465000124"}`); e.Code != voucher.CodeNoServiceRecord {
		t.Errorf("other agency's claim: %+v", e)
	}
	if e := w.rejected(t, w.other, "GetVoucher", `{"id":"`+v.ID+`"}`); e.Code != voucher.CodeForbidden && e.Code != voucher.CodeNotFound {
		t.Errorf("other agency reading: %+v", e)
	}

	resp, stub = w.ok(t, w.agency, "Claim", voucher.ClaimArgs{EnterpriseID: enterpriseB, CertificateNo: "GR202465000124"})
	if ev := expectEvent(t, stub, voucher.EventVoucherIssued); ev.Cap == nil || ev.Cap.UsedCNY != "10000.00" {
		t.Errorf("second VoucherIssued cap %+v", ev.Cap)
	}
	var v2 voucher.Voucher
	if err := json.Unmarshal(resp.GetPayload(), &v2); err != nil {
		t.Fatal(err)
	}

	_, stub = w.ok(t, w.agency, "Redeem", voucher.VoucherIDArgs{ID: v.ID})
	if ev := expectEvent(t, stub, voucher.EventRedemptionRequested); ev.Voucher == nil || ev.Voucher.Status != voucher.StatusRedemptionRequested {
		t.Errorf("RedemptionRequested %+v", ev.Voucher)
	}
	// Finance pays the wrong amount: AMOUNT_MISMATCH with the expected amount.
	bad, _ := json.Marshal(voucher.ReimburseArgs{ID: v.ID, PaymentRef: "GK2026-0001", AmountCNY: "4999.99", PaidOn: "2026-03-02"})
	if e := w.rejected(t, w.finance, "Reimburse", string(bad)); e.Code != voucher.CodeAmountMismatch || e.Details["expected"] != "5000.00" {
		t.Errorf("wrong amount: %+v", e)
	}
	_, stub = w.ok(t, w.finance, "Reimburse", voucher.ReimburseArgs{ID: v.ID, PaymentRef: "GK2026-0001", AmountCNY: "5000.00", PaidOn: "2026-03-02"})
	if ev := expectEvent(t, stub, voucher.EventVoucherReimbursed); ev.Voucher == nil || ev.Voucher.Status != voucher.StatusReimbursed || ev.Actor != "czj-clerk@"+finMSP {
		t.Errorf("VoucherReimbursed %+v", ev)
	}

	// History reads oldest first through the adapter.
	resp, _ = w.ok(t, w.auditor, "GetVoucherHistory", voucher.VoucherIDArgs{ID: v.ID})
	var hist []voucher.HistoryItem
	if err := json.Unmarshal(resp.GetPayload(), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[0].Status != voucher.StatusIssued || hist[2].Status != voucher.StatusReimbursed {
		t.Errorf("history %+v", hist)
	}

	// Paging one at a time visits both vouchers once, in key order.
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("paging does not end")
		}
		resp, _ = w.ok(t, w.finance, "ListVouchers", voucher.ListVouchersArgs{AgencyID: agencyID, Limit: 1, Cursor: cursor})
		var p voucher.Page[voucher.Voucher]
		if err := json.Unmarshal(resp.GetPayload(), &p); err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			if seen[it.ID] {
				t.Errorf("voucher %s listed twice", it.ID)
			}
			seen[it.ID] = true
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if !seen[v.ID] || !seen[v2.ID] || len(seen) != 2 {
		t.Errorf("paged listing saw %v, want %s and %s", seen, v.ID, v2.ID)
	}
	// Another agency listing with this agency's id sees nothing.
	resp, _ = w.ok(t, w.other, "ListVouchers", voucher.ListVouchersArgs{AgencyID: agencyID})
	var p voucher.Page[voucher.Voucher]
	if err := json.Unmarshal(resp.GetPayload(), &p); err != nil || len(p.Items) != 0 {
		t.Errorf("other agency listed %+v (%v)", p.Items, err)
	}
}
