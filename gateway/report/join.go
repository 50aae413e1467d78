package report

import (
	"cmp"
	"hash/maphash"
	"slices"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// joinTable is what the voucher checks need of every certification (or
// service record), 16 bytes a record: the hash of its key, when it was
// recorded (seconds since 2000), and a hash of whom it belongs to. It is
// built by one sequential pass over the bucket, which is several times
// cheaper than a B+tree descent per voucher and keeps the memory map's
// pages out of the RSS, and it is only a filter: whenever a check fails
// (or the table cannot tell) the report confirms with a point read of the
// real record, so a hash collision never produces a false exception.
type joinTable struct {
	seed    maphash.Seed
	entries []joinEntry
	// starts[p] is the first entry whose key's top 16 bits are p, so a
	// search touches one small run of the table instead of halving all
	// of it (each halving a cache miss).
	starts []int
}

type joinEntry struct {
	key uint64
	at  uint32 // seconds since epoch2000; 0 when unreadable
	who uint32
}

// epoch2000 keeps recording instants in 32 bits until 2136.
var epoch2000 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func newJoinTable(seed maphash.Seed) *joinTable {
	return &joinTable{seed: seed, entries: make([]joinEntry, 0, 1024)}
}

func (t *joinTable) add(key string, recordedAt string, who string) {
	var at uint32
	if ts, ok := parseInstant(recordedAt); ok {
		if s := ts.Unix() - epoch2000; s > 0 && s < 1<<32 {
			at = uint32(s)
		}
	}
	t.entries = append(t.entries, joinEntry{key: maphash.String(t.seed, key), at: at, who: t.whoHash(who)})
}

// seal sorts the table for find and indexes it by key prefix.
func (t *joinTable) seal() {
	slices.SortFunc(t.entries, func(a, b joinEntry) int { return cmp.Compare(a.key, b.key) })
	t.starts = make([]int, 1<<16+1)
	p := 0
	for i, e := range t.entries {
		for top := int(e.key >> 48); p <= top; p++ {
			t.starts[p] = i
		}
	}
	for ; p <= 1<<16; p++ {
		t.starts[p] = len(t.entries)
	}
}

// find returns the entry of key; ok is false when no record has its hash,
// unique is false when several do (the caller must read the record).
func (t *joinTable) find(key string) (e joinEntry, ok, unique bool) {
	h := maphash.String(t.seed, key)
	lo, hi := t.starts[h>>48], t.starts[h>>48+1]
	run := t.entries[lo:hi]
	i, found := slices.BinarySearchFunc(run, h, func(e joinEntry, h uint64) int { return cmp.Compare(e.key, h) })
	if !found {
		return joinEntry{}, false, true
	}
	unique = i+1 == len(run) || run[i+1].key != h
	return run[i], true, unique
}

// whoHash is a 32-bit hash of an owner: a filter, confirmed on a mismatch.
func (t *joinTable) whoHash(s string) uint32 {
	return uint32(maphash.String(t.seed, s) >> 32) //nolint:gosec // deliberately the top 32 bits
}

// joins are the certification and service record tables of one report.
type joins struct {
	certs, services *joinTable
}

// buildCertTable reads every certification once.
func buildCertTable(snap projection.Snapshot, seed maphash.Seed) (*joinTable, error) {
	t := newJoinTable(seed)
	err := snap.ForEachCertification(func(c voucher.Certification) error {
		t.add(c.CertificateNo, c.RecordedAt, c.EnterpriseID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.seal()
	return t, nil
}

// buildServiceTable reads every service record once.
func buildServiceTable(snap projection.Snapshot, seed maphash.Seed) (*joinTable, error) {
	t := newJoinTable(seed)
	err := snap.ForEachServiceRecord(func(r voucher.ServiceRecord) error {
		t.add(r.ID, r.RecordedAt, r.AgencyID+"\x00"+r.EnterpriseID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.seal()
	return t, nil
}

// suspect reports whether a voucher's links may be wrong: a record
// missing, owned by someone else, a service record filed after the
// certification, or anything the tables cannot tell. Only suspects are
// checked against the real records.
func (j *joins) suspect(v *voucher.Voucher) bool {
	c, cok, cuniq := j.certs.find(v.CertificateNo)
	s, sok, suniq := j.services.find(v.ServiceRecordID)
	switch {
	case !cok || !sok || !cuniq || !suniq:
		return true
	case c.who != j.certs.whoHash(v.EnterpriseID):
		return true
	case s.who != j.services.whoHash(v.AgencyID+"\x00"+v.EnterpriseID):
		return true
	case c.at == 0 || s.at == 0:
		return true
	}
	// Same second: only the full instants can tell.
	return s.at >= c.at
}

// parseInstant reads an RFC 3339 instant. The contract's instants are UTC
// with a fixed layout (voucher.TimeLayout), read here without the general
// parser, which a report would otherwise call three million times.
func parseInstant(s string) (time.Time, bool) {
	if n := len(s); n >= 20 && s[n-1] == 'Z' && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' {
		num := func(i, j int) (int, bool) {
			v := 0
			for k := i; k < j; k++ {
				c := s[k]
				if c < '0' || c > '9' {
					return 0, false
				}
				v = v*10 + int(c-'0')
			}
			return v, true
		}
		y, ok1 := num(0, 4)
		mo, ok2 := num(5, 7)
		d, ok3 := num(8, 10)
		h, ok4 := num(11, 13)
		mi, ok5 := num(14, 16)
		se, ok6 := num(17, 19)
		nsec, ok7 := 0, true
		if n > 20 {
			if s[19] != '.' || n-21 > 9 || n-21 < 1 {
				ok7 = false
			} else if nsec, ok7 = num(20, n-1); ok7 {
				for k := n - 21; k < 9; k++ {
					nsec *= 10
				}
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && se < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, se, nsec, time.UTC)
			if t.Day() == d { // not normalised from an impossible date
				return t, true
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
