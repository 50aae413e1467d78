package fabric

import (
	"encoding/json"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

const (
	sciMSP = "SciTechBureauMSP"
	finMSP = "FinanceBureauMSP"

	agencyID      = "914403001922038216"
	otherAgencyID = "91110000600037341L"
	enterpriseA   = "91330100716105852F"
	enterpriseB   = "91440300708461136T"
)

// world is a fake peer running the chaincode configured as the
// hongshan-chaincode binary configures it, with one identity per role.
type world struct {
	l                                        *fakeLedger
	cc                                       *Chaincode
	scitech, finance, agency, other, auditor []byte
	admin                                    []byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	sciCA, finCA := newTestCA(t, "scitech"), newTestCA(t, "finance")
	contract := voucher.New(
		voucher.WithRoleMSPs(voucher.RoleSciTech, sciMSP),
		voucher.WithRoleMSPs(voucher.RoleFinance, finMSP),
		voucher.WithRoleMSPs(voucher.RoleAgency, sciMSP),
	)
	return &world{
		l:       newFakeLedger(),
		cc:      New(contract),
		scitech: sciCA.creator(t, sciMSP, certSpec{cn: "kjj-clerk", ous: []string{"client"}, attrs: map[string]string{AttrRole: "scitech"}}),
		finance: finCA.creator(t, finMSP, certSpec{cn: "czj-clerk", ous: []string{"client"}, attrs: map[string]string{AttrRole: "finance"}}),
		agency:  sciCA.creator(t, sciMSP, certSpec{cn: "agency-1", ous: []string{"client"}, attrs: map[string]string{AttrRole: "agency", AttrAgency: agencyID}}),
		other:   sciCA.creator(t, sciMSP, certSpec{cn: "agency-2", ous: []string{"client"}, attrs: map[string]string{AttrRole: "agency", AttrAgency: otherAgencyID}}),
		auditor: sciCA.creator(t, sciMSP, certSpec{cn: "auditor", ous: []string{"client"}, attrs: map[string]string{AttrRole: "auditor"}}),
		admin:   finCA.creator(t, finMSP, certSpec{cn: "Admin@finance", ous: []string{"admin"}}),
	}
}

// call runs fn with one JSON argument built from arg.
func (w *world) call(t *testing.T, creator []byte, fn string, arg any) (*peer.Response, *fakeStub) {
	t.Helper()
	b, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	return w.l.invoke(w.cc, creator, fn, string(b))
}

// ok runs fn and fails the test unless the chaincode answered OK.
func (w *world) ok(t *testing.T, creator []byte, fn string, arg any) (*peer.Response, *fakeStub) {
	t.Helper()
	resp, stub := w.call(t, creator, fn, arg)
	if resp.GetStatus() != shim.OK {
		t.Fatalf("%s: status %d: %s", fn, resp.GetStatus(), resp.GetMessage())
	}
	return resp, stub
}

// rejected runs fn, expects an error response and decodes its typed error.
func (w *world) rejected(t *testing.T, creator []byte, fn string, args ...string) *voucher.Error {
	t.Helper()
	before := len(w.l.state)
	resp, _ := w.l.invoke(w.cc, creator, append([]string{fn}, args...)...)
	if resp.GetStatus() != shim.ERROR {
		t.Fatalf("%s: status %d, want %d; payload %s", fn, resp.GetStatus(), shim.ERROR, resp.GetPayload())
	}
	if resp.GetPayload() != nil {
		t.Errorf("%s: an error response carries a payload: %s", fn, resp.GetPayload())
	}
	if len(w.l.state) != before {
		t.Errorf("%s: a rejected transaction changed the state", fn)
	}
	e, ok := voucher.DecodeError(resp.GetMessage())
	if !ok {
		t.Fatalf("%s: message %q holds no encoded error", fn, resp.GetMessage())
	}
	return e
}

func TestCompositeKeyMatchesShim(t *testing.T) {
	cases := []struct {
		objectType string
		attrs      []string
	}{
		{"voucher", nil},
		{"voucher", []string{"V-2024-abc"}},
		{"cap", []string{agencyID, "2024"}},
		{"agency", []string{"服务机构"}},
	}
	for _, c := range cases {
		want, err := shim.CreateCompositeKey(c.objectType, c.attrs)
		if err != nil {
			t.Fatal(err)
		}
		if got := voucher.CompositeKey(c.objectType, c.attrs...); got != want {
			t.Errorf("CompositeKey(%q, %q) = %q, shim builds %q", c.objectType, c.attrs, got, want)
		}
		ot, attrs := voucher.SplitCompositeKey(want)
		if ot != c.objectType || len(attrs) != len(c.attrs) {
			t.Errorf("SplitCompositeKey(%q) = %q %q", want, ot, attrs)
		}
	}
}

func TestInitDoesNothing(t *testing.T) {
	w := newWorld(t)
	resp := w.cc.Init(&fakeStub{l: w.l})
	if resp.GetStatus() != shim.OK {
		t.Fatalf("Init: %d %s", resp.GetStatus(), resp.GetMessage())
	}
}

func TestInvokeArgumentRule(t *testing.T) {
	w := newWorld(t)

	// No parameter means "{}".
	resp, _ := w.l.invoke(w.cc, w.scitech, "GetPolicy")
	if resp.GetStatus() != shim.OK {
		t.Fatalf("GetPolicy with no argument: %d %s", resp.GetStatus(), resp.GetMessage())
	}
	var p voucher.Policy
	if err := json.Unmarshal(resp.GetPayload(), &p); err != nil || p.Version < 1 || p.UnitRewardCNY == "" {
		t.Fatalf("GetPolicy payload %s: %v", resp.GetPayload(), err)
	}

	// More than one parameter is refused before the contract runs.
	if e := w.rejected(t, w.scitech, "GetPolicy", "{}", "{}"); e.Code != voucher.CodeInvalidArgument || e.Details["got"] != "2" {
		t.Errorf("two arguments: %+v", e)
	}
	// Unknown transaction, unknown field, malformed JSON.
	if e := w.rejected(t, w.scitech, "MintMoney", "{}"); e.Code != voucher.CodeInvalidArgument {
		t.Errorf("unknown transaction: %+v", e)
	}
	if e := w.rejected(t, w.scitech, "GetPolicy", `{"version":1,"role":"scitech"}`); e.Code != voucher.CodeInvalidArgument {
		t.Errorf("unknown field: %+v", e)
	}
	if e := w.rejected(t, w.scitech, "RegisterAgency", `{"id":`); e.Code != voucher.CodeInvalidArgument {
		t.Errorf("malformed JSON: %+v", e)
	}
}

func TestErrorRoundTrip(t *testing.T) {
	w := newWorld(t)
	// A bad USCC (wrong check character) is a typed INVALID_ARGUMENT.
	bad, _ := json.Marshal(voucher.RegisterAgencyArgs{ID: "914403001922038217", Name: "x", Kind: voucher.KindServiceAgency})
	e := w.rejected(t, w.scitech, "RegisterAgency", string(bad))
	if e.Code != voucher.CodeInvalidArgument || e.Message == "" {
		t.Errorf("bad USCC: %+v", e)
	}
	// The same agency twice: ALREADY_EXISTS, and the first write stands.
	args := voucher.RegisterAgencyArgs{ID: agencyID, Name: "红山服务机构", Kind: voucher.KindServiceAgency}
	w.ok(t, w.scitech, "RegisterAgency", args)
	b, _ := json.Marshal(args)
	if e := w.rejected(t, w.scitech, "RegisterAgency", string(b)); e.Code != voucher.CodeAlreadyExists {
		t.Errorf("second registration: %+v", e)
	}
	// A voucher the ledger does not hold.
	if e := w.rejected(t, w.scitech, "GetVoucher", `{"id":"V-2024-0000000000000000"}`); e.Code != voucher.CodeNotFound && e.Code != voucher.CodeInvalidArgument {
		t.Errorf("missing voucher: %+v", e)
	}
}

func TestRolesComeFromTheCertificate(t *testing.T) {
	w := newWorld(t)
	reg := `{"id":"` + agencyID + `","name":"红山服务机构","kind":"service_agency"}`

	// An agency cannot register agencies, whatever it puts in the argument.
	if e := w.rejected(t, w.agency, "RegisterAgency", reg); e.Code != voucher.CodeForbidden {
		t.Errorf("agency registering: %+v", e)
	}
	// The organisation admin (OU=admin, no hongshan.role) may read ...
	resp, _ := w.l.invoke(w.cc, w.admin, "GetPolicy", "{}")
	if resp.GetStatus() != shim.OK {
		t.Errorf("admin read: %d %s", resp.GetStatus(), resp.GetMessage())
	}
	resp, _ = w.l.invoke(w.cc, w.admin, "ListAgencies", "{}")
	if resp.GetStatus() != shim.OK {
		t.Errorf("admin list: %d %s", resp.GetStatus(), resp.GetMessage())
	}
	// ... but never write.
	if e := w.rejected(t, w.admin, "RegisterAgency", reg); e.Code != voucher.CodeForbidden {
		t.Errorf("admin write: %+v", e)
	}
	// A role certificate from the wrong organisation is refused: the
	// finance role pinned to FinanceBureauMSP cannot come from the S&T CA.
	sciCA := newTestCA(t, "scitech")
	forged := sciCA.creator(t, sciMSP, certSpec{cn: "mole", ous: []string{"client"}, attrs: map[string]string{AttrRole: "finance"}})
	if e := w.rejected(t, forged, "GetPolicy", "{}"); e.Code != voucher.CodeForbidden {
		t.Errorf("finance role from the S&T MSP: %+v", e)
	}
	// A client certificate without any hongshan.role may do nothing.
	plain := sciCA.creator(t, sciMSP, certSpec{cn: "nobody", ous: []string{"client"}})
	if e := w.rejected(t, plain, "GetPolicy", "{}"); e.Code != voucher.CodeForbidden {
		t.Errorf("no role: %+v", e)
	}
	// A creator that is not a serialized X.509 identity.
	if e := w.rejected(t, []byte("not an identity"), "GetPolicy", "{}"); e.Code != voucher.CodeForbidden {
		t.Errorf("garbage creator: %+v", e)
	}
}
