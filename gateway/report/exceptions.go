package report

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// Exception is one finding an auditor must look at. Each belongs to one
// agency; a finding that spans agencies (a certificate or payment
// reference shared between two agencies) is listed once for each, naming
// every voucher involved.
type Exception struct {
	Code     string `json:"code"`
	AgencyID string `json:"agency_id"`
	Period   string `json:"period,omitempty"`
	// VoucherIDs lists the vouchers concerned, at most the report's bound;
	// VoucherCount counts them all.
	VoucherIDs   []string `json:"voucher_ids"`
	VoucherCount int      `json:"voucher_count"`
	Detail       string   `json:"detail"`
}

// The exception codes. They never change meaning; docs/reports.md defines
// each.
const (
	// ExcCapBreach: an agency's live amount in a period is over the cap.
	ExcCapBreach = "CAP_BREACH"
	// ExcDuplicateCertificate: two or more live vouchers on one
	// certificate.
	ExcDuplicateCertificate = "DUPLICATE_CERTIFICATE"
	// ExcAmountMismatch: a reimbursed voucher was paid another amount than
	// its own.
	ExcAmountMismatch = "AMOUNT_MISMATCH"
	// ExcReimbursedWithoutRedemption: a reimbursed voucher has no
	// redemption request.
	ExcReimbursedWithoutRedemption = "REIMBURSED_WITHOUT_REDEMPTION"
	// ExcDuplicatePaymentRef: one payment reference on two or more
	// vouchers.
	ExcDuplicatePaymentRef = "DUPLICATE_PAYMENT_REF"
	// ExcLateFiling: the service record behind a voucher reached the
	// ledger after the certification it supports.
	ExcLateFiling = "LATE_FILING"
	// ExcStaleVoucher: issued more than stale_after_days before the
	// report's as-of instant and still not redeemed.
	ExcStaleVoucher = "STALE_VOUCHER"
	// ExcSuspendedAgency: a suspended agency holds live vouchers not yet
	// reimbursed.
	ExcSuspendedAgency = "SUSPENDED_AGENCY_VOUCHERS"
	// ExcCapRecordMismatch: the ledger's cap usage record disagrees with
	// the live amount recomputed from the vouchers.
	ExcCapRecordMismatch = "CAP_RECORD_MISMATCH"
	// ExcInconsistentRecord: a voucher the contract could not have
	// written: its certification or service record is missing or belongs
	// to someone else, its agency is not registered, its status or amount
	// is unreadable, or it was reimbursed without a payment reference.
	ExcInconsistentRecord = "INCONSISTENT_RECORD"
)

// ExceptionCodes lists the codes in the order reports present them.
var ExceptionCodes = []string{
	ExcCapBreach, ExcDuplicateCertificate, ExcAmountMismatch, ExcReimbursedWithoutRedemption,
	ExcDuplicatePaymentRef, ExcLateFiling, ExcStaleVoucher, ExcSuspendedAgency,
	ExcCapRecordMismatch, ExcInconsistentRecord,
}

// idList collects voucher ids up to a bound and counts them all.
type idList struct {
	ids []string
	n   int
}

func (l *idList) add(id string, bound int) {
	if len(l.ids) < bound {
		l.ids = append(l.ids, id)
	}
	l.n++
}

// dupIndex finds keys (certificate numbers, payment references) shared by
// two or more vouchers across the whole ledger without holding the keys:
// it keeps a 64-bit hash and the voucher's ordinal in the scan, 16 bytes a
// voucher. After the scan, equal hashes name the candidate ordinals; a
// second scan (only when there are candidates) reads those vouchers and
// groups them by the real key, so a hash collision is never reported.
type dupIndex struct {
	seed    maphash.Seed
	entries []dupEntry
}

type dupEntry struct {
	hash uint64
	ord  uint32
}

func newDupIndex(capacity int) *dupIndex {
	return &dupIndex{seed: maphash.MakeSeed(), entries: make([]dupEntry, 0, capacity)}
}

