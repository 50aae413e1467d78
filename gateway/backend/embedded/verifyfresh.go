package embedded

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// The replay's deferred checks of fresh keys (ADR 0012). A claim asks
// whether its new voucher id is taken; on a replay that is a lookup of a
// random key, a leaf and a branch page read from the file, the costliest
// read of all. The replay answers "absent" at once instead, and checks it
// afterwards from what the replay itself wrote: the state before a
// transaction is what the replay wrote before it (the version sums hold the
// state to that), so a key was absent there unless the replay wrote it
// earlier. The replay logs every write of a key of the fresh types and every
// deferred check; sorted by key, a deferred check must come first among its
// key's entries. One that does not names its block, which is then replayed
// again with real reads: that decides, so a hash collision or a key deleted
// and made again only costs that second replay.

// maxFreshEntries bounds the log (16 bytes an entry). Past it, the replay
// stops deferring and every block that deferred a check replays again with
// real reads.
const maxFreshEntries = 4 << 20

// freshIndexLimit bounds the index a log entry holds: an entry packs the
// position and the deferred flag into one word, the block above bit 21, the
// index in bits 1-20. A transaction further into its block reads.
const freshIndexLimit = 1 << 20

type freshEntry struct {
	hash uint64
	pos  uint64 // block<<21 | index<<1 | deferred
}

func (e freshEntry) block() uint64  { return e.pos >> 21 }
func (e freshEntry) deferred() bool { return e.pos&1 == 1 }

// freshChecks is the log of one Verify, shared by its replay workers.
type freshChecks struct {
	seed     maphash.Seed
	prefixes []string
	count    atomic.Int64
	overflow atomic.Bool

	mu              sync.Mutex
	entries         []freshEntry
	deferringBlocks map[uint64]bool // blocks that deferred a check
}

func newFreshChecks() *freshChecks {
	f := &freshChecks{seed: maphash.MakeSeed(), deferringBlocks: map[uint64]bool{}}
	for _, t := range voucher.FreshKeyTypes() {
		f.prefixes = append(f.prefixes, voucher.CompositeKey(t))
	}
	return f
}

func (f *freshChecks) tracks(key string) bool {
	for _, p := range f.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// freshLog is one worker's part of the log for the block it replays.
type freshLog struct {
	f           *freshChecks
	entries     []freshEntry
	n           uint64 // the block
	hasDeferred bool   // the block deferred a check
}

// begin starts the log of block n.
func (l *freshLog) begin(n uint64) { l.n, l.entries, l.hasDeferred = n, l.entries[:0], false }

// canDefer reports whether the replay may defer the check of key at index.
func (l *freshLog) canDefer(key string, index uint32) bool {
	return l != nil && index < freshIndexLimit && !l.f.overflow.Load() && l.f.tracks(key)
}

// add logs the transaction at index: its writes of fresh-type keys and its
// deferred checks.
func (l *freshLog) add(index uint32, writes []ownWrite, deferred []string) {
	pos := l.n<<21 | uint64(index)<<1
	for _, w := range writes {
		if l.f.tracks(w.key) && !slices.Contains(deferred, w.key) {
			l.entries = append(l.entries, freshEntry{maphash.String(l.f.seed, w.key), pos})
		}
	}
	for _, k := range deferred {
		l.entries = append(l.entries, freshEntry{maphash.String(l.f.seed, k), pos | 1})
		l.hasDeferred = true
	}
}

// done hands the block's entries to the shared log.
func (l *freshLog) done() {
	f := l.f
	if f.count.Add(int64(len(l.entries))) > maxFreshEntries {
		f.overflow.Store(true)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.hasDeferred {
		f.deferringBlocks[l.n] = true
	}
	if f.overflow.Load() {
		f.entries = nil
	} else {
		f.entries = append(f.entries, l.entries...)
	}
}

// suspects returns, lowest first, the blocks to replay again with real
// reads: those with a deferred check that is not the first entry of its
// key, or every block that deferred one when the log overflowed.
func (f *freshChecks) suspects() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint64
	if f.overflow.Load() {
		for n := range f.deferringBlocks {
			out = append(out, n)
		}
	} else {
		slices.SortFunc(f.entries, func(a, b freshEntry) int {
			return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.pos, b.pos))
		})
		for i := 1; i < len(f.entries); i++ {
			if e := f.entries[i]; e.deferred() && e.hash == f.entries[i-1].hash {
				out = append(out, e.block())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
