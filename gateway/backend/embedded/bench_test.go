package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	bolt "go.etcd.io/bbolt"
)

// The ledger-only throughput figures: 64 concurrent clients, each waiting
// for its fsync'd acknowledgement, against bbolt's own DB.Batch from 64
// goroutines writing records of the same size. Run:
//
//	go test -run '^$' -bench . -benchtime 20000x ./gateway/backend/embedded/

const (
	benchClients = 64
	// benchValueBytes is the value each benchmark transaction writes, and
	// the record size of the DB.Batch baseline.
	benchValueBytes = 512
)

// runClients runs n calls of fn from benchClients goroutines and returns
// the elapsed time.
func runClients(b *testing.B, n int, fn func(i int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func BenchmarkSubmit(b *testing.B) {
	var syncNS, elapsedNS atomic.Int64
	l := openTest(b, b.TempDir(), WithMmapSize(1<<30), WithCommitObserver(func(s CommitStats) {
		syncNS.Add(int64(s.Sync))
		elapsedNS.Add(int64(s.Elapsed))
	}))
	defer l.Close()
	value := strings.Repeat("v", benchValueBytes)
	var blocks atomic.Int64
	cpu0 := cpuTime()
	b.ResetTimer()
	elapsed := runClients(b, b.N, func(i int) error {
		_, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: fmt.Sprintf("key-%09d", i), V: value}))
		return err
	})
	b.StopTimer()
	info, _ := l.Info(context.Background())
	blocks.Store(int64(info.Height - 1))
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/tx")
	b.ReportMetric(float64(b.N)/float64(blocks.Load()), "tx/block")
	b.ReportMetric(float64(syncNS.Load())/float64(blocks.Load())/1e6, "sync-ms/block")
	b.ReportMetric(float64(elapsedNS.Load())/float64(blocks.Load())/1e6, "commit-ms/block")
}

// BenchmarkBoltBatch is the baseline: bbolt's DB.Batch, fsync on, one
// record of benchValueBytes per call from 64 goroutines.
func BenchmarkBoltBatch(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "batch.db"), 0o600, &bolt.Options{InitialMmapSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		b.Fatal(err)
	}
	value := []byte(strings.Repeat("v", benchValueBytes))
	b.ResetTimer()
	elapsed := runClients(b, b.N, func(i int) error {
		return db.Batch(func(tx *bolt.Tx) error {
			return tx.Bucket(bucket).Put(fmt.Appendf(nil, "key-%09d", i), value)
		})
	})
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tx/s")
}

// BenchmarkClaim runs the real contract: b.N claims by 64 clients over
// b.N/20 agencies (each has room for 20 claims), after recording the
// certificates and services they need (not timed).
func BenchmarkClaim(b *testing.B) {
	var syncNS, elapsedNS atomic.Int64
	l, err := Open(context.Background(), b.TempDir(), WithLogger(quiet), WithCommitObserver(func(s CommitStats) {
		syncNS.Add(int64(s.Sync))
		elapsedNS.Add(int64(s.Elapsed))
	}))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	agencies := (b.N + 19) / 20
	runClients(b, agencies, func(a int) error {
		_, err := l.Submit(ctx, sciTech, "RegisterAgency", mustJSON(voucher.RegisterAgencyArgs{ID: makeUSCC(a + 1), Name: fmt.Sprint("服务机构", a+1), Kind: voucher.KindServiceAgency}))
		return err
	})
	runClients(b, b.N, func(i int) error {
		a, e := i/20+1, i+1
		if _, err := l.Submit(ctx, sciTech, "RecordCertification", mustJSON(voucher.RecordCertificationArgs{
			EnterpriseID: enterprise(e), EnterpriseName: fmt.Sprint("企业", e), CertificateNo: certNo(e), IssuedOn: "2024-11-20", Kind: voucher.CertFirst})); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(fmt.Sprint("evidence", e)))
		_, err := l.Submit(ctx, agencyCaller(a), "RecordService", mustJSON(voucher.RecordServiceArgs{
			EnterpriseID: enterprise(e), ContractRef: fmt.Sprint("HT-", e), StartedOn: "2024-01-15", EvidenceSHA256: hex.EncodeToString(sum[:])}))
		return err
	})
	before, _ := l.Info(ctx)
	syncNS.Store(0)
	elapsedNS.Store(0)
	st0 := l.db.Stats().TxStats
	cpu0 := cpuTime()
	b.ResetTimer()
	elapsed := runClients(b, b.N, func(i int) error {
		a, e := i/20+1, i+1
		_, err := l.Submit(ctx, agencyCaller(a), "Claim", mustJSON(voucher.ClaimArgs{EnterpriseID: enterprise(e), CertificateNo: certNo(e)}))
		return err
	})
	b.StopTimer()
	after, _ := l.Info(ctx)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "claims/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/claim")
	blocks := float64(after.Height - before.Height)
	st1 := l.db.Stats().TxStats
	b.ReportMetric(float64(st1.GetWrite()-st0.GetWrite())/blocks, "page-writes/block")
	b.ReportMetric(float64(st1.GetPageAlloc()-st0.GetPageAlloc())/blocks/4096, "pages/block")
	b.ReportMetric(float64(b.N)/blocks, "tx/block")
	b.ReportMetric(float64(syncNS.Load())/blocks/1e6, "sync-ms/block")
	b.ReportMetric(float64(elapsedNS.Load())/blocks/1e6, "commit-ms/block")
	start := time.Now()
	res, err := l.Verify(ctx, nil)
	if err != nil || !res.OK {
		b.Fatalf("verify: %+v %v", res, err)
	}
	b.ReportMetric(float64(after.Height)/time.Since(start).Seconds(), "verified-blocks/s")
}

