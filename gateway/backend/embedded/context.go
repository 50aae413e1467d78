package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Limits on what one transaction may do, so a faulty contract call cannot
// grow a batch without bound.
const (
	maxKeyBytes   = 4 << 10
	maxValueBytes = 1 << 20
	maxTxWrites   = 10_000
	maxEventBytes = 1 << 20
)

// errReadOnly is returned by the write methods of an Evaluate context.
var errReadOnly = errors.New("read-only transaction: state and events cannot be written")

// write is one pending state write of a transaction.
type write struct {
	value    []byte
	isDelete bool
}

// stateView is the committed state a transaction reads beneath its own
// writes (versionView; an interface so the context can be tested alone).
type stateView interface {
	// get returns a copy of key's value, or nil when absent.
	get(key string) ([]byte, error)
	// scan walks the keys starting with prefix and greater than after, in
	// key order.
	scan(prefix, after []byte) (kvCursor, error)
	// history walks key's committed writes, oldest first.
	history(key []byte) (historyCursor, error)
}

// kvCursor yields state entries in key order; ok is false at the end.
type kvCursor interface {
	next() (key, value []byte, ok bool, err error)
}

// historyCursor yields a key's writes, oldest first; ok is false at the end.
type historyCursor interface {
	next() (e voucher.HistoryEntry, ok bool, err error)
}

// txContext is voucher.Context for one transaction: reads see the
// transaction's own writes first, then the view; writes stay in a private
// write set that the ledger applies only if the contract accepts the
// transaction, so a rejected transaction never leaves a partial write.
type txContext struct {
	view     stateView
	writable bool
	writes   map[string]write
	txID     string
	ts       time.Time
	caller   voucher.Identity

	eventName string
	event     []byte

	// fresh is set on Verify's replay, which defers the checks of fresh
	// keys (verifyfresh.go); deferred are those of this transaction, at
	// index in its block.
	fresh    *freshLog
	index    uint32
	deferred []string
}

var (
	_ voucher.Context         = (*txContext)(nil)
	_ voucher.FreshKeyChecker = (*txContext)(nil)
)

func newTxContext(view stateView, writable bool, txID string, ts time.Time, caller voucher.Identity) *txContext {
	c := &txContext{view: view, writable: writable, txID: txID, ts: ts, caller: caller}
	if writable {
		c.writes = make(map[string]write, 8)
	}
	return c
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("empty state key")
	}
	if len(key) > maxKeyBytes {
		return fmt.Errorf("state key of %d bytes is over the limit of %d", len(key), maxKeyBytes)
	}
	return nil
}

// GetState returns key's value as this transaction sees it, or nil.
func (c *txContext) GetState(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if w, ok := c.writes[key]; ok {
		if w.isDelete {
			return nil, nil
		}
		return bytes.Clone(w.value), nil
	}
	return c.view.get(key)
}

// DeferFreshCheck takes the check that key is absent over on Verify's
// replay, which checks it after the replay (verifyfresh.go); anywhere else
// the contract reads the key.
func (c *txContext) DeferFreshCheck(key string) bool {
	if !c.fresh.canDefer(key, c.index) || checkKey(key) != nil {
		return false
	}
	if _, own := c.writes[key]; own {
		return false
	}
	c.deferred = append(c.deferred, key)
	return true
}

// PutState records a write. An empty value is a delete, as on Fabric.
func (c *txContext) PutState(key string, value []byte) error {
	if len(value) == 0 {
		return c.DelState(key)
	}
	if len(value) > maxValueBytes {
		return fmt.Errorf("value of %d bytes for %q is over the limit of %d", len(value), key, maxValueBytes)
	}
	return c.put(key, write{value: bytes.Clone(value)})
}

// DelState records a delete.
func (c *txContext) DelState(key string) error {
	return c.put(key, write{isDelete: true})
}

