package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hongshan-ledger/hongshan/client"
)

// The report formats besides table and json: files for Excel.
const (
	formatCSV  = "csv"
	formatXLSX = "xlsx"
)

// fileFormat reports whether -o names a file format only `report
// reconcile` writes.
func fileFormat(f string) bool { return f == formatCSV || f == formatXLSX }

// reportCommand is the `report` group: the auditors' reports.
func reportCommand() *command {
	return &command{name: "report", summary: "Reconciliation reports for 财政局 and auditors", subs: []*command{
		{name: "reconcile", summary: "Per-agency totals and exceptions of a period; with --payments, the treasury match", run: reportReconcileCmd,
			long: `-o table (default) prints the agencies with totals and the exception counts;
-o json, csv or xlsx writes the gateway's report as is (to --out, or stdout).
A CSV file holds one table: --table agencies (default) or exceptions; with
--payments, rows (default) or bad_rows. Reports name the block height, head
hash and a SHA-256 digest of their content: two reports of the same period at
the same height have the same digest, whatever their format.

--payments FILE matches the treasury's payment export (CSV with the columns
payment_ref, agency_id, amount, paid_on and optionally voucher_id) against the
ledger: matched, on the ledger only, in the file only, amount or agency
mismatch, and the file's bad rows with their line numbers.`},
	}}
}

func reportReconcileCmd(l *leafFlagSet) action {
	period := l.req("period", `a year such as 2024, "program", or "all"`)
	payments := l.str("payments", "", "the treasury's payment export (CSV) to match against the ledger")
	out := l.str("out", "", "write the report to this file instead of stdout")
	table := l.str("table", "", "the CSV table: agencies or exceptions (with --payments: rows or bad_rows)")
	asOf := l.str("as-of", "", "judge stale vouchers as of this date (YYYY-MM-DD) instead of the ledger's own time")
	return func(ctx context.Context, a *app, _ []string) error {
		format := a.global.output
		if *table != "" && format != formatCSV {
			return usagef("report reconcile", "--table needs -o csv")
		}
		if *payments != "" && *asOf != "" {
			return usagef("report reconcile", "--as-of applies to the reconciliation, not to the treasury match")
		}
		if format == formatXLSX && *out == "" && isTerminal(a.stdout) {
			return usagef("report reconcile", "an XLSX workbook is binary: give --out FILE (or redirect stdout)")
		}
		var body io.Reader
		if *payments != "" {
			f, err := os.Open(*payments)
			if err != nil {
				return usagef("report reconcile", "payments file: %v", err)
			}
			defer f.Close()
			body = f
		}
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		q := client.ReportQuery{Period: *period, Format: format, Table: *table, AsOf: *asOf}
		return writeOutput(a, *out, func(w io.Writer) error {
			switch {
			case format == formatTable && body == nil:
				return reconcileTable(ctx, a, c, q, w)
			case format == formatTable:
				return matchTable(ctx, a, c, q.Period, body, w)
			case body == nil:
				p := startProgress(a.stderr, "receiving the report")
				defer p.stop()
				info, err := c.DownloadReconciliation(ctx, q, p.counting(w))
				p.stop()
				return reportDone(a, *out, info, err)
			default:
				p := startProgress(a.stderr, "matching the payments")
				defer p.stop()
				info, err := c.DownloadTreasuryMatch(ctx, q, body, p.counting(w))
				p.stop()
				return reportDone(a, *out, info, err)
			}
		})
	}
}

// reportDone notes on stderr where a written report came from.
func reportDone(a *app, out string, info client.ReportInfo, err error) error {
	if err != nil || out == "" {
		return err
	}
	_, err = fmt.Fprintf(a.stderr, "Wrote %s (%s) at block height %d, digest %s.\n", out, byteSize(info.Bytes), info.Height, info.Digest)
	return err
}

