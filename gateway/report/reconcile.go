package report

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// Status slots of the per-agency counters.
const (
	slotIssued = iota
	slotRedemptionRequested
	slotReimbursed
	slotRejected
	slotRevoked
	slotCount
)

func slotOf(s voucher.Status) (int, bool) {
	switch s {
	case voucher.StatusIssued:
		return slotIssued, true
	case voucher.StatusRedemptionRequested:
		return slotRedemptionRequested, true
	case voucher.StatusReimbursed:
		return slotReimbursed, true
	case voucher.StatusRejected:
		return slotRejected, true
	case voucher.StatusRevoked:
		return slotRevoked, true
	}
	return 0, false
}

// agencyAcc accumulates one agency's figures.
type agencyAcc struct {
	agency      voucher.Agency
	registered  bool
	finished    bool
	counts      [slotCount]int
	amounts     [slotCount]fen
	capLimit    fen
	capUsed     fen
	enterprises int
	exceptions  int
}

// periodAcc is the current agency's live vouchers in one period.
type periodAcc struct {
	live fen
	ids  idList
}

// staleCandidate is an issued voucher, judged once the as-of instant is
// known (it is the newest instant of the whole scan).
type staleCandidate struct {
	AgencyID string `json:"a"`
	ID       string `json:"v"`
	Period   string `json:"p"`
	IssuedAt string `json:"t"`
}

// builder runs one reconciliation.
type builder struct {
	cfg      config
	q        Query
	snap     projection.Snapshot
	lookup   projection.Lookup
	policies []voucher.Policy
	stale    int // days

	rows  []*agencyAcc
	index map[string]int
	caps  map[string][]voucher.CapUsage // by agency, selected periods

	exc       *spool
	staleC    *spool
	counts    map[string]int
	truncated bool

	asOf      time.Time
	asOfFixed bool

	// The agency being scanned.
	cur         int
	periods     map[string]*periodAcc
	enterprises map[string]struct{}
	unpaid      idList // issued or redemption requested, for suspended agencies

	certs, refs *dupIndex
	joins       *joins
	ord         uint32
	amounts     amountCache
}

func newBuilder(cfg config, snap projection.Snapshot, q Query) (*builder, error) {
	b := &builder{
		cfg: cfg, q: q, snap: snap,
		index:       map[string]int{},
		caps:        map[string][]voucher.CapUsage{},
		counts:      map[string]int{},
		cur:         -1,
		periods:     map[string]*periodAcc{},
		enterprises: map[string]struct{}{},
	}
	b.lookup, _ = snap.(projection.Lookup)
	if q.AsOf != "" {
		t, err := parseAsOf(q.AsOf)
		if err != nil {
			return nil, err
		}
		b.asOf, b.asOfFixed = t, true
	}
	var err error
	if b.policies, err = snap.Policies(); err != nil {
		return nil, fmt.Errorf("report: policies: %w", err)
	}
	b.stale = voucher.DefaultPolicy().StaleAfterDays
	if n := len(b.policies); n > 0 && b.policies[n-1].StaleAfterDays > 0 {
		b.stale = b.policies[n-1].StaleAfterDays
	}
	dir := cfg.tempDir
	if dir == "" {
		dir = os.TempDir()
	}
	if b.exc, err = newSpool(dir, maxSpoolBytes); err != nil {
		return nil, err
	}
	if b.staleC, err = newSpool(dir, maxSpoolBytes); err != nil {
		_ = b.exc.close()
		return nil, err
	}
	return b, nil
}

func (b *builder) close() error {
	err := b.exc.close()
	if e := b.staleC.close(); err == nil {
		err = e
	}
	return err
}

func (b *builder) inPeriod(p string) bool { return b.q.Period == PeriodAll || p == b.q.Period }

