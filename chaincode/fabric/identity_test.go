package fabric

import (
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

func TestCallerFromCertificate(t *testing.T) {
	ca := newTestCA(t, "scitech")
	cases := []struct {
		name string
		spec certSpec
		want voucher.Identity
	}{
		{
			name: "agency with both attributes",
			spec: certSpec{cn: "agency-1", ous: []string{"client", "scitech"}, attrs: map[string]string{AttrRole: "agency", AttrAgency: agencyID, "hf.EnrollmentID": "agency-1"}},
			want: voucher.Identity{MSPID: sciMSP, Name: "agency-1", Role: voucher.RoleAgency, AgencyID: agencyID},
		},
		{
			name: "bureau clerk",
			spec: certSpec{cn: "kjj-clerk", ous: []string{"client"}, attrs: map[string]string{AttrRole: "scitech"}},
			want: voucher.Identity{MSPID: sciMSP, Name: "kjj-clerk", Role: voucher.RoleSciTech},
		},
		{
			name: "org admin from cryptogen: OU admin, no attributes",
			spec: certSpec{cn: "Admin@scitech", ous: []string{"admin"}},
			want: voucher.Identity{MSPID: sciMSP, Name: "Admin@scitech", OrgAdmin: true},
		},
		{
			name: "org admin from Fabric CA: OU admin, only hf attributes",
			spec: certSpec{cn: "admin", ous: []string{"admin"}, attrs: map[string]string{"hf.Type": "admin", "hf.EnrollmentID": "admin"}},
			want: voucher.Identity{MSPID: sciMSP, Name: "admin", OrgAdmin: true},
		},
		{
			name: "admin OU with a role is that role, not an org admin",
			spec: certSpec{cn: "boss", ous: []string{"admin"}, attrs: map[string]string{AttrRole: "auditor"}},
			want: voucher.Identity{MSPID: sciMSP, Name: "boss", Role: voucher.RoleAuditor},
		},
		{
			name: "client without attributes has no role",
			spec: certSpec{cn: "nobody", ous: []string{"client"}},
			want: voucher.Identity{MSPID: sciMSP, Name: "nobody"},
		},
		{
			name: "OU that merely contains admin is not admin",
			spec: certSpec{cn: "x", ous: []string{"administration"}},
			want: voucher.Identity{MSPID: sciMSP, Name: "x"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := callerOf(&fakeStub{creator: ca.creator(t, sciMSP, c.spec)})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestCallerRefusesBadCreators(t *testing.T) {
	ca := newTestCA(t, "scitech")
	cases := map[string][]byte{
		"empty":                    nil,
		"not a serialized id":      []byte("\xff\xff garbage"),
		"attribute JSON is broken": ca.creator(t, sciMSP, certSpec{cn: "x", rawAttrs: []byte("{not json")}),
	}
	for name, creator := range cases {
		t.Run(name, func(t *testing.T) {
			if id, err := callerOf(&fakeStub{creator: creator}); err == nil {
				t.Errorf("got %+v, want an error", id)
			}
		})
	}
}

func TestTxTimestampIsUTC(t *testing.T) {
	at := time.Date(2026, 3, 2, 17, 30, 0, 123, time.FixedZone("CST", 8*3600))
	ctx := newStubContext(&fakeStub{ts: timestamppb.New(at)})
	got, err := ctx.TxTimestamp()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("got %v, want %v in UTC", got, at)
	}
	if _, err := newStubContext(&fakeStub{}).TxTimestamp(); err == nil {
		t.Error("a missing timestamp must be an error")
	}
}

func TestScanSkipsUpToStartAfter(t *testing.T) {
	l := newFakeLedger()
	keys := []string{
		voucher.CompositeKey("voucher", "a"),
		voucher.CompositeKey("voucher", "b"),
		voucher.CompositeKey("voucher", "c"),
		voucher.CompositeKey("voucherx", "d"), // another object type: not in range
	}
	for _, k := range keys {
		l.state[k] = []byte(k)
	}
	ctx := newStubContext(&fakeStub{l: l})
	scan := func(startAfter string) []string {
		it, err := ctx.GetStateByPartialCompositeKey("voucher", nil, startAfter)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = it.Close() }()
		var got []string
		for it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, kv.Key)
		}
		if _, err := it.Next(); err == nil {
			t.Error("Next past the end must be an error")
		}
		return got
	}
	if got := scan(""); len(got) != 3 || got[0] != keys[0] || got[2] != keys[2] {
		t.Errorf("full scan: %q", got)
	}
	if got := scan(keys[0]); len(got) != 2 || got[0] != keys[1] {
		t.Errorf("after a: %q", got)
	}
	// A cursor between keys (not itself a key) still resumes in order.
	if got := scan(keys[1] + "\x00"); len(got) != 1 || got[0] != keys[2] {
		t.Errorf("after b+: %q", got)
	}
	if got := scan(keys[2]); len(got) != 0 {
		t.Errorf("after c: %q", got)
	}
}

func TestHistoryIsOldestFirst(t *testing.T) {
	l := newFakeLedger()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tx := range []string{"tx1", "tx2", "tx3"} {
		l.history["k"] = append(l.history["k"], &queryresult.KeyModification{
			TxId: tx, Value: []byte(tx), Timestamp: timestamppb.New(t0.Add(time.Duration(i) * time.Hour)), IsDelete: tx == "tx3",
		})
	}
	it, err := newStubContext(&fakeStub{l: l}).GetHistoryForKey("k")
	if err != nil {
		t.Fatal(err)
	}
	var got []voucher.HistoryEntry
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 3 || got[0].TxID != "tx1" || got[2].TxID != "tx3" || !got[2].IsDelete || got[0].IsDelete {
		t.Fatalf("history %+v", got)
	}
	if !got[1].Timestamp.Equal(t0.Add(time.Hour)) || got[1].Timestamp.Location() != time.UTC {
		t.Errorf("timestamp %v", got[1].Timestamp)
	}
}
