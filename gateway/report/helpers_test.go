package report

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
	"github.com/hongshan-ledger/hongshan/gateway/report/internal/synth"
)

// world builds a read model from hand-written events: every state a test
// wants, including those the contract would refuse.
type world struct {
	t      testing.TB
	store  *projection.Store
	blocks *synth.Blocks
	clock  time.Time
	n      int
}

func newWorld(t testing.TB) *world {
	t.Helper()
	store, err := projection.Open(filepath.Join(t.TempDir(), "projection.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	w := &world{t: t, store: store, clock: time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)}
	w.blocks, err = synth.NewBlocks(1000, store.Apply)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// at returns the next instant on the world's clock (an hour later each
// call), in the contract's layout.
func (w *world) at() string {
	w.clock = w.clock.Add(time.Hour)
	return synth.Instant(w.clock)
}

func (w *world) add(ev voucher.Event) {
	w.t.Helper()
	if ev.At == "" {
		ev.At = w.at()
	}
	if err := w.blocks.Add(ev); err != nil {
		w.t.Fatal(err)
	}
}

// commit closes the open block so the events are visible.
func (w *world) commit() {
	w.t.Helper()
	if err := w.blocks.Flush(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) agency(n int, name string) voucher.Agency {
	a := voucher.Agency{ID: synth.AgencyID(n), Name: name, Kind: voucher.KindServiceAgency, Status: voucher.AgencyActive}
	a.RegisteredAt = w.at()
	a.UpdatedAt = a.RegisteredAt
	w.add(voucher.Event{Type: voucher.EventAgencyRegistered, Agency: &a})
	return a
}

func (w *world) suspend(a voucher.Agency) {
	a.Status, a.Reason, a.UpdatedAt = voucher.AgencySuspended, "under inspection", w.at()
	w.add(voucher.Event{Type: voucher.EventAgencySuspended, Agency: &a})
}

// voucherSpec describes one voucher to plant.
type voucherSpec struct {
	agency                   voucher.Agency
	period                   string
	status                   voucher.Status
	amount, paid, paymentRef string
	certNo                   string // default: a fresh one
	enterprise               int    // default: a fresh one
	noRedemption             bool   // reimbursed without redemption_requested_at
	lateFiling               bool   // the service record reaches the ledger after the certification
	missingService           bool
	issuedAt                 string
	serviceOfAgency          string // the service record belongs to another agency
}

// plant records a certification, a service record and a voucher in the
// spec's final state, returning the voucher.
func (w *world) plant(s voucherSpec) voucher.Voucher {
	w.t.Helper()
	w.n++
	n := w.n
	if s.period == "" {
		s.period = "2024"
	}
	if s.amount == "" {
		s.amount = "5000.00"
	}
	enterprise := synth.EnterpriseID(n)
	if s.enterprise != 0 {
		enterprise = synth.EnterpriseID(s.enterprise)
	}
	cert := voucher.Certification{CertificateNo: s.certNo, EnterpriseID: enterprise, EnterpriseName: fmt.Sprintf("企业%d", n),
		IssuedOn: s.period + "-01-15", Kind: voucher.CertFirst, RecordedTx: fmt.Sprintf("cert-tx-%d", n)}
	if cert.CertificateNo == "" {
		cert.CertificateNo = fmt.Sprintf("GR%s65%06d", s.period, n)
	}
	svcAgency := s.agency.ID
	if s.serviceOfAgency != "" {
		svcAgency = s.serviceOfAgency
	}
	svc := voucher.ServiceRecord{ID: fmt.Sprintf("S-%06d", n), AgencyID: svcAgency, EnterpriseID: enterprise, ContractRef: "HT",
		StartedOn: s.period + "-01-01", EvidenceSHA256: "00000000000000000000000000000000000000000000000000000000000000ff",
		RecordedTx: fmt.Sprintf("svc-tx-%d", n)}
	if s.lateFiling {
		cert.RecordedAt = w.at()
		svc.RecordedAt = w.at()
	} else {
		svc.RecordedAt = w.at()
		cert.RecordedAt = w.at()
	}
	w.add(voucher.Event{Type: voucher.EventCertificationRecorded, At: cert.RecordedAt, Certification: &cert})
	if !s.missingService {
		w.add(voucher.Event{Type: voucher.EventServiceRecorded, At: svc.RecordedAt, Service: &svc})
	}
	v := voucher.Voucher{ID: synth.VoucherID(s.period, n), AgencyID: s.agency.ID, EnterpriseID: enterprise,
		CertificateNo: cert.CertificateNo, ServiceRecordID: svc.ID, Period: s.period, AmountCNY: s.amount,
		PolicyVersion: 1, Status: s.status, IssuedAt: s.issuedAt, LastAction: "Claim", LastActor: "agency"}
	if v.IssuedAt == "" {
		v.IssuedAt = w.at()
	}
	switch s.status {
	case voucher.StatusRedemptionRequested:
		v.RedemptionRequestedAt = w.at()
	case voucher.StatusReimbursed:
		if !s.noRedemption {
			v.RedemptionRequestedAt = w.at()
		}
		v.ReimbursedAt = w.at()
		v.PaymentRef, v.PaidAmountCNY, v.PaidOn = s.paymentRef, s.paid, v.ReimbursedAt[:10]
		if v.PaymentRef == "" {
			v.PaymentRef = fmt.Sprintf("GK%08d", n)
		}
		if v.PaidAmountCNY == "" {
			v.PaidAmountCNY = s.amount
		}
	case voucher.StatusRejected, voucher.StatusRevoked:
		v.ClosedAt, v.Reason = w.at(), "test"
	}
	v.UpdatedAt = w.at()
	w.add(voucher.Event{Type: voucher.EventVoucherIssued, At: v.UpdatedAt, Voucher: &v})
	return v
}

// setCap records an agency's cap usage as the contract would have.
func (w *world) setCap(a voucher.Agency, period, limit, used string) {
	lf, _ := parseFen(limit)
	uf, _ := parseFen(used)
	c := voucher.CapUsage{AgencyID: a.ID, Period: period, LimitCNY: limit, UsedCNY: used, RemainingCNY: (lf - uf).String()}
	w.add(voucher.Event{Type: voucher.EventVoucherIssued, Cap: &c})
}

// reconcile computes a report of the committed state.
func (w *world) reconcile(q Query, opts ...Option) *Reconciliation {
	w.t.Helper()
	w.commit()
	var rec *Reconciliation
	err := w.store.View(func(snap projection.Snapshot) error {
		var err error
		rec, err = Reconcile(context.Background(), snap, q, append([]Option{WithTempDir(w.t.TempDir())}, opts...)...)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = rec.Close() })
	return rec
}

// exceptions lists a report's exceptions.
func exceptionsOf(t testing.TB, rec *Reconciliation) []Exception {
	t.Helper()
	var out []Exception
	if err := rec.Exceptions(func(e Exception) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// rowOf finds an agency's row.
func rowOf(t testing.TB, rec *Reconciliation, id string) AgencyRow {
	t.Helper()
	for _, r := range rec.Agencies {
		if r.AgencyID == id {
			return r
		}
	}
	t.Fatalf("no row for agency %s", id)
	return AgencyRow{}
}

// stubBackend is a backend.Backend for the Verify handler: only Verify
// does anything.
type stubBackend struct {
	backend.Backend
	verify func(ctx context.Context) (backend.VerifyResult, error)
}

func (s stubBackend) Verify(ctx context.Context, _ backend.Progress) (backend.VerifyResult, error) {
	return s.verify(ctx)
}
