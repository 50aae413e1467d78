package projection

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Snapshot is a consistent read-only view for reports: all iteration
// happens inside one bbolt read transaction, streaming, never loading the
// whole ledger into memory. Values passed to the callbacks are the
// caller's to keep. An error returned by a callback stops the iteration
// and is returned as is.
type Snapshot interface {
	Head() (height uint64, hash string)
	ForEachAgency(fn func(voucher.Agency) error) error
	ForEachCap(fn func(voucher.CapUsage) error) error
	ForEachCertification(fn func(voucher.Certification) error) error
	ForEachServiceRecord(fn func(voucher.ServiceRecord) error) error
	// ForEachVoucher visits vouchers grouped by agency id, then by id.
	ForEachVoucher(fn func(voucher.Voucher) error) error
	Policies() ([]voucher.Policy, error)
}

// Lookup is implemented by the Snapshot that View passes: point reads in
// the same transaction, so a report can join a voucher to its
// certification and service record without holding a map of either.
//
//	if l, ok := snap.(projection.Lookup); ok { c, found, err := l.Certification(v.CertificateNo) }
type Lookup interface {
	Agency(id string) (voucher.Agency, bool, error)
	Certification(no string) (voucher.Certification, bool, error)
	ServiceRecord(id string) (voucher.ServiceRecord, bool, error)
	Voucher(id string) (voucher.Voucher, bool, error)
}

// snapshot reads one bbolt transaction.
type snapshot struct {
	tx      *bolt.Tx
	visited int
}

// forEach streams a bucket, releasing the memory map's pages from the
// process's RSS every releaseEveryRecords records (see releaseMapped).
func (s *snapshot) forEach(bucket []byte, fn func(k, v []byte) error) error {
	return s.tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		if s.visited++; s.visited%releaseEveryRecords == 0 {
			releaseMapped(s.tx)
		}
		return fn(k, v)
	})
}

var (
	_ Snapshot = (*snapshot)(nil)
	_ Lookup   = (*snapshot)(nil)
)

func (s *snapshot) Head() (height uint64, hash string) { return readCheckpoint(s.tx) }

func (s *snapshot) Policies() ([]voucher.Policy, error) { return policies(s.tx) }

func (s *snapshot) ForEachAgency(fn func(voucher.Agency) error) error {
	return s.forEach(bucketAgencies, func(k, v []byte) error {
		a, err := decodeAgency(string(k), v)
		if err != nil {
			return fmt.Errorf("agency %s: %w", k, err)
		}
		return fn(a)
	})
}

func (s *snapshot) ForEachCap(fn func(voucher.CapUsage) error) error {
	return s.forEach(bucketCaps, func(k, v []byte) error {
		agencyID, period, ok := split2(k)
		if !ok {
			return fmt.Errorf("cap key %q: %w", k, errCorrupt)
		}
		c, err := decodeCap(agencyID, period, v)
		if err != nil {
			return fmt.Errorf("cap %q: %w", k, err)
		}
		return fn(c)
	})
}

func (s *snapshot) ForEachCertification(fn func(voucher.Certification) error) error {
	return s.forEach(bucketCerts, func(k, v []byte) error {
		c, err := decodeCertification(string(k), v)
		if err != nil {
			return fmt.Errorf("certification %s: %w", k, err)
		}
		return fn(c)
	})
}

func (s *snapshot) ForEachServiceRecord(fn func(voucher.ServiceRecord) error) error {
	return s.forEach(bucketServices, func(k, v []byte) error {
		r, err := decodeService(string(k), v)
		if err != nil {
			return fmt.Errorf("service record %s: %w", k, err)
		}
		return fn(r)
	})
}

// ForEachVoucher walks the agency-clustered voucher bucket in key order:
// one sequential pass over the file, no per-voucher index lookup.
func (s *snapshot) ForEachVoucher(fn func(voucher.Voucher) error) error {
	return s.forEach(bucketVouchers, func(k, v []byte) error {
		agencyID, id, ok := split2(k)
		if !ok {
			return fmt.Errorf("voucher key %q: %w", k, errCorrupt)
		}
		vch, err := decodeVoucher(agencyID, id, v)
		if err != nil {
			return fmt.Errorf("voucher %s: %w", id, err)
		}
		return fn(vch)
	})
}

func (s *snapshot) Agency(id string) (voucher.Agency, bool, error) {
	val := s.tx.Bucket(bucketAgencies).Get([]byte(id))
	if val == nil || id == "" {
		return voucher.Agency{}, false, nil
	}
	a, err := decodeAgency(id, val)
	if err != nil {
		return a, false, fmt.Errorf("agency %s: %w", id, err)
	}
	return a, true, nil
}

func (s *snapshot) Certification(no string) (voucher.Certification, bool, error) {
	val := s.tx.Bucket(bucketCerts).Get([]byte(no))
	if val == nil || no == "" {
		return voucher.Certification{}, false, nil
	}
	c, err := decodeCertification(no, val)
	if err != nil {
		return c, false, fmt.Errorf("certification %s: %w", no, err)
	}
	return c, true, nil
}

func (s *snapshot) ServiceRecord(id string) (voucher.ServiceRecord, bool, error) {
	val := s.tx.Bucket(bucketServices).Get([]byte(id))
	if val == nil || id == "" {
		return voucher.ServiceRecord{}, false, nil
	}
	r, err := decodeService(id, val)
	if err != nil {
		return r, false, fmt.Errorf("service record %s: %w", id, err)
	}
	return r, true, nil
}

func (s *snapshot) Voucher(id string) (voucher.Voucher, bool, error) {
	if id == "" {
		return voucher.Voucher{}, false, nil
	}
	ref := s.tx.Bucket(bucketByID).Get([]byte(id))
	if ref == nil {
		return voucher.Voucher{}, false, nil
	}
	agencyID, err := voucherRefAgency(ref)
	if err != nil {
		return voucher.Voucher{}, false, fmt.Errorf("voucher %s: id record: %w", id, err)
	}
	val := s.tx.Bucket(bucketVouchers).Get(join(agencyID, id))
	if val == nil {
		return voucher.Voucher{}, false, fmt.Errorf("voucher %s: id index names a missing record: %w", id, errCorrupt)
	}
	v, err := decodeVoucher(agencyID, id, val)
	if err != nil {
		return v, false, fmt.Errorf("voucher %s: %w", id, err)
	}
	return v, true, nil
}
