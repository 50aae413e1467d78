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

// residentMeter counts bytes touched through the map since the last check.
type residentMeter struct {
	touched atomic.Int64
	// others is the file-backed RSS right after the last drop: the pages of
	// the process's other mappings, which the budget does not cover.
	others atomic.Int64
}

// over reports whether the file-backed RSS exceeds others by more than the
// budget.
func (m *residentMeter) over() bool {
	return fileResident() > m.others.Load()+residentBudget
}

// dropped records the file-backed RSS left just after a drop.
func (m *residentMeter) dropped() { m.others.Store(fileResident()) }

// touch records n bytes read or written through the map and reports whether
// the caller should check the resident pages now (one caller per interval).
func (m *residentMeter) touch(n int) bool {
	if m.touched.Add(int64(n)) < residentCheckEvery {
		return false
	}
	return m.touched.Swap(0) >= residentCheckEvery
}
