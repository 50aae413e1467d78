package main

import (
	"testing"
	"time"
)

func TestQuantileNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := quantile(lat, c.q); got != c.want {
			t.Errorf("quantile(1..100 ms, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %v", got)
	}
}

func TestTotalMergesRounds(t *testing.T) {
	a := result{claims: 10, elapsed: time.Second, latencies: []time.Duration{3, 1}}
	b := result{claims: 30, elapsed: time.Second, latencies: []time.Duration{2}}
	got := total([]result{a, b})
	if got.claims != 40 || got.elapsed != 2*time.Second || got.perSecond() != 20 {
		t.Fatalf("total %+v, %v claims/s", got, got.perSecond())
	}
	for i, want := range []time.Duration{1, 2, 3} {
		if got.latencies[i] != want {
			t.Fatalf("latencies %v not merged and sorted", got.latencies)
		}
	}
}
