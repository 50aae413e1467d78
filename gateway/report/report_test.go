package report

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
	"github.com/hongshan-ledger/hongshan/gateway/report/internal/synth"
)

// threeAgencies plants agencies A (every status, odd amounts), B (paid
// vouchers in 2024 and one voucher in 2023) and C (nothing), with cap
// records that agree with the vouchers: a clean ledger.
func threeAgencies(t *testing.T) (*world, [3]voucher.Agency) {
	w := newWorld(t)
	a := w.agency(1, "甲科技服务中心")
	b := w.agency(2, "乙孵化器")
	c := w.agency(3, "=HYPERLINK(\"x\") 丙")
	w.plant(voucherSpec{agency: a, status: voucher.StatusIssued})
	w.plant(voucherSpec{agency: a, status: voucher.StatusRedemptionRequested, amount: "1234.56"})
	w.plant(voucherSpec{agency: a, status: voucher.StatusReimbursed})
	w.plant(voucherSpec{agency: a, status: voucher.StatusRejected})
	w.plant(voucherSpec{agency: a, status: voucher.StatusRevoked, amount: "0.01"})
	w.plant(voucherSpec{agency: b, status: voucher.StatusReimbursed})
	w.plant(voucherSpec{agency: b, status: voucher.StatusReimbursed})
	w.plant(voucherSpec{agency: b, status: voucher.StatusIssued, period: "2023"})
	w.setCap(a, "2024", "100000.00", "11234.56")
	w.setCap(b, "2024", "100000.00", "10000.00")
	w.setCap(b, "2023", "100000.00", "5000.00")
	return w, [3]voucher.Agency{a, b, c}
}

func TestAggregationIsExactToTheFen(t *testing.T) {
	w, ag := threeAgencies(t)
	rec := w.reconcile(Query{Period: "2024"})
	if len(rec.Agencies) != 3 {
		t.Fatalf("rows = %d, want 3", len(rec.Agencies))
	}
	a := rowOf(t, rec, ag[0].ID)
	wantA := AgencyRow{AgencyID: ag[0].ID, Name: "甲科技服务中心", Status: "active", EnterprisesCredited: 3,
		IssuedCount: 1, IssuedCNY: "5000.00", RedemptionRequestedCount: 1, RedemptionRequestedCNY: "1234.56",
		ReimbursedCount: 1, ReimbursedCNY: "5000.00", RejectedCount: 1, RejectedCNY: "5000.00",
		RevokedCount: 1, RevokedCNY: "0.01", OutstandingCount: 2, OutstandingCNY: "6234.56",
		CapLimitCNY: "100000.00", CapUsedCNY: "11234.56", CapRemainingCNY: "88765.44"}
	if a != wantA {
		t.Errorf("agency A:\n got %+v\nwant %+v", a, wantA)
	}
	b := rowOf(t, rec, ag[1].ID)
	if b.ReimbursedCount != 2 || b.ReimbursedCNY != "10000.00" || b.IssuedCount != 0 || b.OutstandingCNY != "0.00" ||
		b.CapLimitCNY != "100000.00" || b.CapUsedCNY != "10000.00" || b.EnterprisesCredited != 2 {
		t.Errorf("agency B (the 2023 voucher must not count): %+v", b)
	}
	c := rowOf(t, rec, ag[2].ID)
	if c.IssuedCount != 0 || c.CapLimitCNY != "100000.00" || c.CapUsedCNY != "0.00" || c.CapRemainingCNY != "100000.00" {
		t.Errorf("agency C without vouchers: %+v", c)
	}
	wantTotals := AgencyRow{AgencyID: TotalsID, Name: "合计 / Total", EnterprisesCredited: 5,
		IssuedCount: 1, IssuedCNY: "5000.00", RedemptionRequestedCount: 1, RedemptionRequestedCNY: "1234.56",
		ReimbursedCount: 3, ReimbursedCNY: "15000.00", RejectedCount: 1, RejectedCNY: "5000.00",
		RevokedCount: 1, RevokedCNY: "0.01", OutstandingCount: 2, OutstandingCNY: "6234.56",
		CapLimitCNY: "300000.00", CapUsedCNY: "21234.56", CapRemainingCNY: "278765.44"}
	if rec.Totals != wantTotals {
		t.Errorf("totals:\n got %+v\nwant %+v", rec.Totals, wantTotals)
	}
	if got := exceptionsOf(t, rec); len(got) != 0 {
		t.Errorf("a clean ledger has no exceptions, got %+v", got)
	}
	height, head := w.store.Head()
	if rec.Height != height || rec.HeadHash != head || rec.Period != "2024" || rec.AsOfSource != "ledger" || rec.StaleAfterDays != 180 {
		t.Errorf("header %+v, store head %d %s", rec.Header, height, head)
	}

	all := w.reconcile(Query{Period: PeriodAll})
	if b := rowOf(t, all, ag[1].ID); b.IssuedCount != 1 || b.CapLimitCNY != "200000.00" || b.CapUsedCNY != "15000.00" {
		t.Errorf("agency B over all periods: %+v", b)
	}
	if c := rowOf(t, all, ag[2].ID); c.CapLimitCNY != "0.00" {
		t.Errorf("agency C over all periods has no period, so no cap: %+v", c)
	}
}

