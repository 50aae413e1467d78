package report

import (
	"cmp"
	"fmt"
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
// 16 bytes a voucher, a 48-bit hash of the key with the voucher's period
// and the voucher id packed in 64 bits (ids of the contract's shape
// V-<period>-<16 hex digits>; any other id is kept aside as a string).
// After the scan, equal hashes name the candidates; their vouchers are
// read back by id and grouped by the real key, so a hash collision is
// never reported.
type dupIndex struct {
	seed    maphash.Seed
	entries []dupEntry
	odd     []string
}

type dupEntry struct {
	hp  uint64 // hash<<16 | period code
	vid uint64 // the id's 16 hex digits, or an index into odd
}

const (
	periodProgram = 101    // period code of voucher.ProgramPeriod; years are 1..100
	periodOdd     = 0xFFFF // the id is odd[vid]
)

func newDupIndex(seed maphash.Seed, capacity int) *dupIndex {
	return &dupIndex{seed: seed, entries: make([]dupEntry, 0, capacity)}
}

func (d *dupIndex) add(key, voucherID string) {
	h := maphash.String(d.seed, key) << 16
	if code, vid, ok := packVoucherID(voucherID); ok {
		d.entries = append(d.entries, dupEntry{hp: h | uint64(code), vid: vid})
		return
	}
	d.entries = append(d.entries, dupEntry{hp: h | periodOdd, vid: uint64(len(d.odd))})
	d.odd = append(d.odd, voucherID)
}

// packVoucherID packs "V-2024-0123456789abcdef" (or "V-program-…").
func packVoucherID(id string) (code uint16, vid uint64, ok bool) {
	rest, found := strings.CutPrefix(id, "V-")
	if !found || len(rest) < 18 || rest[len(rest)-17] != '-' {
		return 0, 0, false
	}
	period, digits := rest[:len(rest)-17], rest[len(rest)-16:]
	switch {
	case period == voucher.ProgramPeriod:
		code = periodProgram
	case len(period) == 4 && period >= "2000" && period <= "2099" && strings.Trim(period, "0123456789") == "":
		code = uint16(period[2]-'0')*10 + uint16(period[3]-'0') + 1
	default:
		return 0, 0, false
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return 0, 0, false
		}
		vid = vid<<4 | uint64(v)
	}
	return code, vid, true
}

// unpack rebuilds the voucher id of an entry.
func (d *dupIndex) unpack(e dupEntry) string {
	code := uint16(e.hp & 0xFFFF)
	switch code {
	case periodOdd:
		return d.odd[e.vid]
	case periodProgram:
		return fmt.Sprintf("V-%s-%016x", voucher.ProgramPeriod, e.vid)
	}
	return fmt.Sprintf("V-20%02d-%016x", code-1, e.vid)
}

// candidates adds the ids of the vouchers whose key hash is shared, and
// releases the entries.
func (d *dupIndex) candidates(into map[string]struct{}) {
	slices.SortFunc(d.entries, func(a, b dupEntry) int {
		return cmp.Or(cmp.Compare(a.hp, b.hp), cmp.Compare(a.vid, b.vid))
	})
	for i := 0; i < len(d.entries); {
		j := i + 1
		for j < len(d.entries) && d.entries[j].hp>>16 == d.entries[i].hp>>16 {
			j++
		}
		if j-i > 1 {
			for _, e := range d.entries[i:j] {
				into[d.unpack(e)] = struct{}{}
			}
		}
		i = j
	}
	d.entries, d.odd = nil, nil
}

// dupVoucher is what the report keeps of a candidate voucher.
type dupVoucher struct {
	id, agencyID, period string
	inPeriod             bool
}

// dupGroups groups candidates by their real key and keeps groups of two
// or more, sorted by key, each sorted by agency and voucher id.
func dupGroups(byKey map[string][]dupVoucher) (keys []string, groups [][]dupVoucher) {
	for _, k := range sortedKeys(byKey) {
		if g := byKey[k]; len(g) > 1 {
			slices.SortFunc(g, func(a, b dupVoucher) int {
				return cmp.Or(strings.Compare(a.agencyID, b.agencyID), strings.Compare(a.id, b.id))
			})
			keys = append(keys, k)
			groups = append(groups, g)
		}
	}
	return keys, groups
}

// maxPointReads bounds the candidates read back one by one. Each point
// read maps a few pages of the read model, with the kernel's fault-around
// about 64 KiB each, into the process's RSS until the read transaction
// ends, while a scan releases them as it goes; beyond the bound (a ledger
// with hundreds of duplicates) a second scan is the cheaper way in memory.
const maxPointReads = 512

// findDuplicates reads back the candidate vouchers of both indexes (point
// reads, or a second scan when they are many or the snapshot has no point
// reads) and emits the exceptions of every real duplicate.
func (b *builder) findDuplicates(snap projection.Snapshot) error {
	certCand := map[string]struct{}{}
	refCand := map[string]struct{}{}
	b.certs.candidates(certCand)
	b.refs.candidates(refCand)
	if len(certCand) == 0 && len(refCand) == 0 {
		return nil
	}
	byCert := map[string][]dupVoucher{}
	byRef := map[string][]dupVoucher{}
	visit := func(v voucher.Voucher) {
		dv := dupVoucher{id: v.ID, agencyID: v.AgencyID, period: v.Period, inPeriod: b.inPeriod(v.Period)}
		if _, ok := certCand[v.ID]; ok && v.Status.Live() {
			byCert[v.CertificateNo] = append(byCert[v.CertificateNo], dv)
		}
		if _, ok := refCand[v.ID]; ok && v.PaymentRef != "" {
			byRef[v.PaymentRef] = append(byRef[v.PaymentRef], dv)
		}
	}
	if b.lookup != nil && len(certCand)+len(refCand) <= maxPointReads {
		ids := make([]string, 0, len(certCand)+len(refCand))
		for id := range certCand {
			ids = append(ids, id)
		}
		for id := range refCand {
			if _, dup := certCand[id]; !dup {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids) // neighbours share pages
		for _, id := range ids {
			v, ok, err := b.lookup.Voucher(id)
			if err != nil {
				return err
			}
			if ok {
				visit(v)
			}
		}
	} else {
		err := snap.ForEachVoucher(func(v voucher.Voucher) error {
			visit(v)
			return nil
		})
		if err != nil {
			return err
		}
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
