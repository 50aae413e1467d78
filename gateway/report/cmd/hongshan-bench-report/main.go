// Command hongshan-bench-report measures the reconciliation report at
// scale: it builds a read model of a million vouchers across 5,000
// agencies from synthetic blocks (applied straight to a projection.Store,
// no ledger involved), then computes the report once in each format in a
// fresh child process, printing the time and the child's peak RSS (VmHWM)
// so that building the data does not count towards the report's memory.
//
//	go run ./gateway/report/cmd/hongshan-bench-report [-vouchers 1000000] [-agencies 5000] [-dir DIR]
//
// With -dir the read model is kept and reused by the next run.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
	"github.com/hongshan-ledger/hongshan/gateway/report"
	"github.com/hongshan-ledger/hongshan/gateway/report/internal/synth"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hongshan-bench-report:", err)
		os.Exit(1)
	}
}

type flags struct {
	vouchers, agencies, anomalyEvery int
	dir, period, formats, phase      string
	format, cpuProfile               string
	matchRows                        int
	singleCore                       bool
}

func run() error {
	var f flags
	flag.IntVar(&f.vouchers, "vouchers", 1_000_000, "vouchers in the synthetic ledger")
	flag.IntVar(&f.agencies, "agencies", 5_000, "agencies in the synthetic ledger")
	flag.IntVar(&f.anomalyEvery, "anomaly-every", 997, "plant one anomaly of each kind every n vouchers (0: none)")
	flag.StringVar(&f.dir, "dir", "", "directory of the read model (kept and reused; default: a temporary one)")
	flag.StringVar(&f.period, "period", report.PeriodAll, "report period")
	flag.StringVar(&f.formats, "formats", "json,csv,xlsx", "formats to measure")
	flag.IntVar(&f.matchRows, "match-rows", 100_000, "rows of the treasury file of the match measurement (0: skip)")
	flag.BoolVar(&f.singleCore, "single-core", false, "compute the report in one read transaction on one goroutine (no second view)")
	flag.StringVar(&f.phase, "phase", "", "internal: run one measurement in this process (report or match)")
	flag.StringVar(&f.format, "format", "", "internal: the format of -phase")
	flag.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of each measurement to this file (suffixed by phase and format)")
	flag.Parse()
	ctx := context.Background()
	if f.phase != "" {
		return child(ctx, f)
	}
	if f.dir == "" {
		d, err := os.MkdirTemp("", "hongshan-bench-report-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		f.dir = d
	} else if err := os.MkdirAll(f.dir, 0o750); err != nil {
		return err
	}
	fmt.Printf("hongshan-bench-report: %d vouchers, %d agencies, GOMAXPROCS=%d, %s\n", f.vouchers, f.agencies, runtime.GOMAXPROCS(0), runtime.Version())
	if err := build(f); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, format := range strings.Split(f.formats, ",") {
		if err := spawn(self, f, "report", format); err != nil {
			return err
		}
	}
	if f.matchRows > 0 {
		if err := spawn(self, f, "match", report.FormatJSON); err != nil {
			return err
		}
	}
	return nil
}

func dbPath(f flags) string { return filepath.Join(f.dir, "projection.db") }

// build fills the read model unless it already holds the ledger.
func build(f flags) error {
	store, err := projection.Open(dbPath(f))
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := store.Stats()
	if err != nil {
		return err
	}
	if fmt.Sprint(st.Vouchers) == fmt.Sprint(f.vouchers) && fmt.Sprint(st.Agencies) == fmt.Sprint(f.agencies) {
		fmt.Printf("read model: reusing %s (%d vouchers, height %d)\n", dbPath(f), st.Vouchers, st.Height)
		return nil
	}
	if store.Next() > 0 {
		return fmt.Errorf("%s holds another ledger (%d vouchers); remove it", dbPath(f), st.Vouchers)
	}
	start := time.Now()
	const batch = 40
	pending := make([]backend.Block, 0, batch)
	apply := func(b backend.Block) error {
		pending = append(pending, b)
		if len(pending) < batch {
			return nil
		}
		err := store.ApplyBlocks(pending...)
		pending = pending[:0]
		return err
	}
	height, err := synth.Generate(synth.Config{Agencies: f.agencies, Vouchers: f.vouchers, Seed: 1, AnomalyEvery: f.anomalyEvery}, apply)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		if err := store.ApplyBlocks(pending...); err != nil {
			return err
		}
	}
	fi, err := os.Stat(dbPath(f))
	if err != nil {
		return err
	}
	fmt.Printf("read model: built %d blocks in %s, %d MiB\n", height, time.Since(start).Round(time.Millisecond), fi.Size()>>20)
	return nil
}