// planted is a ledger with one instance of every exception.
type planted struct {
	w                *world
	a, b, c, d, e, f voucher.Agency
	unregistered     string
	ids              map[string][]string // by what was planted
}

func plantEveryException(t *testing.T) *planted {
	w := newWorld(t)
	p := &planted{w: w, ids: map[string][]string{}}
	p.a = w.agency(1, "A")
	p.b = w.agency(2, "B")
	p.c = w.agency(3, "C")
	p.d = w.agency(4, "D")
	p.e = w.agency(5, "E")
	p.f = w.agency(6, "F")
	// A: three live vouchers of 5,000 against a cap of 10,000.
	for i := 0; i < 3; i++ {
		v := w.plant(voucherSpec{agency: p.a, status: voucher.StatusIssued})
		p.ids["breach"] = append(p.ids["breach"], v.ID)
	}
	w.setCap(p.a, "2024", "10000.00", "15000.00")
	// B and C: one certificate behind two live vouchers; one payment
	// reference on two vouchers.
	v1 := w.plant(voucherSpec{agency: p.b, status: voucher.StatusIssued, certNo: "GR202465999999", enterprise: 9999})
	v2 := w.plant(voucherSpec{agency: p.c, status: voucher.StatusRedemptionRequested, certNo: "GR202465999999", enterprise: 9999})
	p.ids["dupcert"] = []string{v1.ID, v2.ID}
	// A revoked voucher on the same certificate is not live: no finding.
	w.plant(voucherSpec{agency: p.c, status: voucher.StatusRevoked, certNo: "GR202465999999", enterprise: 9999})
	v3 := w.plant(voucherSpec{agency: p.b, status: voucher.StatusReimbursed, paymentRef: "GK-DUP-1"})
	v4 := w.plant(voucherSpec{agency: p.c, status: voucher.StatusReimbursed, paymentRef: "GK-DUP-1"})
	p.ids["dupref"] = []string{v3.ID, v4.ID}
	// B: paid 4,999.99 for 5,000.00; reimbursed without redemption.
	p.ids["amount"] = []string{w.plant(voucherSpec{agency: p.b, status: voucher.StatusReimbursed, paid: "4999.99"}).ID}
	p.ids["noredeem"] = []string{w.plant(voucherSpec{agency: p.b, status: voucher.StatusReimbursed, noRedemption: true}).ID}
	w.setCap(p.b, "2024", "100000.00", "20000.00")
	// C: a service record filed after the certification.
	p.ids["late"] = []string{w.plant(voucherSpec{agency: p.c, status: voucher.StatusIssued, lateFiling: true}).ID}
	w.setCap(p.c, "2024", "100000.00", "15000.00")
	// D: issued 200 days before the ledger's newest instant and never
	// redeemed; its cap record disagrees with its vouchers.
	old := synth.Instant(w.clock.Add(-200 * 24 * time.Hour))
	p.ids["stale"] = []string{w.plant(voucherSpec{agency: p.d, status: voucher.StatusIssued, issuedAt: old}).ID}
	w.setCap(p.d, "2024", "100000.00", "0.00")
	// E: suspended with an unpaid voucher (a paid one does not count).
	p.ids["suspended"] = []string{w.plant(voucherSpec{agency: p.e, status: voucher.StatusRedemptionRequested}).ID}
	w.plant(voucherSpec{agency: p.e, status: voucher.StatusReimbursed})
	w.setCap(p.e, "2024", "100000.00", "10000.00")
	w.suspend(p.e)
	// F: a voucher whose service record is not on the ledger, and one whose
	// service record is another agency's.
	p.ids["inconsistent"] = []string{
		w.plant(voucherSpec{agency: p.f, status: voucher.StatusIssued, missingService: true}).ID,
		w.plant(voucherSpec{agency: p.f, status: voucher.StatusIssued, serviceOfAgency: p.a.ID}).ID,
	}
	w.setCap(p.f, "2024", "100000.00", "10000.00")
	// An agency that was never registered.
	ghost := voucher.Agency{ID: synth.AgencyID(99)}
	p.unregistered = ghost.ID
	p.ids["ghost"] = []string{w.plant(voucherSpec{agency: ghost, status: voucher.StatusIssued}).ID}
	w.setCap(ghost, "2024", "100000.00", "5000.00")
	// Keep the ledger's clock on the day of the last transaction.
	w.commit()
	return p
}

