package projection

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// errBadEvent marks an event the read model cannot store. The contract
// never emits one; the block is refused rather than half applied, so the
// read model never silently drifts from the ledger.
var errBadEvent = errors.New("projection: bad event")

// eventJSON decodes events as encoding/json did before, only about three
// times faster: member names match case-insensitively, a duplicate name
// takes the last value, invalid UTF-8 becomes U+FFFD, and unknown members
// are ignored (go-json-experiment's default), so an event of a newer
// contract with an extra field still applies.
var eventJSON = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// decodeEvent decodes a transaction's event.
func decodeEvent(raw []byte, ev *voucher.Event) error {
	return jsonv2.Unmarshal(raw, ev, eventJSON)
}

// writer applies events inside one bbolt write transaction.
type writer struct {
	tx     *bolt.Tx
	events int
	// The buckets, each opened by bucket on first use.
	counts, agencies, caps, certs, services, policies *bolt.Bucket
	vouchers, byID, byStatus, byPeriod                *bolt.Bucket
	// policyChanged: a policy was put (and the policies bucket's
	// sequence advanced), so the Store's policy cache is out of date.
	policyChanged bool
	// counters holds every counter this transaction touched, written back
	// once by flush: a block of claims moves the same few totals many
	// times, and each bbolt put of them would dirty the same page again.
	counters map[string]counter
}

// counter is a counter's value as stored when first read, and now.
type counter struct{ stored, now uint64 }

func newWriter(tx *bolt.Tx) *writer {
	return &writer{tx: tx, counters: make(map[string]counter)}
}

// bucket opens a bucket on first use (into *slot): a commit of one claim
// needs six of the eleven, and opening one costs a root lookup and an
// allocation.
func (w *writer) bucket(slot **bolt.Bucket, name []byte) *bolt.Bucket {
	if *slot == nil {
		*slot = w.tx.Bucket(name)
	}
	return *slot
}

// block applies the events of a block's valid transactions, in order.
func (w *writer) block(blk *backend.Block) error {
	for i := range blk.Txs {
		t := &blk.Txs[i]
		if !t.Valid || len(t.Event) == 0 {
			continue
		}
		var ev voucher.Event
		if err := decodeEvent(t.Event, &ev); err != nil {
			return fmt.Errorf("%w: block %d tx %s: %w", errBadEvent, blk.Number, t.TxID, err)
		}
		if ev.TxID == "" {
			ev.TxID = t.TxID
		}
		// The map cannot move before this transaction commits, and the
		// pages it reads are not rewritten until then: safe to release.
		if w.events++; w.events%releaseEveryEvents == 0 {
			releaseMapped(w.tx)
		}
		if err := w.event(&ev); err != nil {
			return fmt.Errorf("block %d tx %s: %w", blk.Number, t.TxID, err)
		}
	}
	return nil
}

// event upserts every new state the event carries.
func (w *writer) event(ev *voucher.Event) error {
	if a := ev.Agency; a != nil {
		if err := checkIDs("agency", a.ID); err != nil {
			return err
		}
		if err := w.put(w.bucket(&w.agencies, bucketAgencies), []byte(a.ID), encodeAgency(nil, a), countAgencies); err != nil {
			return err
		}
	}
	if c := ev.Certification; c != nil {
		if err := checkIDs("certification", c.CertificateNo); err != nil {
			return err
		}
		if err := w.put(w.bucket(&w.certs, bucketCerts), []byte(c.CertificateNo), encodeCertification(nil, c), countCerts); err != nil {
			return err
		}
	}
	if r := ev.Service; r != nil {
		if err := checkIDs("service record", r.ID); err != nil {
			return err
		}
		if err := w.put(w.bucket(&w.services, bucketServices), []byte(r.ID), encodeService(nil, r), countServices); err != nil {
			return err
		}
	}
	if c := ev.Cap; c != nil {
		if err := checkIDs("cap", c.AgencyID); err != nil {
			return err
		}
		if containsNUL(c.Period) {
			return fmt.Errorf("%w: cap period %q", errBadEvent, c.Period)
		}
		if err := w.bucket(&w.caps, bucketCaps).Put(join(c.AgencyID, c.Period), encodeCap(nil, c)); err != nil {
			return err
		}
	}
	if p := ev.Policy; p != nil {
		if p.Version <= 0 {
			return fmt.Errorf("%w: policy version %d", errBadEvent, p.Version)
		}
		b := w.bucket(&w.policies, bucketPolicies)
		if err := b.Put(versionKey(p.Version), encodePolicy(nil, p)); err != nil {
			return err
		}
		// The sequence keys the policy cache (policycache.go).
		if err := b.SetSequence(b.Sequence() + 1); err != nil {
			return err
		}
		w.policyChanged = true
	}
	if v := ev.Voucher; v != nil {
		if err := checkIDs("voucher", v.ID, v.AgencyID); err != nil {
			return err
		}
		if containsNUL(string(v.Status), v.Period) {
			return fmt.Errorf("%w: voucher %q status or period", errBadEvent, v.ID)
		}
		// The contract's action name, as GetVoucherHistory reports it.
		action := v.LastAction
		if action == "" {
			action = ev.Type
		}
		step := voucher.HistoryItem{TxID: ev.TxID, At: ev.At, Action: action, Actor: ev.Actor, Status: v.Status}
		if err := w.voucher(v, step); err != nil {
			return err
		}
	}
	return nil
}

