package projection

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// The reconciliation report's scale: 1,000,000 vouchers across 5,000
// agencies, iterated with ForEachVoucher in ≤ 10 s and ≤ 300 MB RSS.
//
//	go test ./gateway/projection -run '^$' -bench ProjectionScale -benchtime 1x -timeout 30m
//
// HONGSHAN_PROJECTION_BENCH_DB=/path/file.db keeps the built read model
// between runs (it is reused when it already holds the vouchers). The
// iteration runs in a child process so its peak RSS is its own, not the
// build's.
const (
	scaleAgencies = 5_000
	childEnv      = "HONGSHAN_PROJECTION_SCALE_CHILD"
)

// scaleVouchers and scaleBlockTxs (HONGSHAN_PROJECTION_BENCH_VOUCHERS,
// HONGSHAN_PROJECTION_BENCH_BLOCK_TXS) size the ledger and its blocks.
var (
	scaleVouchers = envInt("HONGSHAN_PROJECTION_BENCH_VOUCHERS", 1_000_000)
	scaleBlockTxs = envInt("HONGSHAN_PROJECTION_BENCH_BLOCK_TXS", 2_000)
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func BenchmarkProjectionScale(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1,000,000-voucher read model")
	}
	path := os.Getenv("HONGSHAN_PROJECTION_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "projection.db")
	}
	buildScale(b, path)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.ReportMetric(float64(fi.Size())/(1<<20), "db-MB")
		cmd := exec.Command(os.Args[0], "-test.run=^TestProjectionScaleChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		metrics := map[string]float64{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "SCALE "); ok {
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					metrics[k], _ = strconv.ParseFloat(v, 64)
				}
			}
		}
		if int(metrics["vouchers"]) != scaleVouchers {
			b.Fatalf("child visited %v vouchers, want %d\n%s", metrics["vouchers"], scaleVouchers, out)
		}
		for k, v := range metrics {
			if k != "vouchers" {
				b.ReportMetric(v, k)
			}
		}
		b.Logf("%s", out)
	}
}

