// Package report computes the auditors' reports from the gateway's read
// model: the reconciliation report (per-agency totals and the exceptions
// an auditor must look at), the three-way match of the ledger against the
// treasury's payment export, and the gin handlers that serve them and the
// ledger's integrity check.
//
// A report is computed inside one projection read transaction, so every
// figure belongs to one block height, and streams: vouchers are visited
// once, grouped by agency, and only per-agency totals stay in memory.
// Rows that can be many (exceptions, match rows) go to a temporary spool
// file; the read transaction ends before rendering begins. docs/reports.md
// describes the contents, the digest and the exception definitions.
package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// Output formats of every report.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// PeriodAll selects every cap period.
const PeriodAll = "all"

// Query selects what a reconciliation covers.
type Query struct {
	// Period is a year such as "2024", voucher.ProgramPeriod, or PeriodAll.
	Period string
	// AsOf is the instant stale vouchers are judged against: empty means
	// the ledger's own time (the newest instant any agency, policy or
	// voucher carries), so the report depends on the block height alone.
	// An RFC 3339 instant, or a date YYYY-MM-DD meaning the end of that day
	// in Beijing time.
	AsOf string
}

// Header names what a report was computed from. Its JSON encoding is the
// first line of the digested content.
type Header struct {
	Report        string `json:"report"`
	FormatVersion int    `json:"format_version"`
	Period        string `json:"period"`
	Height        uint64 `json:"height"`
	HeadHash      string `json:"head_hash"`
	// AsOf is the instant stale vouchers were judged against; AsOfSource
	// says where it came from: "ledger" or "query".
	AsOf           string `json:"as_of"`
	AsOfSource     string `json:"as_of_source"`
	StaleAfterDays int    `json:"stale_after_days"`
}