func (c *txContext) put(key string, w write) error {
	if !c.writable {
		return errReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if _, ok := c.writes[key]; !ok && len(c.writes) >= maxTxWrites {
		return fmt.Errorf("transaction writes more than %d keys", maxTxWrites)
	}
	c.writes[key] = w
	return nil
}

// GetStateByPartialCompositeKey walks the keys with the composite prefix,
// after startAfter, merging this transaction's own writes (as they were when
// the scan started) into the committed state.
func (c *txContext) GetStateByPartialCompositeKey(objectType string, attrs []string, startAfter string) (voucher.Iterator, error) {
	if objectType == "" {
		return nil, errors.New("composite key scan needs an object type")
	}
	prefix := voucher.CompositeKey(objectType, attrs...)
	committed, err := c.view.scan([]byte(prefix), []byte(startAfter))
	if err != nil {
		return nil, err
	}
	var own []ownWrite
	for k, w := range c.writes {
		if strings.HasPrefix(k, prefix) && (startAfter == "" || k > startAfter) {
			own = append(own, ownWrite{key: k, w: w})
		}
	}
	sort.Slice(own, func(i, j int) bool { return own[i].key < own[j].key })
	return &mergeIterator{committed: committed, own: own}, nil
}

// GetHistoryForKey walks key's committed writes, oldest first. Like Fabric,
// it does not include this transaction's own pending writes.
func (c *txContext) GetHistoryForKey(key string) (voucher.HistoryIterator, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	hc, err := c.view.history([]byte(key))
	if err != nil {
		return nil, err
	}
	return &historyIterator{src: hc}, nil
}

// TxID is the ledger-assigned transaction id.
func (c *txContext) TxID() string { return c.txID }

// TxTimestamp is the time the ledger sequenced the transaction.
func (c *txContext) TxTimestamp() (time.Time, error) { return c.ts, nil }

// Caller is the gateway principal the transaction runs as.
func (c *txContext) Caller() (voucher.Identity, error) { return c.caller, nil }

// SetEvent records the transaction's event; a later call replaces an
// earlier one, as on Fabric.
func (c *txContext) SetEvent(name string, payload []byte) error {
	if !c.writable {
		return errReadOnly
	}
	if name == "" {
		return errors.New("event name is empty")
	}
	if len(payload) > maxEventBytes {
		return fmt.Errorf("event payload of %d bytes is over the limit of %d", len(payload), maxEventBytes)
	}
	c.eventName = name
	c.event = bytes.Clone(payload)
	return nil
}

// sortedWrites returns the write set in key order, the order in which it is
// applied, hashed and recorded in history.
func (c *txContext) sortedWrites() []ownWrite {
	out := make([]ownWrite, 0, len(c.writes))
	for k, w := range c.writes {
		out = append(out, ownWrite{key: k, w: w})
	}
	slices.SortFunc(out, func(a, b ownWrite) int { return strings.Compare(a.key, b.key) })
	return out
}

type ownWrite struct {
	key string
	w   write
}

// mergeIterator merges a transaction's own writes into a committed scan; an
// own write hides the committed entry of the same key, an own delete hides
// it altogether.
type mergeIterator struct {
	committed kvCursor
	own       []ownWrite

	cKey, cVal []byte
	cHave      bool // cKey/cVal hold an unconsumed committed entry
	cDone      bool

	peeked  bool
	nextKV  voucher.KV
	nextErr error
	end     bool
}

func (it *mergeIterator) fill() {
	if it.peeked {
		return
	}
	it.peeked = true
	for {
		if !it.cHave && !it.cDone {
			k, v, ok, err := it.committed.next()
			if err != nil {
				it.nextErr = err
				return
			}
			if ok {
				it.cKey, it.cVal, it.cHave = k, v, true
			} else {
				it.cDone = true
			}
		}
		switch {
		case len(it.own) > 0 && (!it.cHave || it.own[0].key <= string(it.cKey)):
			o := it.own[0]
			it.own = it.own[1:]
			if it.cHave && o.key == string(it.cKey) {
				it.cHave = false
			}
			if o.w.isDelete {
				continue
			}
			it.nextKV = voucher.KV{Key: o.key, Value: bytes.Clone(o.w.value)}
			return
		case it.cHave:
			it.cHave = false
			it.nextKV = voucher.KV{Key: string(it.cKey), Value: it.cVal}
			return
		default:
			it.end = true
			return
		}
	}
}

func (it *mergeIterator) HasNext() bool {
	it.fill()
	return it.nextErr != nil || !it.end
}

func (it *mergeIterator) Next() (voucher.KV, error) {
	it.fill()
	if it.nextErr != nil {
		return voucher.KV{}, it.nextErr
	}
	if it.end {
		return voucher.KV{}, errors.New("iterator exhausted")
	}
	it.peeked = false
	return it.nextKV, nil
}

func (it *mergeIterator) Close() error { return nil }

type historyIterator struct {
	src     historyCursor
	peeked  bool
	next    voucher.HistoryEntry
	nextErr error
	end     bool
}

func (it *historyIterator) fill() {
	if it.peeked {
		return
	}
	it.peeked = true
	e, ok, err := it.src.next()
	switch {
	case err != nil:
		it.nextErr = err
	case !ok:
		it.end = true
	default:
		it.next = e
	}
}

func (it *historyIterator) HasNext() bool {
	it.fill()
	return it.nextErr != nil || !it.end
}

func (it *historyIterator) Next() (voucher.HistoryEntry, error) {
	it.fill()
	if it.nextErr != nil {
		return voucher.HistoryEntry{}, it.nextErr
	}
	if it.end {
		return voucher.HistoryEntry{}, errors.New("iterator exhausted")
	}
	it.peeked = false
	return it.next, nil
}

func (it *historyIterator) Close() error { return nil }
