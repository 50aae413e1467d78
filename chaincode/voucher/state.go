package voucher

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Object types of the composite keys the contract writes.
const (
	objAgency      = "agency"
	objCap         = "cap"
	objCert        = "cert"
	objCertLive    = "certlive"
	objService     = "service"
	objServiceRef  = "serviceref"
	objVoucher     = "voucher"
	objVoucherByAg = "vagency"
	objPaymentRef  = "payref"
	objPolicy      = "policy"
	objPolicyHead  = "policyhead"
)

// marker is the value of index entries: Fabric treats an empty value as a
// delete, so indexes hold one byte.
var marker = []byte{1}

func agencyKey(id string) string            { return CompositeKey(objAgency, id) }
func capKey(agencyID, period string) string { return CompositeKey(objCap, agencyID, period) }
func certKey(no string) string              { return CompositeKey(objCert, no) }
func certLiveKey(no string) string          { return CompositeKey(objCertLive, no) }
func voucherKey(id string) string           { return CompositeKey(objVoucher, id) }
func voucherByAgencyKey(agencyID, id string) string {
	return CompositeKey(objVoucherByAg, agencyID, id)
}
func paymentRefKey(ref string) string { return CompositeKey(objPaymentRef, ref) }
func policyKey(version int) string    { return CompositeKey(objPolicy, fmt.Sprintf("%06d", version)) }
func serviceKey(agencyID, enterpriseID, id string) string {
	return CompositeKey(objService, agencyID, enterpriseID, id)
}
func serviceRefKey(agencyID, enterpriseID, ref string) string {
	return CompositeKey(objServiceRef, agencyID, enterpriseID, ref)
}

// VoucherKey is the state key of a voucher, for callers that read its
// history directly.
func VoucherKey(id string) string { return voucherKey(id) }

// getJSON reads key into v; found is false when the key is absent.
func getJSON(ctx Context, key string, v any) (found bool, err error) {
	b, err := ctx.GetState(key)
	if err != nil {
		return false, fmt.Errorf("read %q: %w", key, err)
	}
	if len(b) == 0 {
		return false, nil
	}
	if err := unmarshalState(b, v); err != nil {
		return false, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

// putEncoded writes v as JSON under key and returns the bytes written, for
// the event that carries the value (eventRaw).
func putEncoded(ctx Context, key string, v any) ([]byte, error) {
	b, err := marshalJSON(v)
	if err != nil {
		return nil, fmt.Errorf("encode %q: %w", key, err)
	}
	if err := ctx.PutState(key, b); err != nil {
		return nil, fmt.Errorf("write %q: %w", key, err)
	}
	return b, nil
}

// keyTaken reports whether key, which the contract is about to create,
// exists already; a FreshKeyChecker may take the check over.
func keyTaken(ctx Context, key string) (bool, error) {
	if f, ok := ctx.(FreshKeyChecker); ok && f.DeferFreshCheck(key) {
		return false, nil
	}
	return exists(ctx, key)
}

func exists(ctx Context, key string) (bool, error) {
	b, err := ctx.GetState(key)
	if err != nil {
		return false, fmt.Errorf("read %q: %w", key, err)
	}
	return len(b) > 0, nil
}

// cst is China Standard Time, fixed so every endorser derives the same
// calendar date from a transaction timestamp.
var cst = time.FixedZone("CST", 8*3600)

// TimeLayout renders instants in UTC with a fixed width, so they sort as
// strings.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// txTime is the transaction's timestamp, the only clock the contract has.
type txTime struct {
	at   string // RFC 3339, UTC
	date string // the calendar date in Urumqi's official (Beijing) time
}

func nowOf(ctx Context) (txTime, error) {
	t, err := ctx.TxTimestamp()
	if err != nil {
		return txTime{}, fmt.Errorf("transaction timestamp: %w", err)
	}
	return txTime{at: formatInstant(t), date: formatDate(t.In(cst))}, nil
}

// formatInstant is t.UTC().Format(TimeLayout) and formatDate is
// t.Format(dateLayout), written digit by digit for years 0-9999 (the
// layouts are fixed-width; time.Format's layout walk was a few per cent of
// a replay). TestFormatInstantMatchesTime holds them to time.Format.
func formatInstant(t time.Time) string {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(TimeLayout)
	}
	h, mi, sec := t.Clock()
	var b [len("2006-01-02T15:04:05.000000000Z")]byte
	putDate(b[:], y, int(mo), d)
	b[10] = 'T'
	putDigits(b[11:13], h)
	b[13] = ':'
	putDigits(b[14:16], mi)
	b[16] = ':'
	putDigits(b[17:19], sec)
	b[19] = '.'
	putDigits(b[20:29], t.Nanosecond())
	b[29] = 'Z'
	return string(b[:])
}

func formatDate(t time.Time) string {
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(dateLayout)
	}
	var b [len(dateLayout)]byte
	putDate(b[:], y, int(mo), d)
	return string(b[:])
}

func putDate(b []byte, y, mo, d int) {
	putDigits(b[0:4], y)
	b[4] = '-'
	putDigits(b[5:7], mo)
	b[7] = '-'
	putDigits(b[8:10], d)
}

// putDigits writes v into b in decimal, zero-padded to len(b).
func putDigits(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// deriveID makes an id every endorser computes alike: a prefix and the
// first 16 hex digits of SHA-256 over a kind tag and the transaction id.
func deriveID(prefix, kind, txID string) string {
	sum := sha256.Sum256([]byte(kind + "|" + txID))
	return prefix + hex.EncodeToString(sum[:8])
}

func actorOf(id Identity) string {
	if id.MSPID == "" {
		return id.Name
	}
	return id.Name + "@" + id.MSPID
}

// emit sets the transaction's event, ev.
//
// raw holds the encodings of the event's members as the transaction wrote
// them to the state, which the event then carries as they are instead of
// encoding each again: the event is exactly the state written.
func emit(ctx Context, ev Event, raw eventRaw) error {
	b := ev.appendJSONRaw(make([]byte, 0, 1024), raw)
	if err := ctx.SetEvent(ev.Type, b); err != nil {
		return fmt.Errorf("set event: %w", err)
	}
	return nil
}