// TestProjectionScaleChild is the benchmark's measuring process.
func TestProjectionScaleChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("run by BenchmarkProjectionScale")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	start := time.Now()
	n, agencies, last := 0, 0, ""
	amounts := map[string]int{}
	err = s.View(func(snap Snapshot) error {
		return snap.ForEachVoucher(func(v voucher.Voucher) error {
			if v.AgencyID < last {
				return fmt.Errorf("voucher %s of agency %s after agency %s", v.ID, v.AgencyID, last)
			}
			if v.AgencyID != last {
				agencies++
				last = v.AgencyID
			}
			amounts[v.AmountCNY]++
			n++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	iterate := time.Since(start)
	if agencies != scaleAgencies {
		t.Fatalf("visited %d agencies, want %d", agencies, scaleAgencies)
	}
	// A few listings on the big model, for the record.
	pageStart := time.Now()
	for _, f := range []voucher.ListVouchersArgs{
		{Status: voucher.StatusIssued, Period: "2024"},
		{AgencyID: agencyID(42), Status: voucher.StatusReimbursed},
		{Period: "2025", Limit: 500},
	} {
		if page, err := s.Vouchers(f); err != nil || len(page.Items) == 0 {
			t.Fatalf("Vouchers(%+v) = %d items, %v", f, len(page.Items), err)
		}
	}
	pages := time.Since(pageStart) / 3
	fmt.Printf("SCALE vouchers=%d iterate-s=%.2f maxrss-MB=%.0f page-ms=%.2f\n",
		n, iterate.Seconds(), peakRSSMB(t), float64(pages.Microseconds())/1000)
}

// peakRSSMB reads VmHWM, the process's peak resident set, mapped file
// pages included.
func peakRSSMB(t testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// buildScale applies the scale ledger to path unless it is already there.
func buildScale(b *testing.B, path string) {
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if st, err := s.Stats(); err == nil && st.Vouchers == uint64(scaleVouchers) {
		b.Logf("reusing %s", path)
		return
	}
	if s.Next() != 0 {
		b.Fatalf("%s holds a partial read model; remove it", path)
	}
	start := time.Now()
	c := &chain{t: b, blocks: []backend.Block{{Number: 0, Hash: "h0"}}}
	mustApply(b, s, c.blocks[0])
	var evs []voucher.Event
	for a := 1; a <= scaleAgencies; a++ {
		evs = append(evs, agencyEvent(agencyID(a), fmt.Sprintf("服务机构 %d", a)))
	}
	mustApply(b, s, c.block(evs...))
	statuses := []voucher.Status{voucher.StatusIssued, voucher.StatusIssued, voucher.StatusRedemptionRequested, voucher.StatusReimbursed, voucher.StatusReimbursed, voucher.StatusRejected, voucher.StatusRevoked}
	used := map[string]int{}
	evs = evs[:0]
	for i := 0; i < scaleVouchers; i++ {
		agency := agencyID(i%scaleAgencies + 1)
		period := strconv.Itoa(2023 + (i/scaleAgencies)%4)
		txID := fmt.Sprintf("tx-%d", i)
		sum := sha256.Sum256([]byte("voucher|" + txID))
		id := "V-" + period + "-" + hex.EncodeToString(sum[:8])
		issued := t0.Add(time.Duration(i) * time.Second).Format(voucher.TimeLayout)
		v := voucher.Voucher{ID: id, AgencyID: agency, EnterpriseID: fmt.Sprintf("91650104MA%08d", i), CertificateNo: fmt.Sprintf("GR%s65%06d", period, i%1_000_000),
			ServiceRecordID: "S-" + hex.EncodeToString(sum[8:16]), Period: period, AmountCNY: "5000.00", PolicyVersion: 1,
			Status: statuses[i%len(statuses)], IssuedAt: issued, UpdatedAt: issued, LastAction: "Claim", LastActor: "agency-" + agency + "@HongshanEmbeddedMSP"}
		switch v.Status {
		case voucher.StatusRedemptionRequested:
			v.RedemptionRequestedAt, v.LastAction = issued, "Redeem"
		case voucher.StatusReimbursed:
			v.RedemptionRequestedAt, v.ReimbursedAt, v.PaymentRef, v.PaidAmountCNY, v.PaidOn, v.LastAction =
				issued, issued, fmt.Sprintf("GKZF2024%010d", i), "5000.00", "2024-06-30", "Reimburse"
		case voucher.StatusRejected, voucher.StatusRevoked:
			v.ClosedAt, v.Reason, v.LastAction = issued, "证明材料不符", "Reject"
		}
		key := agency + "/" + period
		if v.Status.Live() {
			used[key]++
		}
		u := used[key] * 5000
		cu := voucher.CapUsage{AgencyID: agency, Period: period, LimitCNY: "100000.00", UsedCNY: fmt.Sprintf("%d.00", u),
			RemainingCNY: fmt.Sprintf("%d.00", max(0, 100000-u)), LiveCount: used[key]}
		evs = append(evs, voucher.Event{Type: voucher.EventVoucherIssued, TxID: txID, At: issued, Actor: v.LastActor, Voucher: &v, Cap: &cu})
		if len(evs) == scaleBlockTxs {
			mustApply(b, s, c.block(evs...))
			c.blocks = c.blocks[len(c.blocks)-1:] // keep only the head
			evs = evs[:0]
		}
	}
	if len(evs) > 0 {
		mustApply(b, s, c.block(evs...))
	}
	b.Logf("built %d vouchers in %s (builder's peak RSS %.0f MB)", scaleVouchers, time.Since(start).Round(time.Second), peakRSSMB(b))
}

// BenchmarkApplyThroughput is the steady state behind a busy gateway:
// 20,000 claims across 500 agencies in blocks of 64 transactions (a group
// commit's size), applied one block per commit, then drained by Follow
// from a queue (one commit per batch).
func BenchmarkApplyThroughput(b *testing.B) {
	const claims, agencies, perBlock = 20_000, 500, 64
	c := newChain(b)
	for i := 0; i < claims; i += perBlock {
		var evs []voucher.Event
		for j := i; j < min(i+perBlock, claims); j++ {
			agency := agencyID(j%agencies + 1)
			sum := sha256.Sum256([]byte(strconv.Itoa(j)))
			v := newVoucher("V-2024-"+hex.EncodeToString(sum[:8]), agency, "2024")
			evs = append(evs, issueEvent(v, capUsage(agency, "2024", "5000.00", "95000.00", 1)))
		}
		c.block(evs...)
	}
	b.Run("block-per-commit", func(b *testing.B) {
		for b.Loop() {
			s, _ := openTemp(b)
			mustApply(b, s, c.blocks...)
		}
		b.ReportMetric(float64(claims*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("follow-drained", func(b *testing.B) {
		var commits uint64
		for b.Loop() {
			s, _ := openTemp(b)
			if err := s.Follow(b.Context(), &fakeBackend{blocks: c.blocks}); !errors.Is(err, ErrStreamEnded) {
				b.Fatal(err)
			}
			commits += s.commits.Load()
		}
		b.ReportMetric(float64(claims*b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(commits)/float64(b.N), "commits")
	})
}

// BenchmarkApplyClaim is the gateway's steady state per event: a read model
// already holding 20,000 vouchers of 500 agencies takes one more claim
// (VoucherIssued with the voucher and the cap usage) per transaction, in
// blocks of 32, one commit per block. ns/op is per event.
func BenchmarkApplyClaim(b *testing.B) {
	const prefill, agencies, perBlock = 20_000, 500, 32
	claims := func(c *chain, from, n int) {
		for i := from; i < from+n; i += perBlock {
			var evs []voucher.Event
			for j := i; j < min(i+perBlock, from+n); j++ {
				agency := agencyID(j%agencies + 1)
				sum := sha256.Sum256([]byte(strconv.Itoa(j)))
				v := newVoucher("V-2024-"+hex.EncodeToString(sum[:8]), agency, "2024")
				evs = append(evs, issueEvent(v, capUsage(agency, "2024", "5000.00", "95000.00", 1)))
			}
			c.block(evs...)
		}
	}
	s, _ := openTemp(b)
	c := newChain(b)
	claims(c, 0, prefill)
	for i := 0; i < len(c.blocks); i += 64 { // as Follow would catch up
		if err := s.ApplyBlocks(c.blocks[i:min(i+64, len(c.blocks))]...); err != nil {
			b.Fatal(err)
		}
	}
	c.blocks = c.blocks[len(c.blocks)-1:]
	claims(c, prefill, b.N)
	b.ReportAllocs()
	cpu := processCPUSeconds(b)
	b.ResetTimer()
	for _, blk := range c.blocks[1:] {
		if err := s.Apply(blk); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// CPU time, GC included, is steadier than ns/op on a shared machine.
	b.ReportMetric((processCPUSeconds(b)-cpu)*1e6/float64(b.N), "cpu-µs/event")
}

// processCPUSeconds is the process's user+system CPU time so far, from
// /proc/self/stat (clock ticks of 10 ms).
func processCPUSeconds(t testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// Fields after the command's closing parenthesis: state is field 3,
	// utime and stime are fields 14 and 15.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}