func TestEveryExceptionIsDetected(t *testing.T) {
	p := plantEveryException(t)
	rec := p.w.reconcile(Query{Period: "2024"})
	type finding struct{ code, agency, vouchers string }
	var got []finding
	for _, e := range exceptionsOf(t, rec) {
		ids := slices.Clone(e.VoucherIDs)
		slices.Sort(ids)
		if e.VoucherCount != len(e.VoucherIDs) {
			t.Errorf("%s: voucher_count %d for %d ids", e.Code, e.VoucherCount, len(e.VoucherIDs))
		}
		if e.Detail == "" || e.Period != "2024" {
			t.Errorf("%s: detail %q period %q", e.Code, e.Detail, e.Period)
		}
		got = append(got, finding{e.Code, e.AgencyID, strings.Join(ids, " ")})
	}
	sorted := func(ids []string) string { s := slices.Clone(ids); slices.Sort(s); return strings.Join(s, " ") }
	want := []finding{
		{ExcCapBreach, p.a.ID, sorted(p.ids["breach"])},
		{ExcDuplicateCertificate, p.b.ID, sorted(p.ids["dupcert"])},
		{ExcDuplicateCertificate, p.c.ID, sorted(p.ids["dupcert"])},
		{ExcAmountMismatch, p.b.ID, sorted(p.ids["amount"])},
		{ExcReimbursedWithoutRedemption, p.b.ID, sorted(p.ids["noredeem"])},
		{ExcDuplicatePaymentRef, p.b.ID, sorted(p.ids["dupref"])},
		{ExcDuplicatePaymentRef, p.c.ID, sorted(p.ids["dupref"])},
		{ExcLateFiling, p.c.ID, sorted(p.ids["late"])},
		{ExcStaleVoucher, p.d.ID, sorted(p.ids["stale"])},
		{ExcSuspendedAgency, p.e.ID, sorted(p.ids["suspended"])},
		{ExcCapRecordMismatch, p.d.ID, sorted(p.ids["stale"])},
		{ExcInconsistentRecord, p.f.ID, p.ids["inconsistent"][0]},
		{ExcInconsistentRecord, p.f.ID, p.ids["inconsistent"][1]},
		{ExcInconsistentRecord, p.unregistered, sorted(p.ids["ghost"])},
	}
	key := func(f finding) string { return f.code + "|" + f.agency + "|" + f.vouchers }
	gotKeys, wantKeys := []string{}, []string{}
	for _, f := range got {
		gotKeys = append(gotKeys, key(f))
	}
	for _, f := range want {
		wantKeys = append(wantKeys, key(f))
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("findings:\n got %s\nwant %s", strings.Join(gotKeys, "\n     "), strings.Join(wantKeys, "\n     "))
	}
	for code, n := range map[string]int{ExcDuplicateCertificate: 2, ExcInconsistentRecord: 3, ExcStaleVoucher: 1, ExcCapBreach: 1} {
		if rec.ExceptionCounts[code] != n {
			t.Errorf("count of %s = %d, want %d", code, rec.ExceptionCounts[code], n)
		}
	}
	if r := rowOf(t, rec, p.b.ID); r.Exceptions != 4 {
		t.Errorf("agency B has %d exceptions, want 4", r.Exceptions)
	}
	if r := rowOf(t, rec, p.unregistered); r.Status != "unregistered" {
		t.Errorf("the unregistered agency's row: %+v", r)
	}
	if rec.Totals.Exceptions != len(want) {
		t.Errorf("totals count %d exceptions, want %d", rec.Totals.Exceptions, len(want))
	}
}

