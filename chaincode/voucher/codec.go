package voucher

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
)

// The contract's hot JSON paths (ADR 0011). Both libraries stay the
// reference: the writers below produce byte for byte what encoding/json's
// Marshal does (so every state value and event a ledger ever committed is
// reproduced exactly), and the flat reader accepts only the compact form
// those writers produce, leaving every other input to go-json-experiment/json
// (ADR 0007). Both are checked against the libraries by the tests in
// codec_test.go, fuzzing included.

// marshalJSON is json.Marshal, through the writers below for their types.
// The types are matched exactly: a struct embedding one of them (AgencyView)
// goes to json.Marshal.
func marshalJSON(v any) ([]byte, error) {
	b := make([]byte, 0, 512)
	switch x := v.(type) {
	case Agency:
		return x.appendJSON(b), nil
	case CapUsage:
		return x.appendJSON(b), nil
	case Certification:
		return x.appendJSON(b), nil
	case ServiceRecord:
		return x.appendJSON(b), nil
	case Voucher:
		return x.appendJSON(b), nil
	case Policy:
		return x.appendJSON(b), nil
	case Event:
		return x.appendJSON(b), nil
	}
	return json.Marshal(v)
}

// flatObject is a struct whose JSON members are all strings and ints:
// member returns the one named name, with its index (below 64) and the
// field to set (s or n), or ok false for a name it does not have.
type flatObject interface {
	member(name []byte) (index int, s *string, n *int, ok bool)
}

// flatOf is v as a flatObject when it points to one of the flat types,
// matched exactly (not a struct embedding one).
func flatOf(v any) flatObject {
	switch x := v.(type) {
	case *Agency:
		return x
	case *CapUsage:
		return x
	case *Certification:
		return x
	case *ServiceRecord:
		return x
	case *Voucher:
		return x
	case *Policy:
		return x
	case *RegisterAgencyArgs:
		return x
	case *RecordCertificationArgs:
		return x
	case *RecordServiceArgs:
		return x
	case *ClaimArgs:
		return x
	case *VoucherIDArgs:
		return x
	case *ReimburseArgs:
		return x
	case *VoucherReasonArgs:
		return x
	}
	return nil
}

// unmarshalState decodes a state value as go-json-experiment/json's
// Unmarshal does (unknown members ignored).
func unmarshalState(b []byte, v any) error {
	if f := flatOf(v); f != nil && decodeFlat(b, f) {
		return nil
	}
	return jsonv2.Unmarshal(b, v)
}

// unmarshalArg decodes a transaction argument as go-json-experiment/json's
// Unmarshal does with unknown members rejected.
func unmarshalArg(b []byte, v any) error {
	if f := flatOf(v); f != nil && decodeFlat(b, f) {
		return nil
	}
	return jsonv2.Unmarshal(b, v, jsonv2.RejectUnknownMembers(true))
}

// decodeFlat sets f's members from b and reports true when b is a compact
// JSON object of f's own members, each at most once, with string values
// free of escapes and valid UTF-8 and int values of at most 9 digits: an
// input on which go-json-experiment/json sets exactly those members to
// exactly those values. On any other input it changes nothing and reports
// false, for the library to decide.
func decodeFlat(b []byte, f flatObject) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	if len(b) == 2 {
		return true
	}
	// The members are found first and set only once b is known good.
	type found struct {
		s          *string
		n          *int
		start, end int // of a string value
		v          int // an int value
	}
	var members [64]found
	var seen uint64
	count := 0
	i := 1
	for {
		nameStart, nameEnd, ok := scanString(b, i)
		if !ok || nameEnd+1 >= len(b) || b[nameEnd+1] != ':' {
			return false
		}
		index, s, n, known := f.member(b[nameStart:nameEnd])
		if !known || index < 0 || index > 63 || seen&(1<<index) != 0 {
			return false
		}
		seen |= 1 << index
		m := &members[count]
		count++
		i = nameEnd + 2
		switch {
		case s != nil:
			start, end, ok := scanString(b, i)
			if !ok {
				return false
			}
			m.s, m.start, m.end = s, start, end
			i = end + 1
		case n != nil:
			v, end, ok := scanInt(b, i)
			if !ok {
				return false
			}
			m.n, m.v = n, v
			i = end
		default:
			return false
		}
		if i == len(b)-1 {
			break
		}
		if b[i] != ',' {
			return false
		}
		i++
	}
	// One string for the whole input: the fields are slices of it.
	all := string(b)
	for _, m := range members[:count] {
		if m.s != nil {
			*m.s = all[m.start:m.end]
		} else {
			*m.n = m.v
		}
	}
	return true
}

