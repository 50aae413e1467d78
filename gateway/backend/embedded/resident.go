package embedded

import "sync/atomic"

// residentBudget is how many bytes of the file the ledger may touch through
// bbolt's memory map before it drops the mapping's resident pages.
//
// Every page bbolt reads through its map stays in this process's resident
// set until the kernel needs the memory, so a ledger that streams its blocks
// or verifies a multi-gigabyte file would show that file as RSS. The pages
// are the kernel's page cache, not the process's own memory; dropping them
// from the mapping keeps RSS a measure of the process (hot pages fault back
// in from the page cache at the cost of a minor fault).
const residentBudget = 64 << 20

// residentMeter counts bytes touched through the map since the last drop.
type residentMeter struct {
	touched atomic.Int64
}

// touch records n bytes read or written through the map and reports whether
// the caller should drop the resident pages now (one caller per budget).
func (m *residentMeter) touch(n int) bool {
	if m.touched.Add(int64(n)) < residentBudget {
		return false
	}
	return m.touched.Swap(0) >= residentBudget
}
