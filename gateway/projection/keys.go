package projection

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// schemaVersion names the layout of buckets, keys and records. Open
// rebuilds (empties) a read model written with another version: it is
// derived data, replayed from the ledger.
const schemaVersion = "3"

// The buckets. Composite keys join their parts with a NUL byte, which no
// identifier of the contract contains (Apply refuses one that does), so
// they sort by their first part, then the next.
var (
	bucketMeta     = []byte("meta")     // checkpoint, head hash, schema
	bucketCounts   = []byte("counts")   // counter name → uint64
	bucketAgencies = []byte("agencies") // agency id → agency
	bucketCaps     = []byte("caps")     // agency id \0 period → cap usage
	bucketCerts    = []byte("certs")    // certificate no → certification
	bucketServices = []byte("services") // service record id → record
	bucketPolicies = []byte("policies") // uint64 BE version → policy
	// bucketVouchers is clustered by agency: agency id \0 voucher id →
	// voucher. It is the agency index and the order of ForEachVoucher.
	bucketVouchers = []byte("vouchers")
	// bucketByID answers Voucher(id) and VoucherHistory(id) with one read:
	// voucher id → agency id and history (one record, so a claim dirties
	// one page of it, not two).
	bucketByID     = []byte("voucher_refs")
	bucketByStatus = []byte("idx_status") // status \0 voucher id → agency id \0 period
	bucketByPeriod = []byte("idx_period") // period \0 voucher id → agency id \0 status
	allBuckets     = [][]byte{bucketMeta, bucketCounts, bucketAgencies, bucketCaps, bucketCerts, bucketServices, bucketPolicies, bucketVouchers, bucketByID, bucketByStatus, bucketByPeriod}
)

var (
	metaNext   = []byte("next")
	metaHash   = []byte("hash")
	metaSchema = []byte("schema")
)

// Counter names in bucketCounts.
const (
	countAgencies = "total\x00agencies"
	countCerts    = "total\x00certifications"
	countServices = "total\x00services"
	countVouchers = "total\x00vouchers"
	countByAgency = "agency\x00"
	countByStatus = "status\x00"
	countByPeriod = "period\x00"
)

// keySep separates the parts of a composite key.
const keySep = 0

// join builds a composite key.
func join(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			k = append(k, keySep)
		}
		k = append(k, p...)
	}
	return k
}

// prefix is a composite key's first part with its separator, for scans.
func prefix(part string) []byte { return append([]byte(part), keySep) }

// split2 splits a two-part composite key.
func split2(k []byte) (string, string, bool) {
	i := bytes.IndexByte(k, keySep)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

// versionKey keys a policy version (positive: Apply refuses others) so
// that versions sort numerically.
func versionKey(v int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(max(v, 0))) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// ErrBadCursor rejects a cursor this store did not hand out for the same
// listing. It is an INVALID_ARGUMENT rejection, so the gateway answers 400.
var ErrBadCursor = &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "malformed cursor"}

// maxCursorBytes bounds a cursor before it is decoded.
const maxCursorBytes = 1024

// Cursor kinds: the first byte of a decoded cursor names the key space its
// key belongs to, so a page continues on the index the first page chose
// even if the counts that chose it have changed since.
const (
	cursorAgencies  byte = 'g'
	cursorVouchers  byte = 'v' // bucketVouchers, whole or one agency
	cursorByStatus  byte = 's'
	cursorByPeriod  byte = 'p'
	cursorKeyMaxLen      = 512
)

func encodeCursor(kind byte, key []byte) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{kind}, key...))
}

// decodeCursor returns the key of a cursor of kind; "" decodes to nil.
func decodeCursor(cursor string) (kind byte, key []byte, err error) {
	if cursor == "" {
		return 0, nil, nil
	}
	if len(cursor) > maxCursorBytes {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrBadCursor, len(cursor))
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 2 || len(b)-1 > cursorKeyMaxLen {
		return 0, nil, fmt.Errorf("%w: not a cursor of this listing", ErrBadCursor)
	}
	return b[0], b[1:], nil
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// clampLimit applies the default and the bound of a page size.
func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultLimit
	case limit > MaxLimit:
		return MaxLimit
	}
	return limit
}
