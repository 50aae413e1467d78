package projection

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// The read model stores records in a compact binary form rather than JSON:
// the reconciliation report streams a million vouchers through bbolt's
// memory map, and both the decode time and the bytes mapped (which count
// towards the process's RSS) scale with the record size. See
// docs/adr/0003-projection-read-model.md for the measurements.
//
// A record is a format byte followed by its fields in a fixed order. Each
// string field is written with the tightest of a few lossless forms, each of
// which round-trips to exactly the original string:
//
//	tagEmpty              ""
//	tagInstant  varint seconds, varint nanos    RFC 3339 UTC instants
//	tagInstant9 varint seconds, varint nanos    the same, with 9 fixed
//	                                            fraction digits (voucher.TimeLayout)
//	tagDate     varint days since 1970-01-01    YYYY-MM-DD dates
//	tagHex      uvarint n, n bytes              even-length lowercase hex
//	tagSymbol   uvarint index into symbols      statuses, kinds, event types
//	tagRaw      uvarint n, n bytes              anything else
//
// Integers are zig-zag varints. The key of a record carries its identity,
// so the value does not repeat it.

// recordFormat is the first byte of every record; a change of layout bumps
// it together with schemaVersion, which rebuilds the read model.
const recordFormat = 1

const (
	tagEmpty byte = iota
	tagInstant
	tagDate
	tagHex
	tagSymbol
	tagRaw
	tagInstant9
)

// symbols are strings common enough to store as one byte. The list is
// append-only: an index, once written, must keep its meaning.
var symbols = []string{
	string(voucher.StatusIssued),
	string(voucher.StatusRedemptionRequested),
	string(voucher.StatusReimbursed),
	string(voucher.StatusRejected),
	string(voucher.StatusRevoked),
	voucher.KindServiceAgency,
	voucher.KindIncubator,
	voucher.AgencyActive,
	voucher.AgencySuspended,
	voucher.CertFirst,
	voucher.CertRenewal,
	voucher.CapScopeYear,
	voucher.ProgramPeriod, // also CapScopeProgram
	voucher.EventAgencyRegistered,
	voucher.EventAgencySuspended,
	voucher.EventAgencyReinstated,
	voucher.EventCertificationRecorded,
	voucher.EventServiceRecorded,
	voucher.EventVoucherIssued,
	voucher.EventRedemptionRequested,
	voucher.EventVoucherReimbursed,
	voucher.EventVoucherRejected,
	voucher.EventVoucherRevoked,
	voucher.EventPolicySet,
	"0.00",
	"5000.00",
	"100000.00",
	"Claim",
	"Redeem",
	"Reimburse",
	"Reject",
	"Revoke",
}

var symbolIndex = func() map[string]uint64 {
	m := make(map[string]uint64, len(symbols))
	for i := range uint64(len(symbols)) {
		if _, dup := m[symbols[i]]; !dup {
			m[symbols[i]] = i
		}
	}
	return m
}()

// errCorrupt marks a stored record that cannot be decoded.
var errCorrupt = errors.New("projection: corrupt record")

const secondsPerDay = 24 * 60 * 60

// encoder appends fields to a record.
type encoder struct{ b []byte }

func newEncoder(buf []byte) *encoder {
	return &encoder{b: append(buf[:0], recordFormat)}
}

func (e *encoder) int(n int) { e.b = binary.AppendVarint(e.b, int64(n)) }

func (e *encoder) raw(tag byte, s string) {
	e.b = append(e.b, tag)
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) str(s string) {
	if s == "" {
		e.b = append(e.b, tagEmpty)
		return
	}
	if i, ok := symbolIndex[s]; ok {
		e.b = append(e.b, tagSymbol)
		e.b = binary.AppendUvarint(e.b, i)
		return
	}
	if t, tag, ok := asInstant(s); ok {
		e.b = append(e.b, tag)
		e.b = binary.AppendVarint(e.b, t.Unix())
		e.b = binary.AppendVarint(e.b, int64(t.Nanosecond()))
		return
	}
	if d, ok := asDate(s); ok {
		e.b = append(e.b, tagDate)
		e.b = binary.AppendVarint(e.b, d)
		return
	}
	if isLowerHex(s) {
		e.b = append(e.b, tagHex)
		e.b = binary.AppendUvarint(e.b, uint64(len(s)/2))
		e.b, _ = hex.AppendDecode(e.b, []byte(s)) // isLowerHex checked it
		return
	}
	e.raw(tagRaw, s)
}

// asInstant parses an RFC 3339 UTC instant that formats back to exactly s
// in one of the two layouts, and names the layout by its tag.
func asInstant(s string) (time.Time, byte, bool) {
	if len(s) < 20 || s[4] != '-' || s[10] != 'T' || s[len(s)-1] != 'Z' {
		return time.Time{}, 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, 0, false
	}
	// Formatted into a stack buffer: this runs for every instant of every
	// event applied, and the comparison needs no string.
	var buf [64]byte
	t = t.UTC()
	if string(t.AppendFormat(buf[:0], time.RFC3339Nano)) == s {
		return t, tagInstant, true
	}
	if string(t.AppendFormat(buf[:0], voucher.TimeLayout)) == s {
		return t, tagInstant9, true
	}
	return time.Time{}, 0, false
}

