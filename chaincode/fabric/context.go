package fabric

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// MaxHistoryEntries bounds how many versions of one key GetHistoryForKey
// reads. Fabric returns history newest first and the contract wants it
// oldest first, so the adapter must hold it all; a voucher has a handful of
// versions, so a key with more than this is refused rather than buffered.
const MaxHistoryEntries = 10_000

// stubContext is the voucher.Context of one Fabric transaction.
type stubContext struct {
	stub shim.ChaincodeStubInterface
}

var _ voucher.Context = stubContext{}

func newStubContext(stub shim.ChaincodeStubInterface) stubContext {
	return stubContext{stub: stub}
}

func (c stubContext) GetState(key string) ([]byte, error) { return c.stub.GetState(key) }

func (c stubContext) PutState(key string, value []byte) error { return c.stub.PutState(key, value) }

func (c stubContext) DelState(key string) error { return c.stub.DelState(key) }

func (c stubContext) TxID() string { return c.stub.GetTxID() }

// TxTimestamp is the client's proposal timestamp, the same on every endorser.
func (c stubContext) TxTimestamp() (time.Time, error) {
	ts, err := c.stub.GetTxTimestamp()
	if err != nil {
		return time.Time{}, fmt.Errorf("transaction timestamp: %w", err)
	}
	if ts == nil {
		return time.Time{}, errors.New("transaction timestamp: missing")
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, fmt.Errorf("transaction timestamp: %w", err)
	}
	return ts.AsTime().UTC(), nil
}

func (c stubContext) SetEvent(name string, payload []byte) error {
	return c.stub.SetEvent(name, payload)
}

func (c stubContext) Caller() (voucher.Identity, error) { return callerOf(c.stub) }

// GetStateByPartialCompositeKey uses the plain (unpaginated) iterator,
// because Fabric refuses paginated queries in transactions that write, and
// skips keys up to and including startAfter. The keys are Fabric composite
// keys, the same bytes voucher.CompositeKey builds.
func (c stubContext) GetStateByPartialCompositeKey(objectType string, attrs []string, startAfter string) (voucher.Iterator, error) {
	it, err := c.stub.GetStateByPartialCompositeKey(objectType, attrs)
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", objectType, err)
	}
	return &stateIterator{it: it, startAfter: startAfter}, nil
}

// GetHistoryForKey reads the key's history (newest first on Fabric 2.x) and
// hands it out oldest first.
func (c stubContext) GetHistoryForKey(key string) (voucher.HistoryIterator, error) {
	it, err := c.stub.GetHistoryForKey(key)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer it.Close()
	var entries []voucher.HistoryEntry
	for it.HasNext() {
		if len(entries) == MaxHistoryEntries {
			return nil, fmt.Errorf("history: key has more than %d versions", MaxHistoryEntries)
		}
		m, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		var at time.Time
		if ts := m.GetTimestamp(); ts != nil {
			at = ts.AsTime().UTC()
		}
		entries = append(entries, voucher.HistoryEntry{
			TxID:      m.GetTxId(),
			Timestamp: at,
			Value:     m.GetValue(),
			IsDelete:  m.GetIsDelete(),
		})
	}
	slices.Reverse(entries)
	return &historyIterator{entries: entries}, nil
}

// stateIterator adapts a shim iterator and skips keys <= startAfter.
type stateIterator struct {
	it         shim.StateQueryIteratorInterface
	startAfter string
	pending    *voucher.KV
	err        error
}

// advance fills pending with the next key after startAfter, or records the
// error that Next will report.
func (s *stateIterator) advance() {
	for s.pending == nil && s.err == nil && s.it.HasNext() {
		kv, err := s.it.Next()
		if err != nil {
			s.err = fmt.Errorf("scan: %w", err)
			return
		}
		if s.startAfter != "" && kv.GetKey() <= s.startAfter {
			continue
		}
		s.pending = &voucher.KV{Key: kv.GetKey(), Value: kv.GetValue()}
	}
}

func (s *stateIterator) HasNext() bool {
	s.advance()
	return s.pending != nil || s.err != nil
}

func (s *stateIterator) Next() (voucher.KV, error) {
	s.advance()
	if s.err != nil {
		err := s.err
		s.err = nil
		return voucher.KV{}, err
	}
	if s.pending == nil {
		return voucher.KV{}, errors.New("scan: no more keys")
	}
	kv := *s.pending
	s.pending = nil
	return kv, nil
}

func (s *stateIterator) Close() error { return s.it.Close() }

// historyIterator walks buffered history entries.
type historyIterator struct {
	entries []voucher.HistoryEntry
	next    int
}

func (h *historyIterator) HasNext() bool { return h.next < len(h.entries) }

func (h *historyIterator) Next() (voucher.HistoryEntry, error) {
	if h.next >= len(h.entries) {
		return voucher.HistoryEntry{}, errors.New("history: no more entries")
	}
	e := h.entries[h.next]
	h.next++
	return e, nil
}

func (h *historyIterator) Close() error { return nil }
