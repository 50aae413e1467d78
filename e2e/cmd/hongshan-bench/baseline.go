package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// baselineResult is the bbolt DB.Batch measurement.
type baselineResult struct {
	writes  int
	elapsed time.Duration
}

func (r baselineResult) perSecond() float64 { return float64(r.writes) / r.elapsed.Seconds() }

// batchBaseline puts writes records of recordBytes from workers goroutines,
// each through DB.Batch with bbolt's defaults (fsync on, 10 ms batch delay,
// 1,000 per batch): what a careful program gets from bbolt alone.
func batchBaseline(ctx context.Context, path string, writes, workers, recordBytes int) (baselineResult, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return baselineResult{}, err
	}
	defer os.Remove(path)
	defer db.Close()
	bucket := []byte("records")
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		return baselineResult{}, err
	}
	value := make([]byte, recordBytes)
	if _, err := rand.Read(value); err != nil {
		return baselineResult{}, err
	}
	var (
		next     atomic.Uint64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	total := uint64(max(writes, 0))
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				key := binary.BigEndian.AppendUint64(nil, i)
				err := db.Batch(func(tx *bolt.Tx) error {
					return tx.Bucket(bucket).Put(key, value)
				})
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return baselineResult{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return baselineResult{}, err
	}
	var n int
	if err := db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	}); err != nil {
		return baselineResult{}, err
	}
	if n != writes {
		return baselineResult{}, fmt.Errorf("%d records stored, want %d", n, writes)
	}
	return baselineResult{writes: writes, elapsed: elapsed}, nil
}

// Targets of issue 3 on 2 cores.
const (
	targetClaimsPerSec = 10_000
	targetRatio        = 2.0
	targetP99          = 25 * time.Millisecond
	targetRSSMB        = 200 // megabytes (10^6 bytes), as the issue states it
)

// report prints the figures and how they compare with the targets.
func report(w io.Writer, cfg config, load loadResult, base baselineResult) {
	p50, p99 := percentile(load.latencies, 50), percentile(load.latencies, 99)
	claimsPerSec := load.perSecond()
	ratio := claimsPerSec / base.perSecond()
	rssMiB := float64(load.peakRSSKiB) / 1024
	rssOK := load.peakRSSKiB*1024 <= targetRSSMB*1_000_000
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "hongshan-bench: embedded gateway over HTTP (loopback, keep-alive)\n")
	fmt.Fprintf(w, "  claims:            %d issued (%d failed) across %d agencies from %d clients in %.2fs\n",
		load.claims-load.failed, load.failed, load.agencies, cfg.clients, load.elapsed.Seconds())
	fmt.Fprintf(w, "  claims/s:          %.0f   (target ≥ %d: %s)\n", claimsPerSec, targetClaimsPerSec, verdict(claimsPerSec >= targetClaimsPerSec))
	fmt.Fprintf(w, "  latency p50:       %.2f ms\n", ms(p50))
	fmt.Fprintf(w, "  latency p99:       %.2f ms   (target ≤ %d ms: %s)\n", ms(p99), targetP99.Milliseconds(), verdict(p99 <= targetP99))
	fmt.Fprintf(w, "  gateway peak RSS:  %.1f MiB during the claims   (VmHWM; target ≤ %d MB = %.1f MiB: %s); %.1f MiB during setup\n",
		rssMiB, targetRSSMB, targetRSSMB*1e6/(1<<20), verdict(rssOK), float64(load.setupRSSKiB)/1024)
	if load.gatewayCPU > 0 && load.claims > 0 {
		fmt.Fprintf(w, "  gateway CPU:       %.0f µs per claim   (%.2f cores during the claims)\n",
			float64(load.gatewayCPU.Microseconds())/float64(load.claims), load.gatewayCPU.Seconds()/load.elapsed.Seconds())
	}
	fmt.Fprintf(w, "baseline: bbolt DB.Batch, %d goroutines, %d-byte records, fsync\n", cfg.clients, cfg.recordBytes)
	fmt.Fprintf(w, "  writes/s:          %.0f   (%d writes in %.2fs)\n", base.perSecond(), base.writes, base.elapsed.Seconds())
	fmt.Fprintf(w, "ratio claims/s ÷ DB.Batch writes/s: %.2f   (target ≥ %.0f: %s)\n", ratio, targetRatio, verdict(ratio >= targetRatio))
}

// percentile is the p-th percentile (nearest rank) of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