// asDate parses a YYYY-MM-DD date that formats back to exactly s.
func asDate(s string) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, s)
	var buf [16]byte
	if err != nil || string(t.AppendFormat(buf[:0], time.DateOnly)) != s {
		return 0, false
	}
	return t.Unix() / secondsPerDay, true
}

func isLowerHex(s string) bool {
	if len(s)%2 != 0 || len(s) < 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// decoder reads the fields of one record; the first failure sticks in err.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(b []byte) *decoder {
	if len(b) == 0 || b[0] != recordFormat {
		return &decoder{err: errCorrupt}
	}
	return &decoder{b: b[1:]}
}

func (d *decoder) fail() { d.err = errCorrupt; d.b = nil }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int { return int(d.varint()) }

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	if len(d.b) == 0 {
		d.fail()
		return ""
	}
	tag := d.b[0]
	d.b = d.b[1:]
	switch tag {
	case tagEmpty:
		return ""
	case tagSymbol:
		i := d.uvarint()
		if d.err != nil || i >= uint64(len(symbols)) {
			d.fail()
			return ""
		}
		return symbols[i]
	case tagInstant, tagInstant9:
		sec := d.varint()
		nsec := d.varint()
		if d.err != nil || nsec < 0 || nsec >= 1e9 {
			d.fail()
			return ""
		}
		if tag == tagInstant9 {
			return time.Unix(sec, nsec).UTC().Format(voucher.TimeLayout)
		}
		return time.Unix(sec, nsec).UTC().Format(time.RFC3339Nano)
	case tagDate:
		days := d.varint()
		if d.err != nil {
			return ""
		}
		return time.Unix(days*secondsPerDay, 0).UTC().Format(time.DateOnly)
	case tagHex:
		return hex.EncodeToString(d.bytes())
	case tagRaw:
		return string(d.bytes())
	}
	d.fail()
	return ""
}

// done reports the decoder's error, or errCorrupt when bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		return errCorrupt
	}
	return d.err
}

// The per-type layouts. Fields are written in declaration order; the
// identity held by the key is left out.

func encodeAgency(buf []byte, a *voucher.Agency) []byte {
	e := newEncoder(buf)
	e.str(a.Name)
	e.str(a.Kind)
	e.str(a.Status)
	e.str(a.Reason)
	e.str(a.RegisteredAt)
	e.str(a.UpdatedAt)
	return e.b
}

func decodeAgency(id string, b []byte) (voucher.Agency, error) {
	d := newDecoder(b)
	a := voucher.Agency{ID: id}
	a.Name = d.str()
	a.Kind = d.str()
	a.Status = d.str()
	a.Reason = d.str()
	a.RegisteredAt = d.str()
	a.UpdatedAt = d.str()
	return a, d.done()
}

func encodeCap(buf []byte, c *voucher.CapUsage) []byte {
	e := newEncoder(buf)
	e.str(c.LimitCNY)
	e.str(c.UsedCNY)
	e.str(c.RemainingCNY)
	e.int(c.LiveCount)
	return e.b
}

func decodeCap(agencyID, period string, b []byte) (voucher.CapUsage, error) {
	d := newDecoder(b)
	c := voucher.CapUsage{AgencyID: agencyID, Period: period}
	c.LimitCNY = d.str()
	c.UsedCNY = d.str()
	c.RemainingCNY = d.str()
	c.LiveCount = d.int()
	return c, d.done()
}

func encodeCertification(buf []byte, c *voucher.Certification) []byte {
	e := newEncoder(buf)
	e.str(c.EnterpriseID)
	e.str(c.EnterpriseName)
	e.str(c.IssuedOn)
	e.str(c.Kind)
	e.str(c.RecordedAt)
	e.str(c.RecordedTx)
	return e.b
}

func decodeCertification(no string, b []byte) (voucher.Certification, error) {
	d := newDecoder(b)
	c := voucher.Certification{CertificateNo: no}
	c.EnterpriseID = d.str()
	c.EnterpriseName = d.str()
	c.IssuedOn = d.str()
	c.Kind = d.str()
	c.RecordedAt = d.str()
	c.RecordedTx = d.str()
	return c, d.done()
}

func encodeService(buf []byte, s *voucher.ServiceRecord) []byte {
	e := newEncoder(buf)
	e.str(s.AgencyID)
	e.str(s.EnterpriseID)
	e.str(s.ContractRef)
	e.str(s.StartedOn)
	e.str(s.EvidenceSHA256)
	e.str(s.RecordedAt)
	e.str(s.RecordedTx)
	return e.b
}

func decodeService(id string, b []byte) (voucher.ServiceRecord, error) {
	d := newDecoder(b)
	s := voucher.ServiceRecord{ID: id}
	s.AgencyID = d.str()
	s.EnterpriseID = d.str()
	s.ContractRef = d.str()
	s.StartedOn = d.str()
	s.EvidenceSHA256 = d.str()
	s.RecordedAt = d.str()
	s.RecordedTx = d.str()
	return s, d.done()
}