func (d *dupIndex) add(key string, ord uint32) {
	d.entries = append(d.entries, dupEntry{hash: maphash.String(d.seed, key), ord: ord})
}

// candidates returns the ordinals whose hash is shared, and releases the
// entries.
func (d *dupIndex) candidates(into map[uint32]struct{}) {
	slices.SortFunc(d.entries, func(a, b dupEntry) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.ord, b.ord))
	})
	for i := 0; i < len(d.entries); {
		j := i + 1
		for j < len(d.entries) && d.entries[j].hash == d.entries[i].hash {
			j++
		}
		if j-i > 1 {
			for _, e := range d.entries[i:j] {
				into[e.ord] = struct{}{}
			}
		}
		i = j
	}
	d.entries = nil
}

// dupVoucher is what the second scan keeps of a candidate voucher.
type dupVoucher struct {
	id, agencyID, period string
	inPeriod             bool
}

// dupGroups groups candidates by their real key and keeps groups of two
// or more, sorted by key; within a group vouchers stay in scan order.
func dupGroups(byKey map[string][]dupVoucher) (keys []string, groups [][]dupVoucher) {
	for _, k := range sortedKeys(byKey) {
		if g := byKey[k]; len(g) > 1 {
			keys = append(keys, k)
			groups = append(groups, g)
		}
	}
	return keys, groups
}

// findDuplicates runs the second scan for the candidate ordinals of both
// indexes and emits the exceptions of every real duplicate.
func (b *builder) findDuplicates(snap projection.Snapshot) error {
	certCand := map[uint32]struct{}{}
	refCand := map[uint32]struct{}{}
	b.certs.candidates(certCand)
	b.refs.candidates(refCand)
	if len(certCand) == 0 && len(refCand) == 0 {
		return nil
	}
	byCert := map[string][]dupVoucher{}
	byRef := map[string][]dupVoucher{}
	var ord uint32
	err := snap.ForEachVoucher(func(v voucher.Voucher) error {
		ord++
		dv := dupVoucher{id: v.ID, agencyID: v.AgencyID, period: v.Period, inPeriod: b.inPeriod(v.Period)}
		if _, ok := certCand[ord]; ok {
			byCert[v.CertificateNo] = append(byCert[v.CertificateNo], dv)
		}
		if _, ok := refCand[ord]; ok {
			byRef[v.PaymentRef] = append(byRef[v.PaymentRef], dv)
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys, groups := dupGroups(byCert)
	for i := range groups {
		if err := b.emitDuplicate(ExcDuplicateCertificate, "certificate "+keys[i]+" backs", "live vouchers", groups[i]); err != nil {
			return err
		}
	}
	keys, groups = dupGroups(byRef)
	for i := range groups {
		if err := b.emitDuplicate(ExcDuplicatePaymentRef, "payment reference "+keys[i]+" is on", "vouchers", groups[i]); err != nil {
			return err
		}
	}
	return nil
}

// emitDuplicate lists a shared key once for each agency that has one of
// the group's vouchers in the report's period.
func (b *builder) emitDuplicate(code, subject, what string, group []dupVoucher) error {
	var all idList
	var inPeriod, involved []string
	for _, dv := range group {
		all.add(dv.id, b.cfg.maxVoucherIDs)
		if !slices.Contains(involved, dv.agencyID) {
			involved = append(involved, dv.agencyID)
		}
		if dv.inPeriod && !slices.Contains(inPeriod, dv.agencyID) {
			inPeriod = append(inPeriod, dv.agencyID)
		}
	}
	slices.Sort(inPeriod)
	slices.Sort(involved)
	detail := subject + " " + itoa(len(group)) + " " + what + " of agencies " + strings.Join(involved, ", ")
	for _, a := range inPeriod {
		period := ""
		for _, dv := range group {
			if dv.agencyID == a && dv.inPeriod {
				period = dv.period
				break
			}
		}
		if err := b.emit(Exception{Code: code, AgencyID: a, Period: period, VoucherIDs: all.ids, VoucherCount: all.n, Detail: detail}); err != nil {
			return err
		}
	}
	return nil
}