func TestStaleIsJudgedAgainstAsOf(t *testing.T) {
	p := plantEveryException(t)
	// Judged a year earlier, nothing is stale; 400 days later, every
	// issued voucher is.
	early := p.w.reconcile(Query{Period: "2024", AsOf: "2023-06-01"})
	if n := early.ExceptionCounts[ExcStaleVoucher]; n != 0 || early.AsOfSource != "query" {
		t.Errorf("as of 2023-06-01: %d stale, source %s", n, early.AsOfSource)
	}
	if early.AsOf != "2023-06-01T16:00:00.000000000Z" {
		t.Errorf("as_of 2023-06-01 is the end of that day in Beijing time, got %s", early.AsOf)
	}
	late := p.w.reconcile(Query{Period: "2024", AsOf: p.w.clock.Add(400 * 24 * time.Hour).Format(time.RFC3339)})
	if n := late.ExceptionCounts[ExcStaleVoucher]; n != 9 {
		t.Errorf("400 days on: %d stale, want the 9 issued vouchers", n)
	}
	if early.Digest == late.Digest {
		t.Error("the as-of instant is part of the digested content")
	}
	var ve *voucher.Error
	err := p.w.store.View(func(snap projection.Snapshot) error {
		_, err := Reconcile(context.Background(), snap, Query{Period: "2024", AsOf: "yesterday"})
		return err
	})
	if !errors.As(err, &ve) || ve.Code != voucher.CodeInvalidArgument {
		t.Errorf("bad as_of: %v", err)
	}
}

func TestDigestIsStableAtOneHeightAndChangesWithTheLedger(t *testing.T) {
	p := plantEveryException(t)
	first := p.w.reconcile(Query{Period: PeriodAll}, WithClock(func() time.Time { return time.Unix(1_700_000_000, 0) }))
	second := p.w.reconcile(Query{Period: PeriodAll}, WithClock(func() time.Time { return time.Unix(1_800_000_000, 0) }))
	if first.GeneratedAt == second.GeneratedAt {
		t.Fatal("the two runs must differ in generation time for this test to mean anything")
	}
	if first.Digest != second.Digest || len(first.Digest) != 64 {
		t.Fatalf("digests %s and %s at one height", first.Digest, second.Digest)
	}
	other := p.w.reconcile(Query{Period: "2024"})
	if other.Digest == first.Digest {
		t.Error("another period has another digest")
	}
	p.w.plant(voucherSpec{agency: p.a, status: voucher.StatusRevoked})
	after := p.w.reconcile(Query{Period: PeriodAll})
	if after.Digest == first.Digest || after.Height == first.Height {
		t.Errorf("a new block must change height and digest: %d %s", after.Height, after.Digest)
	}
}