func encodeVoucher(buf []byte, v *voucher.Voucher) []byte {
	e := newEncoder(buf)
	e.str(v.EnterpriseID)
	e.str(v.CertificateNo)
	e.str(v.ServiceRecordID)
	e.str(v.Period)
	e.str(v.AmountCNY)
	e.int(v.PolicyVersion)
	e.str(string(v.Status))
	e.str(v.IssuedAt)
	e.str(v.RedemptionRequestedAt)
	e.str(v.ReimbursedAt)
	e.str(v.PaymentRef)
	e.str(v.PaidAmountCNY)
	e.str(v.PaidOn)
	e.str(v.ClosedAt)
	e.str(v.Reason)
	e.str(v.UpdatedAt)
	e.str(v.LastAction)
	e.str(v.LastActor)
	return e.b
}

func decodeVoucher(agencyID, id string, b []byte) (voucher.Voucher, error) {
	d := newDecoder(b)
	v := voucher.Voucher{ID: id, AgencyID: agencyID}
	v.EnterpriseID = d.str()
	v.CertificateNo = d.str()
	v.ServiceRecordID = d.str()
	v.Period = d.str()
	v.AmountCNY = d.str()
	v.PolicyVersion = d.int()
	v.Status = voucher.Status(d.str())
	v.IssuedAt = d.str()
	v.RedemptionRequestedAt = d.str()
	v.ReimbursedAt = d.str()
	v.PaymentRef = d.str()
	v.PaidAmountCNY = d.str()
	v.PaidOn = d.str()
	v.ClosedAt = d.str()
	v.Reason = d.str()
	v.UpdatedAt = d.str()
	v.LastAction = d.str()
	v.LastActor = d.str()
	return v, d.done()
}

// voucherStatusPeriod reads only the status and period of an encoded
// voucher, for filtering without building the whole value.
func voucherStatusPeriod(b []byte) (status voucher.Status, period string, err error) {
	d := newDecoder(b)
	d.str() // enterprise
	d.str() // certificate
	d.str() // service record
	period = d.str()
	d.str() // amount
	d.int() // policy version
	status = voucher.Status(d.str())
	return status, period, d.err
}

func encodePolicy(buf []byte, p *voucher.Policy) []byte {
	e := newEncoder(buf)
	e.str(p.UnitRewardCNY)
	e.str(p.CapPerAgencyCNY)
	e.str(p.CapScope)
	e.str(p.WindowFrom)
	e.str(p.WindowTo)
	e.int(p.StaleAfterDays)
	e.str(p.SetAt)
	e.str(p.SetBy)
	return e.b
}

func decodePolicy(version int, b []byte) (voucher.Policy, error) {
	d := newDecoder(b)
	p := voucher.Policy{Version: version}
	p.UnitRewardCNY = d.str()
	p.CapPerAgencyCNY = d.str()
	p.CapScope = d.str()
	p.WindowFrom = d.str()
	p.WindowTo = d.str()
	p.StaleAfterDays = d.int()
	p.SetAt = d.str()
	p.SetBy = d.str()
	return p, d.done()
}

// maxHistoryItems bounds one voucher's stored history; the state machine
// allows at most three steps, so this only guards against a broken feed.
const maxHistoryItems = 64

// encodeVoucherRef encodes a voucher id's record: its agency id (the key
// of its record in bucketVouchers) and its history.
func encodeVoucherRef(buf []byte, agencyID string, items []voucher.HistoryItem) []byte {
	e := newEncoder(buf)
	e.str(agencyID)
	e.b = binary.AppendUvarint(e.b, uint64(len(items)))
	for i := range items {
		e.str(items[i].TxID)
		e.str(items[i].At)
		e.str(items[i].Action)
		e.str(items[i].Actor)
		e.str(string(items[i].Status))
	}
	return e.b
}

func decodeVoucherRef(b []byte) (agencyID string, items []voucher.HistoryItem, err error) {
	d := newDecoder(b)
	agencyID = d.str()
	n := d.uvarint()
	if d.err != nil || n > maxHistoryItems {
		return "", nil, errCorrupt
	}
	items = make([]voucher.HistoryItem, n)
	for i := range items {
		items[i].TxID = d.str()
		items[i].At = d.str()
		items[i].Action = d.str()
		items[i].Actor = d.str()
		items[i].Status = voucher.Status(d.str())
	}
	return agencyID, items, d.done()
}

// voucherRefAgency reads only the agency id of a voucher id's record.
func voucherRefAgency(b []byte) (string, error) {
	d := newDecoder(b)
	agencyID := d.str()
	if d.err == nil && agencyID == "" {
		return "", errCorrupt
	}
	return agencyID, d.err
}

// containsNUL reports whether an identifier would break the NUL-separated
// keys.
func containsNUL(ids ...string) bool {
	for _, s := range ids {
		if strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
	return false
}
