package projection

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// maxScan bounds the index entries one listing call examines. A page of a
// sparse filter combination may then hold fewer than limit items while
// NextCursor is set; following the cursor still visits every match. A
// variable only so that a test can lower it.
var maxScan = 100_000

func invalidArg(format string, args ...any) error {
	return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// Policy is the newest policy version (the contract's default before any
// SetPolicy).
func (s *Store) Policy() (p voucher.Policy, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		all, err := s.policiesOf(tx)
		if err == nil {
			p = all[len(all)-1]
		}
		return err
	})
	return p, err
}

// PolicyFor is the policy version that judges a certificate issued on date
// (YYYY-MM-DD): the newest version whose window contains it. ok is false
// when no version's window does.
func (s *Store) PolicyFor(issuedOn string) (p voucher.Policy, ok bool, err error) {
	if _, err := time.Parse(time.DateOnly, issuedOn); err != nil {
		return p, false, invalidArg("date %q is not YYYY-MM-DD", issuedOn)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		all, err := s.policiesOf(tx)
		if err != nil {
			return err
		}
		p, ok = policyCovering(all, issuedOn)
		return nil
	})
	return p, ok, err
}

// policyCovering is the newest version whose window contains date.
func policyCovering(all []voucher.Policy, date string) (voucher.Policy, bool) {
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Covers(date) {
			return all[i], true
		}
	}
	return voucher.Policy{}, false
}

// policies lists every version, oldest first: the stored ones, and
// voucher.DefaultPolicy as version 1 unless a version 1 is stored (the
// contract never stores it; SetPolicy starts at 2). Never empty.
func policies(tx *bolt.Tx) ([]voucher.Policy, error) {
	var out []voucher.Policy
	err := tx.Bucket(bucketPolicies).ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("policy key %x: %w", k, errCorrupt)
		}
		version := binary.BigEndian.Uint64(k)
		if version > math.MaxInt32 {
			return fmt.Errorf("policy key %x: %w", k, errCorrupt)
		}
		p, err := decodePolicy(int(version), v)
		if err != nil {
			return fmt.Errorf("policy %x: %w", k, err)
		}
		out = append(out, p)
		return nil
	})
	if len(out) == 0 || out[0].Version != 1 {
		out = append([]voucher.Policy{voucher.DefaultPolicy()}, out...)
	}
	return out, err
}

// policyForPeriod is the policy whose cap applies to a period: for a year,
// the newest version whose window overlaps it; otherwise (the programme
// period) the newest version.
func policyForPeriod(all []voucher.Policy, period string) voucher.Policy {
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

// Agency returns one agency with its caps (sorted by period); ok is false
// when unknown.
func (s *Store) Agency(id string) (v voucher.AgencyView, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		val := tx.Bucket(bucketAgencies).Get([]byte(id))
		if val == nil || id == "" {
			return nil
		}
		v, err = agencyView(tx, []byte(id), val)
		ok = err == nil
		return err
	})
	return v, ok, err
}

func agencyView(tx *bolt.Tx, id, val []byte) (voucher.AgencyView, error) {
	a, err := decodeAgency(string(id), val)
	if err != nil {
		return voucher.AgencyView{}, fmt.Errorf("agency %s: %w", id, err)
	}
	v := voucher.AgencyView{Agency: a, Caps: []voucher.CapUsage{}}
	p := prefix(a.ID)
	c := tx.Bucket(bucketCaps).Cursor()
	for k, cv := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, cv = c.Next() {
		cu, err := decodeCap(a.ID, string(k[len(p):]), cv)
		if err != nil {
			return v, fmt.Errorf("cap %q: %w", k, err)
		}
		v.Caps = append(v.Caps, cu)
	}
	return v, nil
}

// Agencies pages agencies by id (limit clamped to 1..MaxLimit, 0 means
// DefaultLimit). A cursor not from this listing is ErrBadCursor.
func (s *Store) Agencies(limit int, cursor string) (voucher.Page[voucher.AgencyView], error) {
	page := voucher.Page[voucher.AgencyView]{Items: []voucher.AgencyView{}}
	limit = clampLimit(limit)
	kind, after, err := decodeCursor(cursor)
	if err != nil {
		return page, err
	}
	if after != nil && kind != cursorAgencies {
		return page, fmt.Errorf("%w: not a cursor of the agency listing", ErrBadCursor)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAgencies).Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(page.Items) == limit {
				page.NextCursor = encodeCursor(cursorAgencies, []byte(page.Items[limit-1].ID))
				return nil
			}
			av, err := agencyView(tx, k, v)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, av)
		}
		return nil
	})
	return page, err
}

// Cap is an agency's usage in period. When the agency has no voucher there
// yet it is {the cap of the policy in force for the period, used 0.00,
// remaining = limit}.
func (s *Store) Cap(agencyID, period string) (cu voucher.CapUsage, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		cu, err = s.capIn(tx, nil, agencyID, period)
		return err
	})
	return cu, err
}