// spawn runs one measurement in a child process and prints its line.
func spawn(self string, f flags, phase, format string) error {
	args := []string{"-phase", phase, "-format", format, "-dir", f.dir, "-period", f.period, "-match-rows", strconv.Itoa(f.matchRows)}
	if f.cpuProfile != "" {
		args = append(args, "-cpuprofile", f.cpuProfile+"."+phase+"."+format)
	}
	if f.singleCore {
		args = append(args, "-single-core")
	}
	cmd := exec.Command(self, args...) //nolint:gosec // re-runs this very binary (os.Executable) for one measurement
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s %s: %w", phase, format, err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("%s %s: %q: %w", phase, format, out, err)
	}
	fmt.Printf("%-6s %-5s %6.2f s (CPU %5.2f s)  peak RSS %4d MiB  output %6.1f MiB  %s\n", phase, format, r.Seconds, r.CPUSeconds, r.PeakRSSKiB>>10, float64(r.Bytes)/(1<<20), r.Note)
	return nil
}

// result is one child's measurement.
type result struct {
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSKiB int64   `json:"peak_rss_kib"`
	Bytes      int64   `json:"bytes"`
	Note       string  `json:"note"`
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// child runs one measurement and prints its result as JSON.
func child(ctx context.Context, f flags) error {
	store, err := projection.Open(dbPath(f))
	if err != nil {
		return err
	}
	defer store.Close()
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var r result
	switch f.phase {
	case "report":
		r, err = measureReport(ctx, store, f)
	case "match":
		r, err = measureMatch(ctx, store, f)
	default:
		err = fmt.Errorf("unknown phase %q", f.phase)
	}
	if err != nil {
		return err
	}
	r.PeakRSSKiB = peakRSS()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if os.Getenv("HONGSHAN_BENCH_MEMSTATS") != "" {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st, _ := os.ReadFile("/proc/self/status")
		var rss []string
		for _, line := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(line, "Rss") || strings.HasPrefix(line, "VmHWM") {
				rss = append(rss, strings.Join(strings.Fields(line), " "))
			}
		}
		r.Note += fmt.Sprintf(" [heap sys %d MiB, heap peak-ish %d MiB, GC %d; %s]", ms.HeapSys>>20, ms.NextGC>>20, ms.NumGC, strings.Join(rss, ", "))
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func measureReport(ctx context.Context, store *projection.Store, f flags) (result, error) {
	start := time.Now()
	var rec *report.Reconciliation
	err := store.View(func(snap projection.Snapshot) error {
		var err error
		var opts []report.Option
		if !f.singleCore {
			opts = append(opts, report.WithParallelView(store.View))
		}
		rec, err = report.Reconcile(ctx, snap, report.Query{Period: f.period}, opts...)
		return err
	})
	if err != nil {
		return result{}, err
	}
	defer rec.Close()
	scanned := time.Since(start)
	var w countingWriter
	if err := rec.Write(&w, f.format, ""); err != nil {
		return result{}, err
	}
	total := 0
	for _, n := range rec.ExceptionCounts {
		total += n
	}
	note := fmt.Sprintf("(scan %.2f s; %d agencies, %d exceptions, digest %.12s)", scanned.Seconds(), len(rec.Agencies), total, rec.Digest)
	return result{Seconds: time.Since(start).Seconds(), Bytes: w.n, Note: note}, nil
}

// measureMatch matches a treasury file of the first payments on the
// ledger, a few of them altered, against the whole ledger.
func measureMatch(ctx context.Context, store *projection.Store, f flags) (result, error) {
	tmp, err := os.CreateTemp(f.dir, "payments-*.csv")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	w := bufio.NewWriter(tmp)
	fmt.Fprintln(w, "payment_ref,agency_id,amount,paid_on,voucher_id")
	n := 0
	errDone := errors.New("done")
	err = store.View(func(snap projection.Snapshot) error {
		return snap.ForEachVoucher(func(v voucher.Voucher) error {
			if v.PaymentRef == "" {
				return nil
			}
			if n++; n > f.matchRows {
				return errDone
			}
			amount := v.PaidAmountCNY
			if n%1000 == 0 {
				amount = "1.00"
			}
			fmt.Fprintf(w, "%s,%s,%s,%s,%s\n", v.PaymentRef, v.AgencyID, amount, v.PaidOn, v.ID)
			return nil
		})
	})
	if err != nil && !errors.Is(err, errDone) {
		return result{}, err
	}
	if err := w.Flush(); err != nil {
		return result{}, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return result{}, err
	}
	start := time.Now()
	pf, err := report.ParsePayments(tmp, report.DefaultMaxPaymentBytes, report.DefaultMaxPaymentRows)
	if err != nil {
		return result{}, err
	}
	var m *report.Match
	err = store.View(func(snap projection.Snapshot) error {
		var err error
		m, err = report.MatchPayments(ctx, snap, f.period, pf)
		return err
	})
	if err != nil {
		return result{}, err
	}
	defer m.Close()
	var cw countingWriter
	if err := m.Write(&cw, f.format, ""); err != nil {
		return result{}, err
	}
	s := m.Summary
	note := fmt.Sprintf("(file %d rows; matched %d, ledger only %d, file only %d, amount mismatch %d)", s.FileRows, s.Matched, s.LedgerOnly, s.FileOnly, s.AmountMismatch)
	return result{Seconds: time.Since(start).Seconds(), Bytes: cw.n, Note: note}, nil
}

// peakRSS is the process's peak resident set (VmHWM) in KiB, or -1.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return n
				}
			}
		}
	}
	return -1
}
