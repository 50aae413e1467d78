package embedded

import (
	"hash/maphash"
	"math"
)

// maxPosition is after every transaction's position.
var maxPosition = position{Block: math.MaxUint64, Index: math.MaxUint32}

// A versionMemo remembers, for state keys a treeReader's point reads found,
// the version found and the span of positions it is the newest version for:
// after the found version's position (or from the start, when the key had
// none) up to and including the position of the key's next version, which
// the same seek lands on. A later read of the key at a position in that span
// has the same answer, without a seek. Verify's replay also records its own
// writes (replayBlock): it reads the policy, an agency's record and cap
// usage, a certificate many times between or just after their writes.
//
// It is direct-mapped: memoSlots slots, a key's hash picks its slot, and a
// new entry replaces the slot's old one. Slots keep their buffers, so a
// memo that has warmed up allocates nothing. Its entries are valid while the
// tree they were read from is, so it is cleared with the page cache.
type versionMemo struct {
	slots []memoSlot
	seed  maphash.Seed
	gen   uint64 // slots of another generation are empty
}

type memoSlot struct {
	gen   uint64
	key   []byte
	value []byte   // valid if hasValue
	from  position // the found version's position
	until position // the key's next version, maxPosition for none
	// absent: no version before the read, so the span starts at the
	// beginning. hasValue: the version is not a delete.
	absent, hasValue bool
}

const (
	memoSlots = 1 << 13
	// maxMemoValueBytes bounds the values kept, and so a slot's buffer.
	maxMemoValueBytes = 2 << 10
)

func (m *versionMemo) slot(key string) *memoSlot {
	if m.slots == nil {
		m.slots = make([]memoSlot, memoSlots)
		m.seed = maphash.MakeSeed()
		m.gen = 1
	}
	return &m.slots[maphash.String(m.seed, key)&(memoSlots-1)]
}

// get returns the newest version of key before pos, if the memo knows it.
func (m *versionMemo) get(key string, pos position) ([]byte, bool) {
	s := m.slot(key)
	if s.gen != m.gen || string(s.key) != key {
		return nil, false
	}
	if (!s.absent && !s.from.less(pos)) || s.until.less(pos) {
		return nil, false
	}
	if !s.hasValue {
		return nil, true
	}
	return s.value, true
}

// put records that value, found at position from (or nothing, when absent),
// is the newest version of key for positions up to until.
func (m *versionMemo) put(key string, from, until position, value []byte, absent bool) {
	s := m.slot(key)
	if len(value) > maxMemoValueBytes {
		s.gen = 0
		return
	}
	s.gen, s.from, s.until, s.absent, s.hasValue = m.gen, from, until, absent, value != nil
	s.key = append(s.key[:0], key...)
	s.value = append(s.value[:0], value...)
}

// own records the replay's own write of key at pos as the newest version of
// key up to until, if the memo holds key: a key read before is likely read
// again (cap usage, a certificate just recorded), one only written is not
// (a voucher's index entries), and its value would only take the buffer.
func (m *versionMemo) own(key string, pos, until position, value []byte, isDelete bool) {
	if s := m.slot(key); s.gen != m.gen || string(s.key) != key {
		return
	}
	if isDelete {
		value = nil
	}
	m.put(key, pos, until, value, false)
}

// reset empties the memo.
func (m *versionMemo) reset() { m.gen++ }