// scanString reads the string starting with the quote at b[i]: its
// content is b[start:end] and b[end] is the closing quote. ok is false for
// escapes, control characters, invalid UTF-8 or no closing quote.
func scanString(b []byte, i int) (start, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false
	}
	start = i + 1
	j := start
	var high uint64 // the top bits of the words skipped: non-ASCII seen
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		if hasByteBelow(w, 0x20)|hasByte(w, '"')|hasByte(w, '\\') != 0 {
			break
		}
		high |= w
	}
	ascii := high&highBits == 0
	for ; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:j]) {
				return 0, 0, false
			}
			return start, j, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return 0, 0, false
}

// Word-at-a-time byte tests (the classic bit tricks): each is non-zero
// when some byte of w is below n (n <= 0x80), or equal to c. They may also
// flag a byte above a true hit, never miss one; callers then look byte by
// byte.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

func hasByteBelow(w uint64, n byte) uint64 { return (w - lowBits*uint64(n)) &^ w & highBits }

func hasByte(w uint64, c byte) uint64 { return hasByteBelow(w^(lowBits*uint64(c)), 1) }

// scanInt reads a JSON integer of 1-9 digits at b[i], without a minus
// zero; end is the index after it.
func scanInt(b []byte, i int) (v, end int, ok bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + int(b[j]-'0')
		j++
	}
	switch digits := j - i; {
	case digits == 0 || digits > 9:
		return 0, 0, false
	case digits > 1 && b[i] == '0', neg && v == 0:
		return 0, 0, false
	case j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E'):
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, j, true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does: HTML characters,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if w&highBits|hasByteBelow(w, 0x20)|hasByte(w, '"')|hasByte(w, '\\')|
				hasByte(w, '<')|hasByte(w, '>')|hasByte(w, '&') == 0 {
				i += 8
				continue
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendMember appends ,"name": (name is given with its quotes and colon,
// and without the comma for the first member).
func appendMember(b []byte, member string, s string) []byte {
	return appendJSONString(append(b, member...), s)
}

func (a Agency) appendJSON(b []byte) []byte {
	b = appendMember(b, `{"id":`, a.ID)
	b = appendMember(b, `,"name":`, a.Name)
	b = appendMember(b, `,"kind":`, a.Kind)
	b = appendMember(b, `,"status":`, a.Status)
	if a.Reason != "" {
		b = appendMember(b, `,"reason":`, a.Reason)
	}
	b = appendMember(b, `,"registered_at":`, a.RegisteredAt)
	b = appendMember(b, `,"updated_at":`, a.UpdatedAt)
	return append(b, '}')
}

func (u CapUsage) appendJSON(b []byte) []byte {
	b = appendMember(b, `{"agency_id":`, u.AgencyID)
	b = appendMember(b, `,"period":`, u.Period)
	b = appendMember(b, `,"limit":`, u.LimitCNY)
	b = appendMember(b, `,"used":`, u.UsedCNY)
	b = appendMember(b, `,"remaining":`, u.RemainingCNY)
	b = append(b, `,"live_count":`...)
	b = strconv.AppendInt(b, int64(u.LiveCount), 10)
	return append(b, '}')
}

func (c Certification) appendJSON(b []byte) []byte {
	b = appendMember(b, `{"certificate_no":`, c.CertificateNo)
	b = appendMember(b, `,"enterprise_id":`, c.EnterpriseID)
	b = appendMember(b, `,"enterprise_name":`, c.EnterpriseName)
	b = appendMember(b, `,"issued_on":`, c.IssuedOn)
	b = appendMember(b, `,"kind":`, c.Kind)
	b = appendMember(b, `,"recorded_at":`, c.RecordedAt)
	b = appendMember(b, `,"recorded_tx":`, c.RecordedTx)
	return append(b, '}')
}

func (r ServiceRecord) appendJSON(b []byte) []byte {
	b = appendMember(b, `{"id":`, r.ID)
	b = appendMember(b, `,"agency_id":`, r.AgencyID)
	b = appendMember(b, `,"enterprise_id":`, r.EnterpriseID)
	b = appendMember(b, `,"contract_ref":`, r.ContractRef)
	b = appendMember(b, `,"started_on":`, r.StartedOn)
	b = appendMember(b, `,"evidence_sha256":`, r.EvidenceSHA256)
	b = appendMember(b, `,"recorded_at":`, r.RecordedAt)
	b = appendMember(b, `,"recorded_tx":`, r.RecordedTx)
	return append(b, '}')
}

func (v Voucher) appendJSON(b []byte) []byte {
	b = appendMember(b, `{"id":`, v.ID)
	b = appendMember(b, `,"agency_id":`, v.AgencyID)
	b = appendMember(b, `,"enterprise_id":`, v.EnterpriseID)
	b = appendMember(b, `,"certificate_no":`, v.CertificateNo)
	b = appendMember(b, `,"service_record_id":`, v.ServiceRecordID)
	b = appendMember(b, `,"period":`, v.Period)
	b = appendMember(b, `,"amount":`, v.AmountCNY)
	b = append(b, `,"policy_version":`...)
	b = strconv.AppendInt(b, int64(v.PolicyVersion), 10)
	b = appendMember(b, `,"status":`, string(v.Status))
	b = appendMember(b, `,"issued_at":`, v.IssuedAt)
	for _, m := range [...]struct{ member, s string }{
		{`,"redemption_requested_at":`, v.RedemptionRequestedAt},
		{`,"reimbursed_at":`, v.ReimbursedAt},
		{`,"payment_ref":`, v.PaymentRef},
		{`,"paid_amount":`, v.PaidAmountCNY},
		{`,"paid_on":`, v.PaidOn},
		{`,"closed_at":`, v.ClosedAt},
		{`,"reason":`, v.Reason},
	} {
		if m.s != "" {
			b = appendMember(b, m.member, m.s)
		}
	}
	b = appendMember(b, `,"updated_at":`, v.UpdatedAt)
	b = appendMember(b, `,"last_action":`, v.LastAction)
	b = appendMember(b, `,"last_actor":`, v.LastActor)
	return append(b, '}')
}

func (p Policy) appendJSON(b []byte) []byte {
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(p.Version), 10)
	b = appendMember(b, `,"unit_reward":`, p.UnitRewardCNY)
	b = appendMember(b, `,"cap_per_agency":`, p.CapPerAgencyCNY)
	b = appendMember(b, `,"cap_scope":`, p.CapScope)
	b = appendMember(b, `,"window_from":`, p.WindowFrom)
	b = appendMember(b, `,"window_to":`, p.WindowTo)
	b = append(b, `,"stale_after_days":`...)
	b = strconv.AppendInt(b, int64(p.StaleAfterDays), 10)
	if p.SetAt != "" {
		b = appendMember(b, `,"set_at":`, p.SetAt)
	}
	if p.SetBy != "" {
		b = appendMember(b, `,"set_by":`, p.SetBy)
	}
	return append(b, '}')
}

func (e Event) appendJSON(b []byte) []byte { return e.appendJSONRaw(b, eventRaw{}) }

// eventRaw holds members of an event already encoded, as putEncoded wrote
// them; a nil one is encoded from the event.
type eventRaw struct {
	agency, certification, service, voucher, cap, policy []byte
}

// appendMemberRaw appends the member name and raw if raw is set, or else
// the member encoded by write.
func appendMemberRaw(b []byte, name string, raw []byte, write func([]byte) []byte) []byte {
	b = append(b, name...)
	if raw != nil {
		return append(b, raw...)
	}
	return write(b)
}

func (e Event) appendJSONRaw(b []byte, raw eventRaw) []byte {
	b = appendMember(b, `{"type":`, e.Type)
	b = appendMember(b, `,"tx_id":`, e.TxID)
	b = appendMember(b, `,"at":`, e.At)
	b = appendMember(b, `,"actor":`, e.Actor)
	if e.Agency != nil {
		b = appendMemberRaw(b, `,"agency":`, raw.agency, e.Agency.appendJSON)
	}
	if e.Certification != nil {
		b = appendMemberRaw(b, `,"certification":`, raw.certification, e.Certification.appendJSON)
	}
	if e.Service != nil {
		b = appendMemberRaw(b, `,"service":`, raw.service, e.Service.appendJSON)
	}
	if e.Voucher != nil {
		b = appendMemberRaw(b, `,"voucher":`, raw.voucher, e.Voucher.appendJSON)
	}
	if e.Cap != nil {
		b = appendMemberRaw(b, `,"cap":`, raw.cap, e.Cap.appendJSON)
	}
	if e.Policy != nil {
		b = appendMemberRaw(b, `,"policy":`, raw.policy, e.Policy.appendJSON)
	}
	return append(b, '}')
}

// The members of the flat state values and arguments, in the order of
// their fields.

func (a *Agency) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "id":
		return 0, &a.ID, nil, true
	case "name":
		return 1, &a.Name, nil, true
	case "kind":
		return 2, &a.Kind, nil, true
	case "status":
		return 3, &a.Status, nil, true
	case "reason":
		return 4, &a.Reason, nil, true
	case "registered_at":
		return 5, &a.RegisteredAt, nil, true
	case "updated_at":
		return 6, &a.UpdatedAt, nil, true
	}
	return 0, nil, nil, false
}