// capIn is Cap inside tx. all is the policy versions when the caller has
// them already (nil: read them only if the agency has no record there).
func (s *Store) capIn(tx *bolt.Tx, all []voucher.Policy, agencyID, period string) (voucher.CapUsage, error) {
	if val := tx.Bucket(bucketCaps).Get(join(agencyID, period)); val != nil {
		return decodeCap(agencyID, period, val)
	}
	if all == nil {
		var err error
		if all, err = s.policiesOf(tx); err != nil {
			return voucher.CapUsage{}, err
		}
	}
	limit := policyForPeriod(all, period).CapPerAgencyCNY
	return voucher.CapUsage{AgencyID: agencyID, Period: period, LimitCNY: limit, UsedCNY: "0.00", RemainingCNY: limit}, nil
}

// Certification returns one certificate; ok is false when unknown.
func (s *Store) Certification(no string) (c voucher.Certification, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c, ok, err = (&snapshot{tx: tx}).Certification(no)
		return err
	})
	return c, ok, err
}

// ServiceRecord returns one service record; ok is false when unknown.
func (s *Store) ServiceRecord(id string) (r voucher.ServiceRecord, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		r, ok, err = (&snapshot{tx: tx}).ServiceRecord(id)
		return err
	})
	return r, ok, err
}

// Voucher returns one voucher; ok is false when unknown.
func (s *Store) Voucher(id string) (v voucher.Voucher, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v, ok, err = (&snapshot{tx: tx}).Voucher(id)
		return err
	})
	return v, ok, err
}

// VoucherHistory lists a voucher's steps, oldest first; empty when the
// voucher is unknown.
func (s *Store) VoucherHistory(id string) ([]voucher.HistoryItem, error) {
	items := []voucher.HistoryItem{}
	err := s.db.View(func(tx *bolt.Tx) error {
		val := tx.Bucket(bucketByID).Get([]byte(id))
		if val == nil || id == "" {
			return nil
		}
		_, h, err := decodeVoucherRef(val)
		if err != nil {
			return fmt.Errorf("voucher %s history: %w", id, err)
		}
		items = h
		return nil
	})
	return items, err
}

// Vouchers pages the vouchers matching every filter of f (limit clamped to
// 1..MaxLimit, 0 means DefaultLimit). The first page scans the most
// selective index among the filters given (the one with the fewest
// vouchers) and filters the rest; the cursor names that index, so later
// pages stay on it. Order: by agency then id when the agency index (or no
// filter) is used, by id on the status and period indexes. A cursor not
// from this listing is ErrBadCursor; an unknown status is INVALID_ARGUMENT.
func (s *Store) Vouchers(f voucher.ListVouchersArgs) (voucher.Page[voucher.Voucher], error) {
	page := voucher.Page[voucher.Voucher]{Items: []voucher.Voucher{}}
	if f.Status != "" && !f.Status.Valid() {
		return page, invalidArg("unknown voucher status %q", f.Status)
	}
	limit := clampLimit(f.Limit)
	kind, after, err := decodeCursor(f.Cursor)
	if err != nil {
		return page, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if after == nil {
			kind = chooseIndex(tx.Bucket(bucketCounts), f)
		}
		sc, err := newScan(tx, kind, f)
		if err != nil {
			return err
		}
		if after != nil && !bytes.HasPrefix(after, sc.prefix) {
			return fmt.Errorf("%w: not a cursor of this listing", ErrBadCursor)
		}
		return sc.run(after, limit, &page)
	})
	return page, err
}

// chooseIndex picks the index with the fewest vouchers among the filters.
func chooseIndex(counts *bolt.Bucket, f voucher.ListVouchersArgs) byte {
	best, bestN := cursorVouchers, uint64(1<<64-1)
	consider := func(kind byte, counter string) {
		if n := counter64(counts, counter); n < bestN {
			best, bestN = kind, n
		}
	}
	if f.AgencyID != "" {
		consider(cursorVouchers, countByAgency+f.AgencyID)
	}
	if f.Status != "" {
		consider(cursorByStatus, countByStatus+string(f.Status))
	}
	if f.Period != "" {
		consider(cursorByPeriod, countByPeriod+f.Period)
	}
	return best
}

