package projection

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// Synthetic events, shaped like the contract's: the projection sees nothing
// else of the ledger.

var t0 = time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)

// at is the instant of step n, in the contract's layout.
func at(n int) string { return t0.Add(time.Duration(n) * time.Minute).Format(voucher.TimeLayout) }

func agencyID(n int) string { return fmt.Sprintf("91650100%010d", n) }

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "projection.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func encodeEvent(t testing.TB, ev voucher.Event) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chain builds consecutive blocks; block 0 is an empty genesis block.
type chain struct {
	t      testing.TB
	blocks []backend.Block
	step   int
}

func newChain(t testing.TB) *chain {
	return &chain{t: t, blocks: []backend.Block{{Number: 0, Hash: "h0"}}}
}

// block appends a block holding one valid transaction per event.
func (c *chain) block(evs ...voucher.Event) backend.Block {
	n := c.blocks[len(c.blocks)-1].Number + 1
	blk := backend.Block{Number: n, Hash: fmt.Sprintf("h%d", n)}
	for _, ev := range evs {
		c.step++
		if ev.TxID == "" {
			ev.TxID = fmt.Sprintf("tx-%d", c.step)
		}
		if ev.At == "" {
			ev.At = at(c.step)
		}
		blk.Txs = append(blk.Txs, backend.Tx{TxID: ev.TxID, Valid: true, Event: encodeEvent(c.t, ev)})
	}
	c.blocks = append(c.blocks, blk)
	return blk
}

func agencyEvent(id, name string) voucher.Event {
	a := voucher.Agency{ID: id, Name: name, Kind: voucher.KindServiceAgency, Status: voucher.AgencyActive, RegisteredAt: at(0), UpdatedAt: at(0)}
	return voucher.Event{Type: voucher.EventAgencyRegistered, Actor: "sci@HongshanEmbeddedMSP", Agency: &a}
}

func certEvent(no, enterprise, issuedOn string) voucher.Event {
	c := voucher.Certification{CertificateNo: no, EnterpriseID: enterprise, EnterpriseName: "企业 " + enterprise, IssuedOn: issuedOn, Kind: voucher.CertFirst, RecordedAt: at(1), RecordedTx: "tx-cert-" + no}
	return voucher.Event{Type: voucher.EventCertificationRecorded, Actor: "sci@HongshanEmbeddedMSP", Certification: &c}
}

func serviceEvent(id, agency, enterprise string) voucher.Event {
	r := voucher.ServiceRecord{ID: id, AgencyID: agency, EnterpriseID: enterprise, ContractRef: "HT-" + id, StartedOn: "2023-01-15",
		EvidenceSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", RecordedAt: at(2), RecordedTx: "tx-svc-" + id}
	return voucher.Event{Type: voucher.EventServiceRecorded, Actor: agency + "@HongshanEmbeddedMSP", Service: &r}
}

func newVoucher(id, agency, period string) voucher.Voucher {
	return voucher.Voucher{ID: id, AgencyID: agency, EnterpriseID: "E-" + id, CertificateNo: "GR" + period + "65" + id[len(id)-6:],
		ServiceRecordID: "S-" + id, Period: period, AmountCNY: "5000.00", PolicyVersion: 1, Status: voucher.StatusIssued,
		IssuedAt: at(3), UpdatedAt: at(3), LastAction: "Claim", LastActor: agency + "@HongshanEmbeddedMSP"}
}

func issueEvent(v voucher.Voucher, usage voucher.CapUsage) voucher.Event {
	return voucher.Event{Type: voucher.EventVoucherIssued, Actor: v.LastActor, Voucher: &v, Cap: &usage}
}

// moveEvent is the event of v moving to status.
func moveEvent(v voucher.Voucher, to voucher.Status, eventType, action string) voucher.Event {
	v.Status, v.LastAction = to, action
	if to == voucher.StatusRedemptionRequested {
		v.RedemptionRequestedAt = at(9)
	}
	return voucher.Event{Type: eventType, Actor: "someone@HongshanEmbeddedMSP", Voucher: &v}
}

func capUsage(agency, period, used, remaining string, live int) voucher.CapUsage {
	return voucher.CapUsage{AgencyID: agency, Period: period, LimitCNY: "100000.00", UsedCNY: used, RemainingCNY: remaining, LiveCount: live}
}

func mustApply(t testing.TB, s *Store, blks ...backend.Block) {
	t.Helper()
	for _, b := range blks {
		if err := s.Apply(b); err != nil {
			t.Fatalf("Apply block %d: %v", b.Number, err)
		}
	}
}