func (u *CapUsage) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "agency_id":
		return 0, &u.AgencyID, nil, true
	case "period":
		return 1, &u.Period, nil, true
	case "limit":
		return 2, &u.LimitCNY, nil, true
	case "used":
		return 3, &u.UsedCNY, nil, true
	case "remaining":
		return 4, &u.RemainingCNY, nil, true
	case "live_count":
		return 5, nil, &u.LiveCount, true
	}
	return 0, nil, nil, false
}

func (c *Certification) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "certificate_no":
		return 0, &c.CertificateNo, nil, true
	case "enterprise_id":
		return 1, &c.EnterpriseID, nil, true
	case "enterprise_name":
		return 2, &c.EnterpriseName, nil, true
	case "issued_on":
		return 3, &c.IssuedOn, nil, true
	case "kind":
		return 4, &c.Kind, nil, true
	case "recorded_at":
		return 5, &c.RecordedAt, nil, true
	case "recorded_tx":
		return 6, &c.RecordedTx, nil, true
	}
	return 0, nil, nil, false
}

func (r *ServiceRecord) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "id":
		return 0, &r.ID, nil, true
	case "agency_id":
		return 1, &r.AgencyID, nil, true
	case "enterprise_id":
		return 2, &r.EnterpriseID, nil, true
	case "contract_ref":
		return 3, &r.ContractRef, nil, true
	case "started_on":
		return 4, &r.StartedOn, nil, true
	case "evidence_sha256":
		return 5, &r.EvidenceSHA256, nil, true
	case "recorded_at":
		return 6, &r.RecordedAt, nil, true
	case "recorded_tx":
		return 7, &r.RecordedTx, nil, true
	}
	return 0, nil, nil, false
}

