package projection

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// TestIndexesAndCountersMatchTheRecords applies random voucher events
// (issues, moves between statuses, periods and agencies, repeated states)
// in random batches, and checks that every secondary index entry and every
// counter is exactly what a recount of the stored vouchers gives, with no
// zero counter left behind. Writes inside one transaction are buffered, so
// the batching must not change the outcome.
func TestIndexesAndCountersMatchTheRecords(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s, _ := openTemp(t)
		c := newChain(t)
		ids := []string{"V-2024-0000000000000001", "V-2024-0000000000000002", "V-2023-0000000000000003", "V-2024-0000000000000004"}
		statuses := []voucher.Status{voucher.StatusIssued, voucher.StatusRedemptionRequested, voucher.StatusReimbursed, voucher.StatusRejected, voucher.StatusRevoked}
		agencies := []string{agencyID(1), agencyID(2), agencyID(3)}
		periods := []string{"2023", "2024"}
		n := rapid.IntRange(1, 30).Draw(rt, "events")
		var evs []voucher.Event
		lastTx := map[string]string{}
		wantVoucher := map[string]voucher.Voucher{}
		wantHistory := map[string][]voucher.HistoryItem{}
		for i := range n {
			v := newVoucher(rapid.SampledFrom(ids).Draw(rt, "id"), rapid.SampledFrom(agencies).Draw(rt, "agency"), rapid.SampledFrom(periods).Draw(rt, "period"))
			v.Status = rapid.SampledFrom(statuses).Draw(rt, "status")
			ev := issueEvent(v, capUsage(v.AgencyID, v.Period, "5000.00", "95000.00", 1))
			ev.TxID, ev.At = fmt.Sprintf("tx-%d", i), at(i)
			// A transaction that writes the same voucher again adds no
			// second step, but its state still applies.
			if prev, ok := lastTx[v.ID]; ok && rapid.IntRange(0, 4).Draw(rt, "repeat tx") == 0 {
				ev.TxID = prev
			}
			if !slices.ContainsFunc(wantHistory[v.ID], func(it voucher.HistoryItem) bool { return it.TxID == ev.TxID }) {
				wantHistory[v.ID] = append(wantHistory[v.ID], voucher.HistoryItem{TxID: ev.TxID, At: ev.At, Action: v.LastAction, Actor: ev.Actor, Status: v.Status})
			}
			lastTx[v.ID], wantVoucher[v.ID] = ev.TxID, v
			evs = append(evs, ev)
		}
		for i := 0; i < len(evs); {
			k := rapid.IntRange(1, 4).Draw(rt, "txs per block")
			c.block(evs[i:min(i+k, len(evs))]...)
			i += k
		}
		blocks := c.blocks
		for len(blocks) > 0 {
			k := rapid.IntRange(1, len(blocks)).Draw(rt, "blocks per commit")
			if err := s.ApplyBlocks(blocks[:k]...); err != nil {
				rt.Fatal(err)
			}
			blocks = blocks[k:]
		}
		if err := checkIndexes(s); err != nil {
			rt.Fatal(err)
		}
		for _, id := range ids {
			got, ok, err := s.Voucher(id)
			if want, known := wantVoucher[id]; err != nil || ok != known || got != want {
				rt.Fatalf("Voucher(%s) = %+v %v %v, want %+v %v", id, got, ok, err, want, known)
			}
			h, err := s.VoucherHistory(id)
			if want := wantHistory[id]; err != nil || len(h) != len(want) || (len(h) > 0 && !reflect.DeepEqual(h, want)) {
				rt.Fatalf("VoucherHistory(%s) = %+v %v, want %+v", id, h, err, want)
			}
		}
	})
}

// checkIndexes compares the indexes and counters with a recount of the
// vouchers bucket.
func checkIndexes(s *Store) error {
	return s.db.View(func(tx *bolt.Tx) error {
		wantCounts := map[string]uint64{}
		wantByID, wantStatus, wantPeriod := map[string]string{}, map[string]string{}, map[string]string{}
		err := tx.Bucket(bucketVouchers).ForEach(func(k, val []byte) error {
			agency, id, ok := split2(k)
			if !ok {
				return fmt.Errorf("voucher key %q", k)
			}
			v, err := decodeVoucher(agency, id, val)
			if err != nil {
				return err
			}
			wantByID[id] = agency
			wantStatus[string(join(string(v.Status), id))] = string(join(agency, v.Period))
			wantPeriod[string(join(v.Period, id))] = string(join(agency, string(v.Status)))
			wantCounts[countVouchers]++
			wantCounts[countByAgency+agency]++
			wantCounts[countByStatus+string(v.Status)]++
			wantCounts[countByPeriod+v.Period]++
			return nil
		})
		if err != nil {
			return err
		}
		gotByID := map[string]string{}
		err = tx.Bucket(bucketByID).ForEach(func(k, v []byte) error {
			agency, err := voucherRefAgency(v)
			gotByID[string(k)] = agency
			return err
		})
		if err != nil {
			return err
		}
		if !maps.Equal(gotByID, wantByID) {
			return fmt.Errorf("voucher ids = %q, want %q", gotByID, wantByID)
		}
		for name, want := range map[string]map[string]string{"idx_status": wantStatus, "idx_period": wantPeriod} {
			if got := bucketStrings(tx.Bucket([]byte(name))); !maps.Equal(got, want) {
				return fmt.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		got := map[string]uint64{}
		err = tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("counter %q = %x", k, v)
			}
			got[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
		if err != nil {
			return err
		}
		if !maps.Equal(got, wantCounts) {
			return fmt.Errorf("counters = %v, want %v", got, wantCounts)
		}
		return nil
	})
}

func bucketStrings(b *bolt.Bucket) map[string]string {
	m := map[string]string{}
	_ = b.ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil })
	return m
}

// TestEventDecodingIsEncodingJSONs pins the event decoder to what
// encoding/json accepted and produced: names in any case, the last of
// duplicate names, invalid UTF-8 replaced, unknown members ignored, and
// errors for what it refused.
func TestEventDecodingIsEncodingJSONs(t *testing.T) {
	v := newVoucher("V-2024-00000000000000aa", agencyID(1), "2024")
	full := string(encodeEvent(t, issueEvent(v, capUsage(v.AgencyID, "2024", "5000.00", "95000.00", 1))))
	for _, raw := range []string{
		full,
		`{"TYPE":"VoucherIssued","Tx_ID":"t1","Voucher":{"ID":"V-1","Agency_ID":"A","Policy_Version":2}}`,
		`{"type":"A","type":"B","voucher":{"id":"V-1"},"voucher":{"id":"V-2"}}`,
		`{"type":"X","future":{"a":[1,2,{"b":null}]},"voucher":{"id":"V-1","later":true},"cap":{"live_count":3,"x":"y"}}`,
		"{\"type\":\"\xff\xfe\",\"actor\":\"a\xc3\"}",
		`{"type":"X","voucher":null,"cap":null,"at":null}`,
		`null`,
		`{}`,
		`{"voucher":{"policy_version":"1"}}`,
		`{"voucher":{"policy_version":1.5}}`,
		`{"type":1}`,
		`{"type":"X"} trailing`,
		`{"type":"X"`,
		`[]`,
		``,
	} {
		var want, got voucher.Event
		wantErr := json.Unmarshal([]byte(raw), &want)
		gotErr := decodeEvent([]byte(raw), &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%q: error %v, encoding/json's %v", raw, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: decoded %+v, encoding/json %+v", raw, got, want)
		}
	}
}
