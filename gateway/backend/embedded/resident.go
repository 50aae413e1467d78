package embedded

import "sync/atomic"

// Every page bbolt reads through its memory map stays in this process's
// resident set until the kernel needs the memory, so a ledger that streams
// its blocks or verifies a multi-gigabyte file would show the file as RSS.
// Those pages are the kernel's page cache, not the process's own memory. The
// ledger checks the file-backed part of its RSS every residentCheckEvery
// bytes it reads or writes through the map and, when it exceeds what the
// process's other file mappings held after the last drop by more than
// residentBudget, drops the mapping's resident pages (hot pages fault back
// in from the page cache at the cost of a minor fault). Counts are
// estimates: on a read fault Linux also maps up to 16 neighbouring pages
// that are in the page cache, so a few scattered reads can make many pages
// resident; callers overestimate.
//
// The budget is the ledger's own: an absolute one (48 MiB) was always
// exceeded inside the gateway, whose binary and read model map ~80 MiB of
// their own, so the ledger dropped its pages after every group commit and
// refaulted its hot pages in the next one.
const (
	residentBudget     = 16 << 20
	residentCheckEvery = 4 << 20
)

// The interval between checks adapts so that the resident set grows by
// about checkGrowth between two checks, within [minCheckEvery,
// residentCheckEvery] of estimated bytes (minCheckEvery: about one
// replayed transaction).
const (
	checkGrowth   = 8 << 20
	minCheckEvery = 256 << 10
)

// residentMeter counts bytes touched through the map since the last check.
// The callers' estimates can be far too low: when the page cache holds the
// file in large folios (as it often does for a file just written), a fault
// maps the whole folio, up to hundreds of pages. So each check measures how
// much the resident set really grew since the last one and scales the
// interval to the next check towards a growth of checkGrowth.
type residentMeter struct {
	touched atomic.Int64
	// every is the estimated bytes between checks; 0 means
	// residentCheckEvery.
	every atomic.Int64
	// seen is the file-backed RSS at the last check or drop.
	seen atomic.Int64
	// others is the file-backed RSS right after the last drop: the pages of
	// the process's other mappings, which the budget does not cover.
	others atomic.Int64
	// rss reads the file-backed RSS; nil means fileResident (tests replace
	// it).
	rss func() int64
}

func (m *residentMeter) read() int64 {
	if m.rss != nil {
		return m.rss()
	}
	return fileResident()
}

func (m *residentMeter) interval() int64 {
	if e := m.every.Load(); e > 0 {
		return e
	}
	return residentCheckEvery
}

// over reports whether the file-backed RSS exceeds others by more than the
// budget, and recalibrates the interval between checks.
func (m *residentMeter) over() bool {
	cur := m.read()
	prev := m.seen.Swap(cur)
	if every := m.interval(); cur >= 0 && prev >= 0 {
		grew := cur - prev
		switch {
		case grew > checkGrowth:
			m.every.Store(max(minCheckEvery, every*checkGrowth/grew))
		case grew < checkGrowth/2:
			m.every.Store(min(residentCheckEvery, 2*every))
		}
	}
	return cur > m.others.Load()+residentBudget
}

// othersRise bounds how much others may grow at one drop. Reading the RSS
// just after a drop races with other goroutines faulting pages of the map
// back in (a whole large folio per fault), so a reading can be tens of MiB
// too high; taken as is, the budget's baseline ratchets up with every such
// race (measured: readings of 100–136 MiB where the others held ~6 MiB).
// Lower readings are taken at once; a real growth of the other mappings is
// followed over a few drops.
const othersRise = 2 << 20

// dropped records the file-backed RSS left just after a drop.
func (m *residentMeter) dropped() {
	r := m.read()
	if prev := m.others.Load(); prev > 0 && r > prev+othersRise {
		r = prev + othersRise
	}
	m.others.Store(r)
	m.seen.Store(r)
}

// touch records n bytes read or written through the map and reports whether
// the caller should check the resident pages now (one caller per interval).
func (m *residentMeter) touch(n int) bool {
	every := m.interval()
	if m.touched.Add(int64(n)) < every {
		return false
	}
	return m.touched.Swap(0) >= every
}
