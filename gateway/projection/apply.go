package projection

import (
	"encoding/binary"
	"errors"
	"fmt"

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
	tx                                                      *bolt.Tx
	events                                                  int
	meta, counts, agencies, caps, certs, services, policies *bolt.Bucket
	vouchers, byID, history, byStatus, byPeriod             *bolt.Bucket
	// counters holds every counter this transaction touched, written back
	// once by flush: a block of claims moves the same few totals many
	// times, and each bbolt put of them would dirty the same page again.
	counters map[string]counter
}

// counter is a counter's value as stored when first read, and now.
type counter struct{ stored, now uint64 }

func newWriter(tx *bolt.Tx) *writer {
	return &writer{
		tx:       tx,
		meta:     tx.Bucket(bucketMeta),
		counts:   tx.Bucket(bucketCounts),
		agencies: tx.Bucket(bucketAgencies),
		caps:     tx.Bucket(bucketCaps),
		certs:    tx.Bucket(bucketCerts),
		services: tx.Bucket(bucketServices),
		policies: tx.Bucket(bucketPolicies),
		vouchers: tx.Bucket(bucketVouchers),
		byID:     tx.Bucket(bucketByID),
		history:  tx.Bucket(bucketHistory),
		byStatus: tx.Bucket(bucketByStatus),
		byPeriod: tx.Bucket(bucketByPeriod),
		counters: make(map[string]counter),
	}
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
		if err := w.put(w.agencies, []byte(a.ID), encodeAgency(nil, a), countAgencies); err != nil {
			return err
		}
	}
	if c := ev.Certification; c != nil {
		if err := checkIDs("certification", c.CertificateNo); err != nil {
			return err
		}
		if err := w.put(w.certs, []byte(c.CertificateNo), encodeCertification(nil, c), countCerts); err != nil {
			return err
		}
	}
	if r := ev.Service; r != nil {
		if err := checkIDs("service record", r.ID); err != nil {
			return err
		}
		if err := w.put(w.services, []byte(r.ID), encodeService(nil, r), countServices); err != nil {
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
		if err := w.caps.Put(join(c.AgencyID, c.Period), encodeCap(nil, c)); err != nil {
			return err
		}
	}
	if p := ev.Policy; p != nil {
		if p.Version <= 0 {
			return fmt.Errorf("%w: policy version %d", errBadEvent, p.Version)
		}
		if err := w.policies.Put(versionKey(p.Version), encodePolicy(nil, p)); err != nil {
			return err
		}
	}
	if v := ev.Voucher; v != nil {
		if err := checkIDs("voucher", v.ID, v.AgencyID); err != nil {
			return err
		}
		if containsNUL(string(v.Status), v.Period) {
			return fmt.Errorf("%w: voucher %q status or period", errBadEvent, v.ID)
		}
		if err := w.voucher(v); err != nil {
			return err
		}
		// The contract's action name, as GetVoucherHistory reports it.
		action := v.LastAction
		if action == "" {
			action = ev.Type
		}
		step := voucher.HistoryItem{TxID: ev.TxID, At: ev.At, Action: action, Actor: ev.Actor, Status: v.Status}
		if err := w.appendHistory(v.ID, step); err != nil {
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

// voucher upserts a voucher and moves its index entries.
func (w *writer) voucher(v *voucher.Voucher) error {
	id := []byte(v.ID)
	if old := w.byID.Get(id); old != nil {
		oldAgency := string(old)
		oldKey := join(oldAgency, v.ID)
		if val := w.vouchers.Get(oldKey); val != nil {
			oldStatus, oldPeriod, err := voucherStatusPeriod(val)
			if err != nil {
				return fmt.Errorf("voucher %s: stored record: %w", v.ID, err)
			}
			if err := w.unindex(v.ID, oldAgency, oldStatus, oldPeriod); err != nil {
				return err
			}
			if oldAgency != v.AgencyID {
				if err := w.vouchers.Delete(oldKey); err != nil {
					return err
				}
			}
		}
	} else {
		w.count(countVouchers, false)
	}
	if err := w.vouchers.Put(join(v.AgencyID, v.ID), encodeVoucher(nil, v)); err != nil {
		return err
	}
	if err := w.byID.Put(id, []byte(v.AgencyID)); err != nil {
		return err
	}
	if err := w.byStatus.Put(join(string(v.Status), v.ID), join(v.AgencyID, v.Period)); err != nil {
		return err
	}
	if err := w.byPeriod.Put(join(v.Period, v.ID), join(v.AgencyID, string(v.Status))); err != nil {
		return err
	}
	w.count(countByAgency+v.AgencyID, false)
	w.count(countByStatus+string(v.Status), false)
	w.count(countByPeriod+v.Period, false)
	return nil
}

// unindex removes a voucher's secondary index entries and counts.
func (w *writer) unindex(id, agencyID string, status voucher.Status, period string) error {
	if err := w.byStatus.Delete(join(string(status), id)); err != nil {
		return err
	}
	if err := w.byPeriod.Delete(join(period, id)); err != nil {
		return err
	}
	w.count(countByAgency+agencyID, true)
	w.count(countByStatus+string(status), true)
	w.count(countByPeriod+period, true)
	return nil
}

// appendHistory adds one step to a voucher's history unless a step of the
// same transaction is already there.
func (w *writer) appendHistory(id string, step voucher.HistoryItem) error {
	var items []voucher.HistoryItem
	if val := w.history.Get([]byte(id)); val != nil {
		var err error
		if items, err = decodeHistory(val); err != nil {
			return fmt.Errorf("voucher %s history: %w", id, err)
		}
	}
	for _, it := range items {
		if it.TxID == step.TxID {
			return nil
		}
	}
	if len(items) >= maxHistoryItems {
		return fmt.Errorf("%w: voucher %s has more than %d steps", errBadEvent, id, maxHistoryItems)
	}
	return w.history.Put([]byte(id), encodeHistory(nil, append(items, step)))
}

// count adds one to a counter, or takes one off when down (never below
// zero). The value is written by flush.
func (w *writer) count(name string, down bool) {
	c, ok := w.counters[name]
	if !ok {
		if v := w.counts.Get([]byte(name)); len(v) == 8 {
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
		var err error
		switch {
		case c.now == c.stored:
			continue
		case c.now == 0:
			err = w.counts.Delete([]byte(name))
		default:
			err = w.counts.Put([]byte(name), u64(c.now))
		}
		if err != nil {
			return err
		}
	}
	clear(w.counters)
	return nil
}