func (v *Voucher) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "id":
		return 0, &v.ID, nil, true
	case "agency_id":
		return 1, &v.AgencyID, nil, true
	case "enterprise_id":
		return 2, &v.EnterpriseID, nil, true
	case "certificate_no":
		return 3, &v.CertificateNo, nil, true
	case "service_record_id":
		return 4, &v.ServiceRecordID, nil, true
	case "period":
		return 5, &v.Period, nil, true
	case "amount":
		return 6, &v.AmountCNY, nil, true
	case "policy_version":
		return 7, nil, &v.PolicyVersion, true
	case "status":
		return 8, (*string)(&v.Status), nil, true
	case "issued_at":
		return 9, &v.IssuedAt, nil, true
	case "redemption_requested_at":
		return 10, &v.RedemptionRequestedAt, nil, true
	case "reimbursed_at":
		return 11, &v.ReimbursedAt, nil, true
	case "payment_ref":
		return 12, &v.PaymentRef, nil, true
	case "paid_amount":
		return 13, &v.PaidAmountCNY, nil, true
	case "paid_on":
		return 14, &v.PaidOn, nil, true
	case "closed_at":
		return 15, &v.ClosedAt, nil, true
	case "reason":
		return 16, &v.Reason, nil, true
	case "updated_at":
		return 17, &v.UpdatedAt, nil, true
	case "last_action":
		return 18, &v.LastAction, nil, true
	case "last_actor":
		return 19, &v.LastActor, nil, true
	}
	return 0, nil, nil, false
}