// checkIDs refuses identifiers that cannot be keys: empty, or holding the
// key separator.
func checkIDs(what string, ids ...string) error {
	for _, id := range ids {
		if id == "" || containsNUL(id) {
			return fmt.Errorf("%w: %s identifier %q", errBadEvent, what, id)
		}
	}
	return nil
}

// put upserts a record and counts it when it is new.
func (w *writer) put(b *bolt.Bucket, key, val []byte, counter string) error {
	if b.Get(key) == nil {
		w.count(counter, false)
	}
	return b.Put(key, val)
}

// voucher upserts a voucher, moves the index entries that changed and
// adds step to its history unless a step of the same transaction is
// already there.
func (w *writer) voucher(v *voucher.Voucher, step voucher.HistoryItem) error {
	w.bucket(&w.vouchers, bucketVouchers)
	w.bucket(&w.byID, bucketByID)
	w.bucket(&w.byStatus, bucketByStatus)
	w.bucket(&w.byPeriod, bucketByPeriod)
	id := []byte(v.ID)
	known, oldAgency, items := false, "", []voucher.HistoryItem(nil)
	if ref := w.byID.Get(id); ref != nil {
		var err error
		if oldAgency, items, err = decodeVoucherRef(ref); err != nil {
			return fmt.Errorf("voucher %s: stored id record: %w", v.ID, err)
		}
		known = true
	}
	reindex := true
	if !known {
		w.count(countVouchers, false)
	} else {
		var err error
		if reindex, err = w.unindex(v, oldAgency); err != nil {
			return err
		}
	}
	if err := w.vouchers.Put(join(v.AgencyID, v.ID), encodeVoucher(nil, v)); err != nil {
		return err
	}
	if reindex {
		if err := w.byStatus.Put(join(string(v.Status), v.ID), join(v.AgencyID, v.Period)); err != nil {
			return err
		}
		if err := w.byPeriod.Put(join(v.Period, v.ID), join(v.AgencyID, string(v.Status))); err != nil {
			return err
		}
		w.count(countByAgency+v.AgencyID, false)
		w.count(countByStatus+string(v.Status), false)
		w.count(countByPeriod+v.Period, false)
	}
	stepped := !slices.ContainsFunc(items, func(it voucher.HistoryItem) bool { return it.TxID == step.TxID })
	if stepped {
		if len(items) >= maxHistoryItems {
			return fmt.Errorf("%w: voucher %s has more than %d steps", errBadEvent, v.ID, maxHistoryItems)
		}
		items = append(items, step)
	}
	if known && !stepped && oldAgency == v.AgencyID {
		return nil // the id record would not change
	}
	return w.byID.Put(id, encodeVoucherRef(nil, v.AgencyID, items))
}

// unindex takes a known voucher's stored version out of the indexes and
// counts, as far as the new version v differs from it. It reports whether
// v's index entries and counts must be written: not when agency, status
// and period are all unchanged, for then every entry is already right.
func (w *writer) unindex(v *voucher.Voucher, oldAgency string) (reindex bool, err error) {
	oldKey := join(oldAgency, v.ID)
	val := w.vouchers.Get(oldKey)
	if val == nil {
		return true, nil
	}
	oldStatus, oldPeriod, err := voucherStatusPeriod(val)
	if err != nil {
		return false, fmt.Errorf("voucher %s: stored record: %w", v.ID, err)
	}
	if oldAgency == v.AgencyID && oldStatus == v.Status && oldPeriod == v.Period {
		return false, nil
	}
	if oldAgency != v.AgencyID {
		if err := w.vouchers.Delete(oldKey); err != nil {
			return false, err
		}
	}
	// An entry under an unchanged key is overwritten by the new one.
	if oldStatus != v.Status {
		if err := w.byStatus.Delete(join(string(oldStatus), v.ID)); err != nil {
			return false, err
		}
	}
	if oldPeriod != v.Period {
		if err := w.byPeriod.Delete(join(oldPeriod, v.ID)); err != nil {
			return false, err
		}
	}
	w.count(countByAgency+oldAgency, true)
	w.count(countByStatus+string(oldStatus), true)
	w.count(countByPeriod+oldPeriod, true)
	return true, nil
}

// count adds one to a counter, or takes one off when down (never below
// zero). The value is written by flush.
func (w *writer) count(name string, down bool) {
	c, ok := w.counters[name]
	if !ok {
		if v := w.bucket(&w.counts, bucketCounts).Get([]byte(name)); len(v) == 8 {
			c.stored = binary.BigEndian.Uint64(v)
		}
		c.now = c.stored
	}
	switch {
	case !down:
		c.now++
	case c.now > 0:
		c.now--
	}
	w.counters[name] = c
}

// flush writes the counters that changed; a counter at zero is deleted.
func (w *writer) flush() error {
	for name, c := range w.counters {
		if c.now == c.stored {
			continue
		}
		var err error
		if c.now == 0 {
			err = w.counts.Delete([]byte(name))
		} else {
			err = w.counts.Put([]byte(name), u64(c.now))
		}
		if err != nil {
			return err
		}
	}
	clear(w.counters)
	return nil
}