// TestDigestCanBeRecomputedFromTheJSONReport follows the recipe of
// docs/reports.md: header fields, each agency line, the totals, each
// exception line.
func TestDigestCanBeRecomputedFromTheJSONReport(t *testing.T) {
	p := plantEveryException(t)
	rec := p.w.reconcile(Query{Period: "2024"})
	var buf bytes.Buffer
	if err := rec.Write(&buf, FormatJSON, ""); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Header
		Digest     string            `json:"digest"`
		Agencies   []json.RawMessage `json:"agencies"`
		Totals     json.RawMessage   `json:"totals"`
		Exceptions []json.RawMessage `json:"exceptions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, buf.String())
	}
	sum := sha256.New()
	head, _ := json.Marshal(doc.Header)
	sum.Write(append(head, '\n'))
	for _, part := range append(append(doc.Agencies, doc.Totals), doc.Exceptions...) {
		sum.Write(append(bytes.Clone(part), '\n'))
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != doc.Digest || got != rec.Digest {
		t.Errorf("recomputed %s, report says %s", got, doc.Digest)
	}
	if len(doc.Exceptions) != 14 {
		t.Errorf("%d exceptions in the JSON report, want 14", len(doc.Exceptions))
	}
}

func TestExceptionListingIsBounded(t *testing.T) {
	p := plantEveryException(t)
	rec := p.w.reconcile(Query{Period: "2024"}, WithMaxExceptions(3), WithMaxVoucherIDs(2))
	if got := exceptionsOf(t, rec); len(got) != 3 || !rec.ExceptionsTruncated || rec.ExceptionsListed != 3 {
		t.Fatalf("listed %d, truncated %v", len(got), rec.ExceptionsTruncated)
	}
	total := 0
	for _, n := range rec.ExceptionCounts {
		total += n
	}
	if total != 14 || rec.Totals.Exceptions != 14 {
		t.Errorf("counts go on past the listing bound: %d, totals row %d", total, rec.Totals.Exceptions)
	}
	for _, e := range exceptionsOf(t, rec) {
		if e.Code == ExcCapBreach && (len(e.VoucherIDs) != 2 || e.VoucherCount != 3) {
			t.Errorf("cap breach lists %d of %d vouchers, want 2 of 3", len(e.VoucherIDs), e.VoucherCount)
		}
	}
}

func TestPeriodIsChecked(t *testing.T) {
	w := newWorld(t)
	w.commit()
	for _, p := range []string{"1999", "20x4", "2024 ", "program2", "ALL"} {
		err := w.store.View(func(snap projection.Snapshot) error {
			_, err := Reconcile(context.Background(), snap, Query{Period: p})
			return err
		})
		if voucher.CodeOf(err) != voucher.CodeInvalidArgument {
			t.Errorf("period %q: %v", p, err)
		}
	}
	rec := w.reconcile(Query{Period: voucher.ProgramPeriod})
	if len(rec.Agencies) != 0 || rec.Totals.CapLimitCNY != "0.00" || rec.AsOf != "" {
		t.Errorf("an empty ledger: %+v %+v", rec.Agencies, rec.Header)
	}
}

// TestSyntheticLedgerFindsWhatWasPlanted runs the generator the benchmark
// uses: a clean ledger has no exceptions, and every planted kind is found.
func TestSyntheticLedgerFindsWhatWasPlanted(t *testing.T) {
	build := func(every int) *Reconciliation {
		w := newWorld(t)
		_, err := synth.Generate(synth.Config{Agencies: 40, Vouchers: 3000, Seed: 7, AnomalyEvery: every}, func(b backend.Block) error {
			if b.Number == 0 {
				return nil // newWorld applied its own genesis block
			}
			return w.store.Apply(b)
		})
		if err != nil {
			t.Fatal(err)
		}
		return w.reconcile(Query{Period: PeriodAll})
	}
	clean := build(0)
	if n := len(exceptionsOf(t, clean)); n != 0 {
		t.Errorf("a clean synthetic ledger has %d exceptions: %+v", n, exceptionsOf(t, clean)[:min(n, 5)])
	}
	if clean.Totals.IssuedCount+clean.Totals.RedemptionRequestedCount+clean.Totals.ReimbursedCount+
		clean.Totals.RejectedCount+clean.Totals.RevokedCount != 3000 {
		t.Errorf("totals do not count 3000 vouchers: %+v", clean.Totals)
	}
	dirty := build(50)
	for _, code := range []string{ExcLateFiling, ExcAmountMismatch, ExcReimbursedWithoutRedemption, ExcDuplicatePaymentRef, ExcDuplicateCertificate, ExcStaleVoucher} {
		if dirty.ExceptionCounts[code] == 0 {
			t.Errorf("no %s found among the planted anomalies (counts %v)", code, dirty.ExceptionCounts)
		}
	}
}

func TestVouchersNotGroupedByAgencyAreRefused(t *testing.T) {
	snap := &fakeSnapshot{vouchers: []voucher.Voucher{
		{ID: "V-2024-1", AgencyID: "A", Period: "2024", Status: voucher.StatusIssued, AmountCNY: "5000.00"},
		{ID: "V-2024-2", AgencyID: "B", Period: "2024", Status: voucher.StatusIssued, AmountCNY: "5000.00"},
		{ID: "V-2024-3", AgencyID: "A", Period: "2024", Status: voucher.StatusIssued, AmountCNY: "5000.00"},
	}}
	_, err := Reconcile(context.Background(), snap, Query{Period: "2024"}, WithTempDir(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "not grouped") {
		t.Errorf("got %v", err)
	}
}

// fakeSnapshot is a Snapshot without point reads, for the paths a
// projection never takes.
type fakeSnapshot struct {
	vouchers []voucher.Voucher
}

func (f *fakeSnapshot) Head() (uint64, string)                         { return 1, "h" }
func (f *fakeSnapshot) ForEachAgency(func(voucher.Agency) error) error { return nil }
func (f *fakeSnapshot) ForEachCap(func(voucher.CapUsage) error) error  { return nil }
func (f *fakeSnapshot) ForEachCertification(func(voucher.Certification) error) error {
	return nil
}
func (f *fakeSnapshot) ForEachServiceRecord(func(voucher.ServiceRecord) error) error {
	return nil
}
func (f *fakeSnapshot) Policies() ([]voucher.Policy, error) {
	return []voucher.Policy{voucher.DefaultPolicy()}, nil
}
func (f *fakeSnapshot) ForEachVoucher(fn func(voucher.Voucher) error) error {
	for _, v := range f.vouchers {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func TestDuplicatesWithoutPointReadsUseASecondScan(t *testing.T) {
	snap := &fakeSnapshot{vouchers: []voucher.Voucher{
		{ID: "V-2024-0000000000000001", AgencyID: "A", Period: "2024", CertificateNo: "GR202465000001", Status: voucher.StatusIssued, AmountCNY: "5000.00"},
		{ID: "odd-id", AgencyID: "B", Period: "2024", CertificateNo: "GR202465000001", Status: voucher.StatusIssued, AmountCNY: "5000.00"},
	}}
	rec, err := Reconcile(context.Background(), snap, Query{Period: "2024"}, WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if n := rec.ExceptionCounts[ExcDuplicateCertificate]; n != 2 {
		t.Errorf("duplicate certificate found %d times, want once per agency: %v", n, rec.ExceptionCounts)
	}
}

func TestPackVoucherIDRoundTrips(t *testing.T) {
	d := newDupIndex(newSeed(), 4)
	for _, id := range []string{"V-2024-0123456789abcdef", "V-program-ffffffffffffffff", "V-2000-0000000000000000", "V-2099-a0a0a0a0a0a0a0a0"} {
		code, vid, ok := packVoucherID(id)
		if !ok {
			t.Fatalf("%s does not pack", id)
		}
		if got := d.unpack(dupEntry{hp: uint64(code), vid: vid}); got != id {
			t.Errorf("%s unpacks to %s", id, got)
		}
	}
	for _, id := range []string{"V-2024-0123456789ABCDEF", "V-1999-0123456789abcdef", "V-2024-0123", "X-2024-0123456789abcdef", "V-prog-0123456789abcdef", ""} {
		if _, _, ok := packVoucherID(id); ok {
			t.Errorf("%q packs", id)
		}
	}
}

func TestParseInstantAgreesWithTheStandardParser(t *testing.T) {
	base := time.Date(2023, 2, 28, 23, 59, 59, 0, time.UTC)
	for i := 0; i < 2000; i++ {
		tm := base.Add(time.Duration(i) * 7919 * time.Second).Add(time.Duration(i*104729) * time.Nanosecond)
		for _, s := range []string{tm.Format(voucher.TimeLayout), tm.Format(time.RFC3339Nano), tm.Format(time.RFC3339)} {
			want, err := time.Parse(time.RFC3339Nano, s)
			got, ok := parseInstant(s)
			if err != nil || !ok || !got.Equal(want) {
				t.Fatalf("%s: got %v %v, want %v %v", s, got, ok, want, err)
			}
		}
	}
	for _, s := range []string{"2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01 00:00:00Z", "", "2024-01-01T00:00:00+08:00x"} {
		if _, ok := parseInstant(s); ok {
			t.Errorf("%q parses", s)
		}
	}
	if got, ok := parseInstant("2024-01-01T08:00:00+08:00"); !ok || !got.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("an offset instant: %v %v", got, ok)
	}
}

func TestMoneyIsExact(t *testing.T) {
	var sum fen
	for i := 0; i < 1000; i++ {
		a, err := parseFen("0.10")
		if err != nil {
			t.Fatal(err)
		}
		if sum, err = sum.add(a); err != nil {
			t.Fatal(err)
		}
	}
	if sum.String() != "100.00" {
		t.Errorf("1000 × 0.10 = %s", sum)
	}
	for in, want := range map[string]string{"5000": "5000.00", "5000.5": "5000.50", "0.01": "0.01", "-12.34": "-12.34", "": "0.00"} {
		got, err := parseFen(in)
		if err != nil || got.String() != want {
			t.Errorf("%q: %s %v", in, got, err)
		}
	}
	for _, in := range []string{"0.001", "abc", "1e30"} {
		if _, err := parseFen(in); err == nil {
			t.Errorf("%q parses", in)
		}
	}
	if _, err := fen(1 << 62).add(1 << 62); err == nil {
		t.Error("overflow not detected")
	}
	if f := fen(123456).float(); fmt.Sprint(f) != "1234.56" {
		t.Errorf("float %v", f)
	}
}

func newSeed() maphash.Seed { return maphash.MakeSeed() }

// reconcileWith computes a report of the world with options, failing the
// test on error.
func reconcileWith(t *testing.T, w *world, q Query, opts ...Option) (*Reconciliation, error) {
	t.Helper()
	w.commit()
	var rec *Reconciliation
	err := w.store.View(func(snap projection.Snapshot) error {
		var err error
		rec, err = Reconcile(context.Background(), snap, q, append([]Option{WithTempDir(t.TempDir())}, opts...)...)
		return err
	})
	if rec != nil {
		t.Cleanup(func() { _ = rec.Close() })
	}
	return rec, err
}

func TestParallelViewGivesTheSameReport(t *testing.T) {
	w := newWorld(t)
	_, err := synth.Generate(synth.Config{Agencies: 30, Vouchers: 4000, Seed: 3, AnomalyEvery: 40}, func(b backend.Block) error {
		if b.Number == 0 {
			return nil
		}
		return w.store.Apply(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := reconcileWith(t, w, Query{Period: PeriodAll})
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	together, err := reconcileWith(t, w, Query{Period: PeriodAll}, WithParallelView(func(fn func(projection.Snapshot) error) error {
		views++
		return w.store.View(fn)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if views != 1 || alone.Digest != together.Digest || len(exceptionsOf(t, alone)) == 0 {
		t.Errorf("views %d; digests %s and %s; %d exceptions", views, alone.Digest, together.Digest, len(exceptionsOf(t, alone)))
	}
	// A second view at another height is not used.
	other, err := reconcileWith(t, w, Query{Period: PeriodAll}, WithParallelView(func(fn func(projection.Snapshot) error) error {
		return fn(&fakeSnapshot{})
	}))
	if err != nil || other.Digest != alone.Digest {
		t.Errorf("with a view at another height: %v, digest %s", err, other.Digest)
	}
}

// TestBlockedSecondViewIsAbandoned: bbolt may hold a new read transaction
// back until the report's own one ends; the report must not wait for it.
func TestBlockedSecondViewIsAbandoned(t *testing.T) {
	p := plantEveryException(t)
	unblock := make(chan struct{})
	returned := make(chan error, 1)
	done := make(chan *Reconciliation, 1)
	go func() {
		rec, err := reconcileWith(t, p.w, Query{Period: "2024"}, WithParallelView(func(fn func(projection.Snapshot) error) error {
			<-unblock
			err := p.w.store.View(fn)
			returned <- err
			return err
		}))
		if err != nil {
			t.Error(err)
		}
		done <- rec
	}()
	select {
	case rec := <-done:
		if rec == nil || rec.ExceptionCounts[ExcDuplicateCertificate] != 2 {
			t.Errorf("report %v", rec)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the report waited for a second view that could not begin")
	}
	close(unblock)
	select {
	case err := <-returned:
		if err != nil {
			t.Errorf("the abandoned view ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the abandoned view never ended")
	}
}

func TestAFailingCheckStopsTheScan(t *testing.T) {
	w := newWorld(t)
	a := w.agency(1, "A")
	for i := 0; i < 600; i++ {
		w.plant(voucherSpec{agency: a, status: voucher.StatusIssued, amount: "20000000000000000.00"})
	}
	for _, opts := range [][]Option{nil, {WithParallelView(w.store.View)}} {
		_, err := reconcileWith(t, w, Query{Period: "2024"}, opts...)
		if !errors.Is(err, errOverflow) {
			t.Errorf("with %d options: %v, want an overflow", len(opts), err)
		}
	}
}