// run scans the snapshot and assembles the report.
func (b *builder) run(ctx context.Context) (*Reconciliation, error) {
	height, head := b.snap.Head()
	if err := b.snap.ForEachAgency(func(a voucher.Agency) error {
		b.index[a.ID] = len(b.rows)
		b.rows = append(b.rows, &agencyAcc{agency: a, registered: true})
		b.noteInstant(a.UpdatedAt)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("report: agencies: %w", err)
	}
	for _, p := range b.policies {
		b.noteInstant(p.SetAt)
	}
	if err := b.snap.ForEachCap(func(c voucher.CapUsage) error {
		if b.inPeriod(c.Period) {
			b.caps[c.AgencyID] = append(b.caps[c.AgencyID], c)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("report: caps: %w", err)
	}
	seed := maphash.MakeSeed()
	b.certs = newDupIndex(seed, 1024)
	b.refs = newDupIndex(seed, 1024)
	// With a second read transaction at the same height, the second core
	// builds the service record table and then answers the voucher checks'
	// point reads while this one decodes vouchers.
	var h *helper
	if b.lookup != nil && b.cfg.view != nil {
		h = startHelper(b.cfg.view, seed, height, head)
		defer func() { _ = h.stop() }() // the error is taken below on the normal path
	}
	if b.lookup != nil {
		if err := b.buildJoins(seed, h); err != nil {
			return nil, fmt.Errorf("report: certifications and service records: %w", err)
		}
	}
	var err error
	if h != nil && h.lookup != nil {
		own := b.lookup
		b.lookup = h.lookup
		err = b.scanPipelined(ctx)
		b.lookup = own
		if stopErr := h.stop(); err == nil {
			err = stopErr
		}
	} else {
		err = b.snap.ForEachVoucher(func(v voucher.Voucher) error {
			if b.ord%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			return b.voucher(v)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("report: vouchers: %w", err)
	}
	if err := b.finishAgency(); err != nil {
		return nil, err
	}
	// Agencies without a voucher get their row (and cap) too.
	for i := range b.rows {
		if !b.rows[i].finished {
			b.cur = i
			if err := b.finishAgency(); err != nil {
				return nil, err
			}
		}
	}
	if err := b.judgeStale(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.findDuplicates(b.snap); err != nil {
		return nil, fmt.Errorf("report: duplicates: %w", err)
	}
	return b.assemble(height, head)
}

// noteInstant moves the ledger's as-of instant forward.
func (b *builder) noteInstant(s string) {
	if b.asOfFixed || s == "" {
		return
	}
	if t, ok := parseInstant(s); ok && t.After(b.asOf) {
		b.asOf = t
	}
}

// voucher visits one voucher; vouchers come grouped by agency.
func (b *builder) voucher(v voucher.Voucher) error {
	b.ord++
	if b.cur < 0 || b.rows[b.cur].agency.ID != v.AgencyID {
		if err := b.finishAgency(); err != nil {
			return err
		}
		if err := b.startAgency(v.AgencyID); err != nil {
			return err
		}
	}
	b.noteInstant(v.UpdatedAt)
	if v.Status.Live() {
		b.certs.add(v.CertificateNo, v.ID)
	}
	if v.PaymentRef != "" {
		b.refs.add(v.PaymentRef, v.ID)
	}
	if !b.inPeriod(v.Period) {
		return nil
	}
	acc := b.rows[b.cur]
	var problems []string
	amount, err := b.amounts.parse(v.AmountCNY)
	if err != nil {
		problems = append(problems, "amount "+strconv.Quote(v.AmountCNY)+" is not a CNY amount")
	}
	slot, known := slotOf(v.Status)
	if !known {
		problems = append(problems, "unknown status "+strconv.Quote(string(v.Status)))
	} else {
		acc.counts[slot]++
		if acc.amounts[slot], err = acc.amounts[slot].add(amount); err != nil {
			return err
		}
	}
	if v.Status.Live() {
		p := b.periods[v.Period]
		if p == nil {
			p = &periodAcc{}
			b.periods[v.Period] = p
		}
		if p.live, err = p.live.add(amount); err != nil {
			return err
		}
		p.ids.add(v.ID, b.cfg.maxVoucherIDs)
		b.enterprises[v.EnterpriseID] = struct{}{}
	}
	if v.Status == voucher.StatusIssued || v.Status == voucher.StatusRedemptionRequested {
		b.unpaid.add(v.ID, b.cfg.maxVoucherIDs)
	}
	if v.Status == voucher.StatusReimbursed {
		if err := b.checkPayment(v, amount, &problems); err != nil {
			return err
		}
	}
	if v.Status == voucher.StatusIssued {
		if err := b.staleC.add(staleCandidate{AgencyID: v.AgencyID, ID: v.ID, Period: v.Period, IssuedAt: v.IssuedAt}); err != nil {
			return err
		}
	}
	if err := b.checkLinks(v, &problems); err != nil {
		return err
	}
	if len(problems) > 0 {
		return b.emit(Exception{Code: ExcInconsistentRecord, AgencyID: v.AgencyID, Period: v.Period,
			VoucherIDs: []string{v.ID}, VoucherCount: 1, Detail: strings.Join(problems, "; ")})
	}
	return nil
}

// checkPayment checks a reimbursed voucher's payment.
func (b *builder) checkPayment(v voucher.Voucher, amount fen, problems *[]string) error {
	paid, err := b.amounts.parse(v.PaidAmountCNY)
	switch {
	case err != nil:
		*problems = append(*problems, "paid amount "+strconv.Quote(v.PaidAmountCNY)+" is not a CNY amount")
	case paid != amount || v.PaidAmountCNY == "":
		if err := b.emit(Exception{Code: ExcAmountMismatch, AgencyID: v.AgencyID, Period: v.Period,
			VoucherIDs: []string{v.ID}, VoucherCount: 1,
			Detail: "voucher amount " + amount.String() + ", paid " + paid.String() + " under payment reference " + v.PaymentRef}); err != nil {
			return err
		}
	}
	if v.RedemptionRequestedAt == "" {
		if err := b.emit(Exception{Code: ExcReimbursedWithoutRedemption, AgencyID: v.AgencyID, Period: v.Period,
			VoucherIDs: []string{v.ID}, VoucherCount: 1,
			Detail: "reimbursed at " + v.ReimbursedAt + " with no redemption request"}); err != nil {
			return err
		}
	}
	if v.PaymentRef == "" {
		*problems = append(*problems, "reimbursed without a payment reference")
	}
	return nil
}

// checkLinks joins a voucher to its certification and service record (point
// reads in the same transaction) and reports late filing.
func (b *builder) checkLinks(v voucher.Voucher, problems *[]string) error {
	if b.lookup == nil || !b.joins.suspect(&v) {
		return nil
	}
	cert, certOK, err := b.lookup.Certification(v.CertificateNo)
	if err != nil {
		return err
	}
	svc, svcOK, err := b.lookup.ServiceRecord(v.ServiceRecordID)
	if err != nil {
		return err
	}
	if !certOK {
		*problems = append(*problems, "certification "+v.CertificateNo+" is not on the ledger")
	} else if cert.EnterpriseID != v.EnterpriseID {
		*problems = append(*problems, "certification "+v.CertificateNo+" belongs to enterprise "+cert.EnterpriseID)
	}
	if !svcOK {
		*problems = append(*problems, "service record "+strconv.Quote(v.ServiceRecordID)+" is not on the ledger")
	} else if svc.AgencyID != v.AgencyID || svc.EnterpriseID != v.EnterpriseID {
		*problems = append(*problems, "service record "+v.ServiceRecordID+" is agency "+svc.AgencyID+"'s for enterprise "+svc.EnterpriseID)
	}
	if !certOK || !svcOK {
		return nil
	}
	svcAt, ok1 := parseInstant(svc.RecordedAt)
	certAt, ok2 := parseInstant(cert.RecordedAt)
	if !ok1 || !ok2 {
		*problems = append(*problems, "recording instants of the service record or certification are unreadable")
		return nil
	}
	if svcAt.After(certAt) {
		return b.emit(Exception{Code: ExcLateFiling, AgencyID: v.AgencyID, Period: v.Period,
			VoucherIDs: []string{v.ID}, VoucherCount: 1,
			Detail: "service record " + svc.ID + " recorded " + svc.RecordedAt + ", after certification " +
				cert.CertificateNo + " recorded " + cert.RecordedAt})
	}
	return nil
}

// startAgency makes id the current agency, adding a row for an agency the
// ledger never registered. The per-agency checks need the vouchers grouped
// by agency, which the projection guarantees; anything else is refused.
func (b *builder) startAgency(id string) error {
	i, ok := b.index[id]
	if !ok {
		i = len(b.rows)
		b.index[id] = i
		b.rows = append(b.rows, &agencyAcc{agency: voucher.Agency{ID: id, Status: "unregistered"}})
	}
	if b.rows[i].finished {
		return fmt.Errorf("report: vouchers of agency %s are not grouped together", id)
	}
	b.cur = i
	clear(b.periods)
	clear(b.enterprises)
	b.unpaid = idList{}
	return nil
}

// finishAgency closes the current agency: its cap per period and the
// exceptions that concern the agency as a whole.
func (b *builder) finishAgency() error {
	if b.cur < 0 {
		return nil
	}
	acc := b.rows[b.cur]
	defer func() { acc.finished, b.cur = true, -1; clear(b.periods); clear(b.enterprises); b.unpaid = idList{} }()
	acc.enterprises = len(b.enterprises)
	records := map[string]voucher.CapUsage{}
	for _, c := range b.caps[acc.agency.ID] {
		records[c.Period] = c
	}
	periods := map[string]bool{}
	for p := range b.periods {
		periods[p] = true
	}
	for p := range records {
		periods[p] = true
	}
	if b.q.Period != PeriodAll {
		periods[b.q.Period] = true
	}
	for _, p := range sortedKeys(periods) {
		pa := b.periods[p]
		if pa == nil {
			pa = &periodAcc{}
		}
		rec, hasRec := records[p]
		limitStr := policyForPeriod(b.policies, p).CapPerAgencyCNY
		if hasRec && rec.LimitCNY != "" {
			limitStr = rec.LimitCNY
		}
		limit, err := parseFen(limitStr)
		if err != nil {
			return fmt.Errorf("report: cap limit of agency %s period %s: %w", acc.agency.ID, p, err)
		}
		if acc.capLimit, err = acc.capLimit.add(limit); err != nil {
			return err
		}
		if acc.capUsed, err = acc.capUsed.add(pa.live); err != nil {
			return err
		}
		if pa.live > limit {
			if err := b.emit(Exception{Code: ExcCapBreach, AgencyID: acc.agency.ID, Period: p, VoucherIDs: pa.ids.ids, VoucherCount: pa.ids.n,
				Detail: "live vouchers total " + pa.live.String() + " against a cap of " + limit.String()}); err != nil {
				return err
			}
		}
		recUsed := fen(0)
		if hasRec {
			if recUsed, err = parseFen(rec.UsedCNY); err != nil {
				recUsed = -1
			}
		}
		if recUsed != pa.live {
			what := "no cap record"
			if hasRec {
				what = "the cap record says " + strconv.Quote(rec.UsedCNY)
			}
			if err := b.emit(Exception{Code: ExcCapRecordMismatch, AgencyID: acc.agency.ID, Period: p, VoucherIDs: pa.ids.ids, VoucherCount: pa.ids.n,
				Detail: "live vouchers total " + pa.live.String() + " but " + what}); err != nil {
				return err
			}
		}
	}
	if acc.agency.Status == voucher.AgencySuspended && b.unpaid.n > 0 {
		if err := b.emit(Exception{Code: ExcSuspendedAgency, AgencyID: acc.agency.ID, Period: b.periodLabel(), VoucherIDs: b.unpaid.ids, VoucherCount: b.unpaid.n,
			Detail: "agency suspended (" + acc.agency.Reason + ") holds " + itoa(b.unpaid.n) + " live vouchers not yet reimbursed"}); err != nil {
			return err
		}
	}
	if !acc.registered && (b.unpaid.n > 0 || len(b.periods) > 0) {
		var ids idList
		for _, p := range sortedKeys(b.periods) {
			for _, id := range b.periods[p].ids.ids {
				ids.add(id, b.cfg.maxVoucherIDs)
			}
		}
		if err := b.emit(Exception{Code: ExcInconsistentRecord, AgencyID: acc.agency.ID, Period: b.periodLabel(), VoucherIDs: ids.ids, VoucherCount: ids.n,
			Detail: "agency " + acc.agency.ID + " holds vouchers but is not registered"}); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) periodLabel() string {
	if b.q.Period == PeriodAll {
		return ""
	}
	return b.q.Period
}

// policyForPeriod is the policy whose cap applies to a period when no cap
// record names it: for a year, the newest version whose window overlaps
// it; otherwise the newest version (as the projection does).
func policyForPeriod(all []voucher.Policy, period string) voucher.Policy {
	if len(all) == 0 {
		return voucher.DefaultPolicy()
	}
	if len(period) == 4 && strings.Trim(period, "0123456789") == "" {
		from, to := period+"-01-01", period+"-12-31"
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].WindowFrom <= to && from <= all[i].WindowTo {
				return all[i]
			}
		}
	}
	return all[len(all)-1]
}

// judgeStale reports the issued vouchers older than the stale threshold at
// the as-of instant, now that it is known.
func (b *builder) judgeStale() error {
	if b.asOf.IsZero() {
		return nil
	}
	limit := b.asOf.Add(-time.Duration(b.stale) * 24 * time.Hour)
	return each(b.staleC, func(c staleCandidate) error {
		t, ok := parseInstant(c.IssuedAt)
		if !ok || !t.Before(limit) {
			return nil
		}
		days := int(b.asOf.Sub(t) / (24 * time.Hour))
		return b.emit(Exception{Code: ExcStaleVoucher, AgencyID: c.AgencyID, Period: c.Period, VoucherIDs: []string{c.ID}, VoucherCount: 1,
			Detail: "issued " + c.IssuedAt + ", " + itoa(days) + " days before the report's as-of instant, not yet redeemed"})
	})
}

// emit records an exception: counted always, listed up to the bound.
func (b *builder) emit(e Exception) error {
	if e.VoucherIDs == nil {
		e.VoucherIDs = []string{}
	}
	b.counts[e.Code]++
	if i, ok := b.index[e.AgencyID]; ok {
		b.rows[i].exceptions++
	}
	if b.exc.n >= b.cfg.maxExceptions {
		b.truncated = true
		return nil
	}
	err := b.exc.add(e)
	if errors.Is(err, errSpoolFull) {
		b.truncated = true
		return nil
	}
	return err
}

// assemble renders the accumulated figures and computes the digest.
func (b *builder) assemble(height uint64, head string) (*Reconciliation, error) {
	h := Header{Report: "reconciliation", FormatVersion: 1, Period: b.q.Period, Height: height, HeadHash: head,
		AsOfSource: "ledger", StaleAfterDays: b.stale}
	if b.asOfFixed {
		h.AsOfSource = "query"
	}
	if !b.asOf.IsZero() {
		h.AsOf = b.asOf.UTC().Format(voucher.TimeLayout)
	}
	rows := make([]AgencyRow, len(b.rows))
	var tot agencyAcc
	for i, acc := range b.rows {
		rows[i] = acc.row()
		var err error
		for s := 0; s < slotCount; s++ {
			tot.counts[s] += acc.counts[s]
			if tot.amounts[s], err = tot.amounts[s].add(acc.amounts[s]); err != nil {
				return nil, err
			}
		}
		if tot.capLimit, err = tot.capLimit.add(acc.capLimit); err != nil {
			return nil, err
		}
		if tot.capUsed, err = tot.capUsed.add(acc.capUsed); err != nil {
			return nil, err
		}
		tot.enterprises += acc.enterprises
		tot.exceptions += acc.exceptions
	}
	// Rows of unregistered agencies were appended during the scan; the
	// report lists every row by agency id.
	sortRows(rows)
	tot.agency = voucher.Agency{ID: TotalsID, Name: "合计 / Total"}
	totals := tot.row()
	// Exceptions of agencies the report has no row for cannot exist (every
	// agency seen gets a row), so the totals row's count is the number of
	// exceptions found.
	digest, err := digestOf(h, rows, totals, b.exc)
	if err != nil {
		return nil, err
	}
	rec := &Reconciliation{
		Header:              h,
		GeneratedAt:         b.cfg.now().UTC().Format(time.RFC3339),
		Digest:              digest,
		Agencies:            rows,
		Totals:              totals,
		ExceptionCounts:     b.counts,
		ExceptionsListed:    b.exc.n,
		ExceptionsTruncated: b.truncated,
		exceptions:          b.exc,
	}
	_ = b.staleC.close()
	return rec, nil
}

// row renders an accumulator.
func (a *agencyAcc) row() AgencyRow {
	outCount := a.counts[slotIssued] + a.counts[slotRedemptionRequested]
	outAmount := a.amounts[slotIssued] + a.amounts[slotRedemptionRequested]
	return AgencyRow{
		AgencyID: a.agency.ID, Name: a.agency.Name, Status: a.agency.Status,
		EnterprisesCredited: a.enterprises,
		IssuedCount:         a.counts[slotIssued], IssuedCNY: a.amounts[slotIssued].String(),
		RedemptionRequestedCount: a.counts[slotRedemptionRequested], RedemptionRequestedCNY: a.amounts[slotRedemptionRequested].String(),
		ReimbursedCount: a.counts[slotReimbursed], ReimbursedCNY: a.amounts[slotReimbursed].String(),
		RejectedCount: a.counts[slotRejected], RejectedCNY: a.amounts[slotRejected].String(),
		RevokedCount: a.counts[slotRevoked], RevokedCNY: a.amounts[slotRevoked].String(),
		OutstandingCount: outCount, OutstandingCNY: outAmount.String(),
		CapLimitCNY: a.capLimit.String(), CapUsedCNY: a.capUsed.String(), CapRemainingCNY: (a.capLimit - a.capUsed).String(),
		Exceptions: a.exceptions,
	}
}

func sortRows(rows []AgencyRow) {
	slices.SortStableFunc(rows, func(a, b AgencyRow) int { return strings.Compare(a.AgencyID, b.AgencyID) })
}

func itoa(n int) string { return strconv.Itoa(n) }
