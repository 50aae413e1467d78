package voucher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// memLedger is an in-memory ledger for unit tests: each invoke is one
// transaction whose writes apply only when the contract accepts it.
type memLedger struct {
	state   map[string][]byte
	history map[string][]HistoryEntry
	clock   time.Time
	txSeq   int
	events  []Event
}

func newMemLedger() *memLedger {
	return &memLedger{
		state:   map[string][]byte{},
		history: map[string][]HistoryEntry{},
		clock:   time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}
}

type memTx struct {
	l      *memLedger
	caller Identity
	txID   string
	at     time.Time
	writes map[string][]byte // nil value: delete
	event  []byte
	evName string
}

func (t *memTx) GetState(key string) ([]byte, error) {
	if v, ok := t.writes[key]; ok {
		return v, nil
	}
	return t.l.state[key], nil
}

func (t *memTx) PutState(key string, value []byte) error {
	if len(value) == 0 {
		return fmt.Errorf("empty value for %q", key)
	}
	t.writes[key] = append([]byte(nil), value...)
	return nil
}

func (t *memTx) DelState(key string) error { t.writes[key] = nil; return nil }

func (t *memTx) GetStateByPartialCompositeKey(objectType string, attrs []string, startAfter string) (Iterator, error) {
	prefix := CompositeKey(objectType, attrs...)
	var kvs []KV
	for k, v := range t.l.state {
		if _, pending := t.writes[k]; pending {
			continue
		}
		if strings.HasPrefix(k, prefix) && k > startAfter {
			kvs = append(kvs, KV{k, v})
		}
	}
	for k, v := range t.writes {
		if v != nil && strings.HasPrefix(k, prefix) && k > startAfter {
			kvs = append(kvs, KV{k, v})
		}
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	return &sliceIter{kvs: kvs}, nil
}

func (t *memTx) GetHistoryForKey(key string) (HistoryIterator, error) {
	return &histIter{items: t.l.history[key]}, nil
}

func (t *memTx) TxID() string                    { return t.txID }
func (t *memTx) TxTimestamp() (time.Time, error) { return t.at, nil }
func (t *memTx) Caller() (Identity, error)       { return t.caller, nil }
func (t *memTx) SetEvent(name string, p []byte) error {
	t.evName, t.event = name, p
	return nil
}

type sliceIter struct {
	kvs []KV
	i   int
}

func (s *sliceIter) HasNext() bool     { return s.i < len(s.kvs) }
func (s *sliceIter) Next() (KV, error) { s.i++; return s.kvs[s.i-1], nil }
func (s *sliceIter) Close() error      { return nil }

type histIter struct {
	items []HistoryEntry
	i     int
}

func (h *histIter) HasNext() bool               { return h.i < len(h.items) }
func (h *histIter) Next() (HistoryEntry, error) { h.i++; return h.items[h.i-1], nil }
func (h *histIter) Close() error                { return nil }

// invoke runs one transaction as caller; on success its writes and event
// are committed, on failure nothing is.
func (l *memLedger) invoke(c *Contract, caller Identity, fn string, arg any) ([]byte, error) {
	var raw []byte
	switch a := arg.(type) {
	case []byte:
		raw = a
	case string:
		raw = []byte(a)
	default:
		var err error
		if raw, err = json.Marshal(arg); err != nil {
			panic(err)
		}
	}
	l.txSeq++
	l.clock = l.clock.Add(time.Second)
	tx := &memTx{l: l, caller: caller, txID: fmt.Sprintf("%064x", l.txSeq), at: l.clock, writes: map[string][]byte{}}
	out, err := c.Invoke(tx, fn, raw)
	if err != nil {
		return nil, err
	}
	if IsReadOnly(fn) {
		if len(tx.writes) > 0 || tx.event != nil {
			return nil, fmt.Errorf("read-only %s wrote state", fn)
		}
		return out, nil
	}
	keys := make([]string, 0, len(tx.writes))
	for k := range tx.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := tx.writes[k]
		if v == nil {
			delete(l.state, k)
		} else {
			l.state[k] = v
		}
		l.history[k] = append(l.history[k], HistoryEntry{TxID: tx.txID, Timestamp: tx.at, Value: v, IsDelete: v == nil})
	}
	if tx.event == nil {
		return nil, fmt.Errorf("%s emitted no event", fn)
	}
	var ev Event
	if err := json.Unmarshal(tx.event, &ev); err != nil || ev.Type != tx.evName {
		return nil, fmt.Errorf("%s emitted a bad event %q: %v", fn, tx.evName, err)
	}
	if err := eventCarriesWrites(tx.event, ev, tx.writes); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	l.events = append(l.events, ev)
	return out, nil
}

func must[T any](t testing.TB, l *memLedger, c *Contract, caller Identity, fn string, arg any) T {
	t.Helper()
	out, err := l.invoke(c, caller, fn, arg)
	if err != nil {
		t.Fatalf("%s as %s: %v", fn, caller.Name, err)
	}
	var v T
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s result: %v", fn, err)
	}
	return v
}

func wantCode(t testing.TB, err error, code Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := CodeOf(err); got != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// eventCarriesWrites checks that an event is encoding/json's encoding of
// itself and that each state value it carries is, byte for byte, the value
// its transaction wrote (emit's eventRaw).
func eventCarriesWrites(raw []byte, ev Event, writes map[string][]byte) error {
	if again, err := json.Marshal(ev); err != nil || !bytes.Equal(again, raw) {
		return fmt.Errorf("event %s is not its own encoding: %s", ev.Type, raw)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return err
	}
	carried := map[string]string{}
	if ev.Agency != nil {
		carried["agency"] = agencyKey(ev.Agency.ID)
	}
	if ev.Certification != nil {
		carried["certification"] = certKey(ev.Certification.CertificateNo)
	}
	if ev.Service != nil {
		carried["service"] = serviceKey(ev.Service.AgencyID, ev.Service.EnterpriseID, ev.Service.ID)
	}
	if ev.Voucher != nil {
		carried["voucher"] = voucherKey(ev.Voucher.ID)
	}
	if ev.Cap != nil {
		carried["cap"] = capKey(ev.Cap.AgencyID, ev.Cap.Period)
	}
	if ev.Policy != nil {
		carried["policy"] = policyKey(ev.Policy.Version)
	}
	for member, key := range carried {
		if !bytes.Equal(members[member], writes[key]) {
			return fmt.Errorf("event %s carries %s %s, the transaction wrote %s", ev.Type, member, members[member], writes[key])
		}
	}
	return nil
}
