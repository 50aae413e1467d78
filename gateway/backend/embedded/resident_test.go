package embedded

import "testing"

// The interval between checks shrinks when the resident set grew by more
// than checkGrowth since the last check, never below minCheckEvery, and
// grows back, never above residentCheckEvery, when it grew little.
func TestResidentMeterAdaptsInterval(t *testing.T) {
	var rss int64 = 10 << 20
	m := &residentMeter{rss: func() int64 { return rss }}
	m.dropped()
	if got := m.interval(); got != residentCheckEvery {
		t.Fatalf("initial interval %d, want %d", got, residentCheckEvery)
	}
	rss += 4 * checkGrowth // e.g. whole large folios mapped per fault
	if !m.over() {
		t.Fatal("40 MiB over the others is over the 16 MiB budget")
	}
	if got, want := m.interval(), int64(residentCheckEvery/4); got != want {
		t.Fatalf("interval after 4× the growth %d, want %d", got, want)
	}
	for range 10 {
		rss += 100 * checkGrowth
		m.over()
	}
	if got := m.interval(); got != minCheckEvery {
		t.Fatalf("interval under fast growth %d, want the floor %d", got, minCheckEvery)
	}
	for range 20 {
		m.over() // no growth
	}
	if got := m.interval(); got != residentCheckEvery {
		t.Fatalf("interval without growth %d, want the ceiling %d", got, residentCheckEvery)
	}
	if m.touch(residentCheckEvery-1) || !m.touch(1) {
		t.Fatal("touch must ask for a check exactly when the interval is reached")
	}
}

// A reading just after a drop that is far too high (pages faulted back in
// by other goroutines meanwhile) raises the others' baseline by at most
// othersRise; a lower one is taken at once.
func TestResidentMeterOthersRiseBounded(t *testing.T) {
	var rss int64 = 6 << 20
	m := &residentMeter{rss: func() int64 { return rss }}
	m.dropped()
	rss = 130 << 20
	m.dropped()
	if got, want := m.others.Load(), int64(6<<20+othersRise); got != want {
		t.Fatalf("others after an inflated reading %d, want %d", got, want)
	}
	if !m.over() {
		t.Fatal("130 MiB is over a baseline of 8 MiB plus the budget")
	}
	rss = 5 << 20
	m.dropped()
	if got := m.others.Load(); got != 5<<20 {
		t.Fatalf("others after a lower reading %d, want %d", got, 5<<20)
	}
}