// writeOutput runs write on stdout, or on a temporary file next to out
// that replaces out only once the report is complete, so a failed download
// never leaves half a report behind.
func writeOutput(a *app, out string, write func(io.Writer) error) error {
	if out == "" {
		return write(a.stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return usagef("report reconcile", "--out: %v", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := write(tmp); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// reconcileTable prints the reconciliation for people: what it was
// computed from, one line per agency, the totals and the exception counts.
func reconcileTable(ctx context.Context, a *app, c *client.Client, q client.ReportQuery, w io.Writer) error {
	p := startProgress(a.stderr, "computing the report")
	rep, err := c.Reconciliation(ctx, q, nil)
	p.stop()
	if err != nil {
		return err
	}
	if err := writeFields(w,
		field{"Period", rep.Period}, field{"Block height", strconv.FormatUint(rep.Height, 10)},
		field{"Head hash", rep.HeadHash}, field{"Digest (SHA-256)", rep.Digest},
		field{"As of", rep.AsOf + " (" + rep.AsOfSource + ")"}, field{"Generated", rep.GeneratedAt},
	); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	t := newTable(column{title: "AGENCY"}, column{title: "NAME"}, column{title: "STATUS"},
		column{title: "ISSUED", right: true}, column{title: "REQUESTED", right: true}, column{title: "REIMBURSED", right: true},
		column{title: "OUTSTANDING", right: true}, column{title: "CAP USED", right: true}, column{title: "CAP LIMIT", right: true},
		column{title: "EXCEPTIONS", right: true})
	row := func(r client.AgencyReport) {
		t.row(r.AgencyID, r.Name, r.Status, r.IssuedCNY, r.RedemptionRequestedCNY, r.ReimbursedCNY,
			r.OutstandingCNY, r.CapUsedCNY, r.CapLimitCNY, strconv.Itoa(r.Exceptions))
	}
	for _, r := range rep.Agencies {
		row(r)
	}
	row(rep.Totals)
	if err := t.flush(w); err != nil {
		return err
	}
	codes := make([]string, 0, len(rep.ExceptionCounts))
	for code, n := range rep.ExceptionCounts {
		if n > 0 {
			codes = append(codes, code)
		}
	}
	sort.Strings(codes)
	if len(codes) == 0 {
		_, err := io.WriteString(w, "\nNo exceptions.\n")
		return err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	et := newTable(column{title: "EXCEPTION"}, column{title: "COUNT", right: true})
	for _, code := range codes {
		et.row(code, strconv.Itoa(rep.ExceptionCounts[code]))
	}
	if err := et.flush(w); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\nList them with -o csv --table exceptions (or -o xlsx, -o json).\n")
	return err
}

// maxMismatchLines bounds the match rows the table shows.
const maxMismatchLines = 50

// matchTable prints the treasury match for people: the counts, the rows
// that need a look, and the file's bad rows.
func matchTable(ctx context.Context, a *app, c *client.Client, period string, body io.Reader, w io.Writer) error {
	p := startProgress(a.stderr, "matching the payments")
	t := newTable(column{title: "RESULT"}, column{title: "PAYMENT REF"}, column{title: "LINE", right: true}, column{title: "VOUCHER"},
		column{title: "LEDGER AGENCY"}, column{title: "FILE AGENCY"}, column{title: "LEDGER", right: true}, column{title: "FILE", right: true})
	shown, hidden := 0, 0
	m, err := c.TreasuryMatch(ctx, period, body, func(r client.MatchRow) error {
		if r.Category == "matched" {
			return nil
		}
		if shown == maxMismatchLines {
			hidden++
			return nil
		}
		shown++
		result := r.Category
		for _, mm := range r.Mismatches {
			result += " " + mm
		}
		line := ""
		if r.Line > 0 {
			line = strconv.Itoa(r.Line)
		}
		t.row(result, r.PaymentRef, line, r.VoucherID, r.LedgerAgencyID, r.FileAgencyID, r.LedgerAmountCNY, r.FileAmountCNY)
		return nil
	})
	p.stop()
	if err != nil {
		return err
	}
	s := m.Summary
	if err := writeFields(w,
		field{"Period", m.Period}, field{"Block height", strconv.FormatUint(m.Height, 10)},
		field{"File SHA-256", m.FileSHA256}, field{"Digest (SHA-256)", m.Digest},
		field{"File rows", fmt.Sprintf("%d (%s)", s.FileRows, s.FileAmountCNY)},
		field{"Ledger payments", fmt.Sprintf("%d (%s)", s.LedgerPayments, s.LedgerAmountCNY)},
		field{"Matched", fmt.Sprintf("%d (%s)", s.Matched, s.MatchedAmountCNY)},
		field{"On the ledger only", fmt.Sprintf("%d (%s)", s.LedgerOnly, s.LedgerOnlyAmountCNY)},
		field{"In the file only", fmt.Sprintf("%d (%s)", s.FileOnly, s.FileOnlyAmountCNY)},
		field{"Amount mismatch", strconv.Itoa(s.AmountMismatch)},
		field{"Agency mismatch", strconv.Itoa(s.AgencyMismatch)},
		field{"Voucher mismatch", strconv.Itoa(s.VoucherMismatch)},
		field{"Reference reused", strconv.Itoa(s.ReusedOnLedger)},
		field{"Bad rows", strconv.Itoa(s.BadRows)},
	); err != nil {
		return err
	}
	if shown > 0 {
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
		if err := t.flush(w); err != nil {
			return err
		}
		if hidden > 0 {
			if _, err := fmt.Fprintf(w, "… and %d more: use -o csv or -o xlsx for every row.\n", hidden); err != nil {
				return err
			}
		}
	}
	if len(m.BadRows) > 0 {
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
		bt := newTable(column{title: "BAD LINE", right: true}, column{title: "PROBLEM"})
		for i, b := range m.BadRows {
			if i == maxMismatchLines {
				break
			}
			bt.row(strconv.Itoa(b.Line), b.Detail)
		}
		if err := bt.flush(w); err != nil {
			return err
		}
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows, on a terminal's stderr only, a spinner with the bytes
// received so far; it stays silent when stderr is a file or a pipe, so
// scripts and logs never see it.
type progress struct {
	w     io.Writer
	label string
	n     atomic.Int64
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// progressEvery is how often the line is redrawn.
const progressEvery = 150 * time.Millisecond

func startProgress(stderr io.Writer, label string) *progress {
	p := &progress{w: stderr, label: label, done: make(chan struct{})}
	if !isTerminal(stderr) {
		p.once.Do(func() { close(p.done) })
		return p
	}
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *progress) run() {
	defer p.wg.Done()
	frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case <-p.done:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case <-tick.C:
			got := ""
			if n := p.n.Load(); n > 0 {
				got = ", " + byteSize(n)
			}
			fmt.Fprintf(p.w, "\r\033[K%c %s (%ds%s)", frames[i%len(frames)], p.label, int(time.Since(start).Seconds()), got)
		}
	}
}

// counting counts the bytes written through w for the progress line.
func (p *progress) counting(w io.Writer) io.Writer { return progressWriter{w: w, p: p} }

type progressWriter struct {
	w io.Writer
	p *progress
}

func (pw progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.n.Add(int64(n))
	return n, err
}

// stop ends the progress line; it may be called more than once.
func (p *progress) stop() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

// byteSize renders a byte count for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}