// BenchmarkVerify builds a ledger of b.N vouchers (b.N/20 agencies, each
// voucher with its certification and service record: 3 transactions per
// voucher, committed by 512 concurrent clients) and then times one full
// Verify, reporting the peak RSS of the verify alone (Linux).
//
//	go test -run '^$' -bench Verify -benchtime 100000x ./gateway/backend/embedded/
//
// HONGSHAN_BENCH_KEEP_DIR=dir keeps the ledger in dir/<b.N> instead of a
// temporary directory; a ledger already there is verified as it is, without
// building it again.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	reuse := false
	if d := os.Getenv("HONGSHAN_BENCH_KEEP_DIR"); d != "" {
		dir = filepath.Join(d, strconv.Itoa(b.N))
		_, err := os.Stat(filepath.Join(dir, FileName))
		reuse = err == nil
	}
	l, err := Open(context.Background(), dir, WithLogger(quiet), WithMmapSize(8<<30))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	const clients = 512
	run := func(n int, fn func(i int) error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					if err := fn(i); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatal(err)
		}
	}
	buildStart := time.Now()
	if !reuse {
		run((b.N+19)/20, func(a int) error {
			_, err := l.Submit(ctx, sciTech, "RegisterAgency", mustJSON(voucher.RegisterAgencyArgs{ID: makeUSCC(a + 1), Name: fmt.Sprint("服务机构", a+1), Kind: voucher.KindServiceAgency}))
			return err
		})
		run(b.N, func(i int) error {
			a, e := i/20+1, i+1
			if _, err := l.Submit(ctx, sciTech, "RecordCertification", mustJSON(voucher.RecordCertificationArgs{
				EnterpriseID: enterprise(e), EnterpriseName: fmt.Sprint("企业", e), CertificateNo: certNo(e), IssuedOn: "2024-11-20", Kind: voucher.CertFirst})); err != nil {
				return err
			}
			sum := sha256.Sum256([]byte(fmt.Sprint("evidence", e)))
			if _, err := l.Submit(ctx, agencyCaller(a), "RecordService", mustJSON(voucher.RecordServiceArgs{
				EnterpriseID: enterprise(e), ContractRef: fmt.Sprint("HT-", e), StartedOn: "2024-01-15", EvidenceSHA256: hex.EncodeToString(sum[:])})); err != nil {
				return err
			}
			_, err := l.Submit(ctx, agencyCaller(a), "Claim", mustJSON(voucher.ClaimArgs{EnterpriseID: enterprise(e), CertificateNo: certNo(e)}))
			return err
		})
	}
	info, _ := l.Info(ctx)
	b.Logf("built %d vouchers in %v: height %d (reused: %v)", b.N, time.Since(buildStart), info.Height, reuse)
	runtime.GC()
	debug.FreeOSMemory()
	_ = dropResident(l.db)
	resetPeakRSS()
	startRSS := peakRSS()
	cpu0 := cpuTime()
	stopSampling := sampleRSS(10 * time.Millisecond)
	b.ResetTimer()
	res, err := l.Verify(ctx, nil)
	b.StopTimer()
	anonPeak, filePeak := stopSampling()
	b.ReportMetric(float64(anonPeak)/(1<<20), "peak-RssAnon-MiB")
	b.ReportMetric(float64(filePeak)/(1<<20), "peak-RssFile-MiB")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/b.Elapsed().Seconds(), "cores-used")
	if err != nil || !res.OK {
		b.Fatalf("verify: %+v %v", res, err)
	}
	if st, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
		b.ReportMetric(float64(st.Size())/float64(b.N), "file-bytes/voucher")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "vouchers/s")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(startRSS)/(1<<20), "start-RSS-MiB")
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's high-water mark of this process's RSS.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM in bytes, or 0 where /proc is missing.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sampleRSS samples this process's anonymous and file-backed resident set
// every interval until the returned function is called, which returns the
// highest of each (0 where /proc is missing).
func sampleRSS(interval time.Duration) (stop func() (anonPeak, filePeak int64)) {
	done := make(chan struct{})
	result := make(chan [2]int64, 1)
	go func() {
		var peak [2]int64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			anon, file := rssParts()
			peak[0], peak[1] = max(peak[0], anon), max(peak[1], file)
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) {
		close(done)
		p := <-result
		return p[0], p[1]
	}
}

// rssParts is RssAnon and RssFile of /proc/self/status in bytes.
func rssParts() (anon, file int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		}
	}
	return anon, file
}
