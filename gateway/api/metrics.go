package api

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus series. Route labels are gin's route
// templates ("/v1/vouchers/:id"), never raw paths, so cardinality is fixed.
type metrics struct {
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	commit            *prometheus.HistogramVec
	capPrechecked     prometheus.Counter
	idempotentReplays prometheus.Counter
	// ledgerHeight is the highest ledger height the gateway has seen, from
	// commit receipts and readiness probes.
	ledgerHeight atomic.Uint64

	// The series of each label set, resolved once: a vector's label lookup
	// hashes and compares every label on every request.
	httpSeries   seriesCache[httpKey, httpSeries]
	commitSeries seriesCache[commitKey, prometheus.Observer]
}

type httpKey struct {
	route, method string
	status        int
}

type httpSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

type commitKey struct{ fn, outcome string }

// observeHTTP counts one answered request and its duration.
func (m *metrics) observeHTTP(route, method string, status int, seconds float64) {
	s := m.httpSeries.get(httpKey{route, method, status}, func(k httpKey) httpSeries {
		return httpSeries{
			requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)),
			latency:  m.latency.WithLabelValues(k.route, k.method),
		}
	})
	s.requests.Inc()
	s.latency.Observe(seconds)
}

// observeCommit records one Submit's duration by transaction and outcome.
func (m *metrics) observeCommit(fn, outcome string, seconds float64) {
	m.commitSeries.get(commitKey{fn, outcome}, func(k commitKey) prometheus.Observer {
		return m.commit.WithLabelValues(k.fn, k.outcome)
	}).Observe(seconds)
}

// maxCachedSeries bounds a seriesCache; label sets beyond it (only a client
// inventing methods on unmatched paths gets there) are looked up each time.
const maxCachedSeries = 1024

// seriesCache maps label sets to their resolved series. Reads are one
// atomic load of an immutable map; a miss copies the map (rare: the label
// sets are the routes, methods and statuses seen).
type seriesCache[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

func (c *seriesCache[K, V]) get(k K, resolve func(K) V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v
	}
	if len(old) >= maxCachedSeries {
		return resolve(k)
	}
	v := resolve(k)
	next := make(map[K]V, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	next[k] = v
	c.m.Store(&next)
	return v
}

func newMetrics(reg prometheus.Registerer, projectionHeight func() float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hongshan_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hongshan_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hongshan_ledger_commit_duration_seconds",
			Help:    "Time from Backend.Submit to a durable commit (or rejection), by transaction and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"fn", "outcome"}),
		capPrechecked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hongshan_claims_cap_prechecked_total",
			Help: "Claims answered CAP_EXCEEDED by the gateway's pre-check, without a ledger write.",
		}),
		idempotentReplays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hongshan_idempotent_replays_total",
			Help: "POST answers replayed for a repeated Idempotency-Key.",
		}),
	}
	collectors := []prometheus.Collector{m.requests, m.latency, m.commit, m.capPrechecked, m.idempotentReplays,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hongshan_ledger_block_height",
			Help: "Ledger height (blocks) as last seen by the gateway.",
		}, func() float64 { return float64(m.ledgerHeight.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hongshan_projection_block_height",
			Help: "Blocks applied to the read model.",
		}, projectionHeight),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sawHeight raises the ledger height gauge to h.
func (m *metrics) sawHeight(h uint64) {
	for {
		cur := m.ledgerHeight.Load()
		if h <= cur || m.ledgerHeight.CompareAndSwap(cur, h) {
			return
		}
	}
}