func counter64(counts *bolt.Bucket, name string) uint64 {
	if v := counts.Get([]byte(name)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// scan walks one index for Vouchers.
type scan struct {
	tx       *bolt.Tx
	kind     byte
	f        voucher.ListVouchersArgs
	vouchers *bolt.Bucket
	index    *bolt.Bucket
	prefix   []byte
}

func newScan(tx *bolt.Tx, kind byte, f voucher.ListVouchersArgs) (*scan, error) {
	sc := &scan{tx: tx, kind: kind, f: f, vouchers: tx.Bucket(bucketVouchers)}
	switch {
	case kind == cursorVouchers:
		sc.index = sc.vouchers
		if f.AgencyID != "" {
			sc.prefix = prefix(f.AgencyID)
		}
	case kind == cursorByStatus && f.Status != "":
		sc.index, sc.prefix = tx.Bucket(bucketByStatus), prefix(string(f.Status))
	case kind == cursorByPeriod && f.Period != "":
		sc.index, sc.prefix = tx.Bucket(bucketByPeriod), prefix(f.Period)
	default:
		return nil, fmt.Errorf("%w: not a cursor of this listing", ErrBadCursor)
	}
	return sc, nil
}

func (sc *scan) run(after []byte, limit int, page *voucher.Page[voucher.Voucher]) error {
	c := sc.index.Cursor()
	var k, v []byte
	if after != nil {
		if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
	} else {
		k, v = c.Seek(sc.prefix)
	}
	var lastKey []byte
	for scanned := 1; k != nil && bytes.HasPrefix(k, sc.prefix); k, v = c.Next() {
		vch, ok, err := sc.match(k, v)
		if err != nil {
			return err
		}
		if ok {
			if len(page.Items) == limit {
				page.NextCursor = encodeCursor(sc.kind, lastKey)
				return nil
			}
			page.Items = append(page.Items, vch)
			lastKey = k
		}
		if scanned++; scanned > maxScan {
			page.NextCursor = encodeCursor(sc.kind, k)
			return nil
		}
	}
	return nil
}

// match decodes the entry at k when it passes the filters.
func (sc *scan) match(k, v []byte) (voucher.Voucher, bool, error) {
	f := sc.f
	switch sc.kind {
	case cursorVouchers:
		agencyID, id, ok := split2(k)
		if !ok {
			return voucher.Voucher{}, false, fmt.Errorf("voucher key %q: %w", k, errCorrupt)
		}
		if f.Status != "" || f.Period != "" {
			status, period, err := voucherStatusPeriod(v)
			if err != nil {
				return voucher.Voucher{}, false, fmt.Errorf("voucher %s: %w", id, err)
			}
			if (f.Status != "" && status != f.Status) || (f.Period != "" && period != f.Period) {
				return voucher.Voucher{}, false, nil
			}
		}
		vch, err := decodeVoucher(agencyID, id, v)
		if err != nil {
			return vch, false, fmt.Errorf("voucher %s: %w", id, err)
		}
		return vch, true, nil
	default: // a secondary index: key filter \0 id, value agency \0 other
		_, id, ok1 := split2(k)
		agencyID, other, ok2 := split2(v)
		if !ok1 || !ok2 {
			return voucher.Voucher{}, false, fmt.Errorf("index entry %q: %w", k, errCorrupt)
		}
		if f.AgencyID != "" && agencyID != f.AgencyID {
			return voucher.Voucher{}, false, nil
		}
		if sc.kind == cursorByStatus && f.Period != "" && other != f.Period {
			return voucher.Voucher{}, false, nil
		}
		if sc.kind == cursorByPeriod && f.Status != "" && other != string(f.Status) {
			return voucher.Voucher{}, false, nil
		}
		val := sc.vouchers.Get(join(agencyID, id))
		if val == nil {
			return voucher.Voucher{}, false, fmt.Errorf("index entry %q names a missing voucher: %w", k, errCorrupt)
		}
		vch, err := decodeVoucher(agencyID, id, val)
		if err != nil {
			return vch, false, fmt.Errorf("voucher %s: %w", id, err)
		}
		return vch, true, nil
	}
}

// Stats are the read model's counts, kept as it applies blocks.
type Stats struct {
	Height           uint64                    `json:"height"`
	Agencies         uint64                    `json:"agencies"`
	Certifications   uint64                    `json:"certifications"`
	ServiceRecords   uint64                    `json:"service_records"`
	Vouchers         uint64                    `json:"vouchers"`
	VouchersByStatus map[voucher.Status]uint64 `json:"vouchers_by_status"`
}

// Stats returns the counts (a few key reads).
func (s *Store) Stats() (st Stats, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		counts := tx.Bucket(bucketCounts)
		st.Height, _ = readCheckpoint(tx)
		st.Agencies = counter64(counts, countAgencies)
		st.Certifications = counter64(counts, countCerts)
		st.ServiceRecords = counter64(counts, countServices)
		st.Vouchers = counter64(counts, countVouchers)
		st.VouchersByStatus = map[voucher.Status]uint64{}
		for _, status := range []voucher.Status{voucher.StatusIssued, voucher.StatusRedemptionRequested, voucher.StatusReimbursed, voucher.StatusRejected, voucher.StatusRevoked} {
			st.VouchersByStatus[status] = counter64(counts, countByStatus+string(status))
		}
		return nil
	})
	return st, err
}