// AgencyRow is one agency's figures for the period (or the totals row).
// Amounts are CNY with exactly two places.
type AgencyRow struct {
	AgencyID string `json:"agency_id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	// EnterprisesCredited counts distinct enterprises behind the agency's
	// live vouchers (issued, redemption requested, reimbursed).
	EnterprisesCredited      int    `json:"enterprises_credited"`
	IssuedCount              int    `json:"issued_count"`
	IssuedCNY                string `json:"issued_amount"`
	RedemptionRequestedCount int    `json:"redemption_requested_count"`
	RedemptionRequestedCNY   string `json:"redemption_requested_amount"`
	ReimbursedCount          int    `json:"reimbursed_count"`
	ReimbursedCNY            string `json:"reimbursed_amount"`
	RejectedCount            int    `json:"rejected_count"`
	RejectedCNY              string `json:"rejected_amount"`
	RevokedCount             int    `json:"revoked_count"`
	RevokedCNY               string `json:"revoked_amount"`
	// Outstanding is issued plus redemption requested: owed, not yet paid.
	OutstandingCount int    `json:"outstanding_count"`
	OutstandingCNY   string `json:"outstanding_amount"`
	// CapLimit is the cap of the period (for PeriodAll, the sum over the
	// periods the agency has vouchers or cap records in); CapUsed is the
	// live amount recomputed from the vouchers; CapRemaining is their
	// difference, negative on a breach.
	CapLimitCNY     string `json:"cap_limit"`
	CapUsedCNY      string `json:"cap_used"`
	CapRemainingCNY string `json:"cap_remaining"`
	Exceptions      int    `json:"exceptions"`
}

// TotalsID is the agency id of the totals row.
const TotalsID = "TOTAL"

// Reconciliation is a computed report. Its exceptions wait in a temporary
// file until rendered: Close it.
type Reconciliation struct {
	Header
	GeneratedAt string
	// Digest is the hex SHA-256 of the report's canonical content, which
	// leaves out GeneratedAt: two reports of the same query at the same
	// height have the same digest, whatever their format.
	Digest   string
	Agencies []AgencyRow
	Totals   AgencyRow
	// ExceptionCounts counts every exception found, by code, even those
	// beyond the listing bound.
	ExceptionCounts map[string]int
	// ExceptionsListed is how many exceptions the report lists;
	// ExceptionsTruncated is set when more were found than listed.
	ExceptionsListed    int
	ExceptionsTruncated bool

	exceptions *spool
}

// Close releases the spooled exceptions.
func (r *Reconciliation) Close() error { return r.exceptions.close() }

// Exceptions calls fn with each listed exception, in report order.
func (r *Reconciliation) Exceptions(fn func(Exception) error) error {
	return each(r.exceptions, fn)
}

// Limits of a report, overridable with options.
const (
	// DefaultMaxExceptions bounds the exceptions a report lists: one XLSX
	// sheet holds 1,048,576 rows. Counts go on beyond it.
	DefaultMaxExceptions = 1_000_000
	// DefaultMaxVoucherIDs bounds the voucher ids one exception lists
	// (VoucherCount still counts them all); an XLSX cell holds 32,767
	// characters.
	DefaultMaxVoucherIDs = 500
	// maxSpoolBytes bounds a report's temporary file.
	maxSpoolBytes = 4 << 30
	// ctxCheckEvery is how many vouchers the scan visits between two
	// looks at its context.
	ctxCheckEvery = 4096
)

// config holds the options shared by the reports and the Service.
type config struct {
	tempDir       string
	maxExceptions int
	maxVoucherIDs int
	now           func() time.Time
	view          ViewFunc
	// Service only.
	maxConcurrent   int
	maxPaymentBytes int64
	maxPaymentRows  int
	roleOf          func(*gin.Context) (voucher.Role, bool)
	writeError      errorWriter
}

// Option configures a report computation or a Service.
type Option func(*config)

// WithTempDir puts the spool files in dir (default os.TempDir()).
func WithTempDir(dir string) Option { return func(c *config) { c.tempDir = dir } }

// WithMaxExceptions bounds the exceptions a report lists (at least 1).
func WithMaxExceptions(n int) Option { return func(c *config) { c.maxExceptions = max(n, 1) } }

// WithMaxVoucherIDs bounds the voucher ids one exception lists (at least 1).
func WithMaxVoucherIDs(n int) Option { return func(c *config) { c.maxVoucherIDs = max(n, 1) } }

// ViewFunc opens a read transaction of the read model, as
// projection.Store.View does.
type ViewFunc func(fn func(projection.Snapshot) error) error

// WithParallelView lets a report use a second core: view opens a second
// read transaction of the same store (pass projection.Store.View), used
// only when it sees the same block height as the snapshot the report was
// given. The Service always does this.
func WithParallelView(view ViewFunc) Option { return func(c *config) { c.view = view } }

// WithClock replaces the clock that stamps GeneratedAt.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func newConfig(opts []Option) config {
	c := config{
		maxExceptions:   DefaultMaxExceptions,
		maxVoucherIDs:   DefaultMaxVoucherIDs,
		now:             time.Now,
		maxConcurrent:   DefaultMaxConcurrent,
		maxPaymentBytes: DefaultMaxPaymentBytes,
		maxPaymentRows:  DefaultMaxPaymentRows,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// invalid builds an INVALID_ARGUMENT rejection.
func invalid(format string, args ...any) error {
	return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// CheckPeriod validates a report period: PeriodAll, voucher.ProgramPeriod
// or a year 2000-2099.
func CheckPeriod(p string) error {
	if p == PeriodAll || p == voucher.ProgramPeriod {
		return nil
	}
	if len(p) == 4 && p >= "2000" && p <= "2099" {
		if _, err := strconv.Atoi(p); err == nil {
			return nil
		}
	}
	return invalid("period must be a year 2000-2099, %q or %q", voucher.ProgramPeriod, PeriodAll)
}

// cst is Beijing time, in which an as_of date ends.
var cst = time.FixedZone("CST", 8*3600)

// parseAsOf reads Query.AsOf.
func parseAsOf(s string) (time.Time, error) {
	if d, err := time.ParseInLocation(time.DateOnly, s, cst); err == nil && d.Format(time.DateOnly) == s {
		return d.AddDate(0, 0, 1).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid("as_of must be a date YYYY-MM-DD or an RFC 3339 instant")
	}
	return t.UTC(), nil
}

// Reconcile computes the reconciliation report of q from snap. It reads
// only inside the call: the result is self-contained and may be rendered
// after the snapshot's transaction has ended.
func Reconcile(ctx context.Context, snap projection.Snapshot, q Query, opts ...Option) (*Reconciliation, error) {
	cfg := newConfig(opts)
	if q.Period == "" {
		q.Period = PeriodAll
	}
	if err := CheckPeriod(q.Period); err != nil {
		return nil, err
	}
	b, err := newBuilder(cfg, snap, q)
	if err != nil {
		return nil, err
	}
	rec, err := b.run(ctx)
	if err != nil {
		_ = b.close()
		return nil, err
	}
	return rec, nil
}

// digestOf hashes the canonical content: the header, each agency row, the
// totals row and each listed exception, each as compact JSON on its own
// line, in report order.
func digestOf(h Header, rows []AgencyRow, totals AgencyRow, exc *spool) (string, error) {
	sum := sha256.New()
	line := func(hw hash.Hash, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		hw.Write(b)
		hw.Write([]byte{'\n'})
		return nil
	}
	if err := line(sum, h); err != nil {
		return "", err
	}
	for i := range rows {
		if err := line(sum, rows[i]); err != nil {
			return "", err
		}
	}
	if err := line(sum, totals); err != nil {
		return "", err
	}
	err := exc.lines(func(b []byte) error {
		sum.Write(b)
		sum.Write([]byte{'\n'})
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