func (p *Policy) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "version":
		return 0, nil, &p.Version, true
	case "unit_reward":
		return 1, &p.UnitRewardCNY, nil, true
	case "cap_per_agency":
		return 2, &p.CapPerAgencyCNY, nil, true
	case "cap_scope":
		return 3, &p.CapScope, nil, true
	case "window_from":
		return 4, &p.WindowFrom, nil, true
	case "window_to":
		return 5, &p.WindowTo, nil, true
	case "stale_after_days":
		return 6, nil, &p.StaleAfterDays, true
	case "set_at":
		return 7, &p.SetAt, nil, true
	case "set_by":
		return 8, &p.SetBy, nil, true
	}
	return 0, nil, nil, false
}

func (a *RegisterAgencyArgs) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "id":
		return 0, &a.ID, nil, true
	case "name":
		return 1, &a.Name, nil, true
	case "kind":
		return 2, &a.Kind, nil, true
	}
	return 0, nil, nil, false
}

func (a *RecordCertificationArgs) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "enterprise_id":
		return 0, &a.EnterpriseID, nil, true
	case "enterprise_name":
		return 1, &a.EnterpriseName, nil, true
	case "certificate_no":
		return 2, &a.CertificateNo, nil, true
	case "issued_on":
		return 3, &a.IssuedOn, nil, true
	case "kind":
		return 4, &a.Kind, nil, true
	}
	return 0, nil, nil, false
}

func (a *RecordServiceArgs) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "enterprise_id":
		return 0, &a.EnterpriseID, nil, true
	case "contract_ref":
		return 1, &a.ContractRef, nil, true
	case "started_on":
		return 2, &a.StartedOn, nil, true
	case "evidence_sha256":
		return 3, &a.EvidenceSHA256, nil, true
	}
	return 0, nil, nil, false
}

func (a *ClaimArgs) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "enterprise_id":
		return 0, &a.EnterpriseID, nil, true
	case "certificate_no":
		return 1, &a.CertificateNo, nil, true
	}
	return 0, nil, nil, false
}

func (a *VoucherIDArgs) member(name []byte) (int, *string, *int, bool) {
	if string(name) == "id" {
		return 0, &a.ID, nil, true
	}
	return 0, nil, nil, false
}

func (a *ReimburseArgs) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "id":
		return 0, &a.ID, nil, true
	case "payment_ref":
		return 1, &a.PaymentRef, nil, true
	case "amount":
		return 2, &a.AmountCNY, nil, true
	case "paid_on":
		return 3, &a.PaidOn, nil, true
	}
	return 0, nil, nil, false
}

func (a *VoucherReasonArgs) member(name []byte) (int, *string, *int, bool) {
	switch string(name) {
	case "id":
		return 0, &a.ID, nil, true
	case "reason":
		return 1, &a.Reason, nil, true
	}
	return 0, nil, nil, false
}
