package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Report formats.
const (
	ReportJSON = "json"
	ReportCSV  = "csv"
	ReportXLSX = "xlsx"
)

// ReportQuery selects a report. Period is a year such as "2024",
// "program" or "all"; Format is ReportJSON (default), ReportCSV or
// ReportXLSX; Table picks the CSV table ("agencies" or "exceptions" of a
// reconciliation, "rows" or "bad_rows" of a treasury match); AsOf (a date
// YYYY-MM-DD or an RFC 3339 instant) judges stale vouchers against
// another instant than the ledger's own time.
type ReportQuery struct {
	Period string
	Format string
	Table  string
	AsOf   string
}

// ReportInfo names what a downloaded report was computed from (the
// gateway's X-Hongshan-* headers).
type ReportInfo struct {
	Digest   string
	Height   uint64
	HeadHash string
	Bytes    int64
}

// AgencyReport is one agency's row (or the totals row, agency id "TOTAL")
// of the reconciliation report. Amounts are CNY strings with two places.
type AgencyReport struct {
	AgencyID                 string `json:"agency_id"`
	Name                     string `json:"name"`
	Status                   string `json:"status"`
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
	OutstandingCount         int    `json:"outstanding_count"`
	OutstandingCNY           string `json:"outstanding_amount"`
	CapLimitCNY              string `json:"cap_limit"`
	CapUsedCNY               string `json:"cap_used"`
	CapRemainingCNY          string `json:"cap_remaining"`
	Exceptions               int    `json:"exceptions"`
}

// ReportException is one finding of the reconciliation report.
type ReportException struct {
	Code         string   `json:"code"`
	AgencyID     string   `json:"agency_id"`
	Period       string   `json:"period,omitempty"`
	VoucherIDs   []string `json:"voucher_ids"`
	VoucherCount int      `json:"voucher_count"`
	Detail       string   `json:"detail"`
}

// Reconciliation is the JSON reconciliation report without its exception
// list, which Reconciliation streams to a callback instead (it can hold a
// million lines).
type Reconciliation struct {
	Report              string         `json:"report"`
	FormatVersion       int            `json:"format_version"`
	Period              string         `json:"period"`
	Height              uint64         `json:"height"`
	HeadHash            string         `json:"head_hash"`
	AsOf                string         `json:"as_of"`
	AsOfSource          string         `json:"as_of_source"`
	StaleAfterDays      int            `json:"stale_after_days"`
	GeneratedAt         string         `json:"generated_at"`
	Digest              string         `json:"digest"`
	ExceptionCounts     map[string]int `json:"exception_counts"`
	ExceptionsListed    int            `json:"exceptions_listed"`
	ExceptionsTruncated bool           `json:"exceptions_truncated"`
	Agencies            []AgencyReport `json:"agencies"`
	Totals              AgencyReport   `json:"totals"`
}

// DefaultReportTimeout bounds one report request when the client's own
// timeout is shorter: a report reads the whole ledger before its first
// byte, and a workbook of a million exceptions takes a while to send.
const DefaultReportTimeout = 10 * time.Minute

// maxReportAgencies bounds the agency rows Reconciliation keeps.
const maxReportAgencies = 1_000_000

// Reconciliation fetches the JSON reconciliation report (finance and
// auditor). The agencies and totals are returned; each exception is passed
// to onException as it arrives (nil to skip them), never held.
func (c *Client) Reconciliation(ctx context.Context, q ReportQuery, onException func(ReportException) error) (*Reconciliation, error) {
	q.Format, q.Table = ReportJSON, ""
	var out *Reconciliation
	_, err := c.report(ctx, http.MethodGet, "/v1/reports/reconciliation", reconciliationQuery(q), "", nil, func(body io.Reader) error {
		var err error
		out, err = decodeReconciliation(body, onException)
		return err
	})
	return out, err
}

// DownloadReconciliation streams the reconciliation report in q.Format to
// w, as the gateway renders it (the JSON form is the one whose lines the
// digest covers).
func (c *Client) DownloadReconciliation(ctx context.Context, q ReportQuery, w io.Writer) (ReportInfo, error) {
	return c.report(ctx, http.MethodGet, "/v1/reports/reconciliation", reconciliationQuery(q), "", nil, copyTo(w))
}

// DownloadTreasuryMatch uploads the treasury's payment export (CSV:
// payment_ref, agency_id, amount, paid_on, optionally voucher_id) and
// streams the three-way match in q.Format to w. A POST with a body is
// never retried.
func (c *Client) DownloadTreasuryMatch(ctx context.Context, q ReportQuery, payments io.Reader, w io.Writer) (ReportInfo, error) {
	v := url.Values{}
	setNonEmpty(v, "period", q.Period)
	setNonEmpty(v, "format", q.Format)
	setNonEmpty(v, "table", q.Table)
	return c.report(ctx, http.MethodPost, "/v1/reports/reconciliation/payments", v, "text/csv; charset=utf-8", payments, copyTo(w))
}

func reconciliationQuery(q ReportQuery) url.Values {
	v := url.Values{}
	setNonEmpty(v, "period", q.Period)
	setNonEmpty(v, "format", q.Format)
	setNonEmpty(v, "table", q.Table)
	setNonEmpty(v, "as_of", q.AsOf)
	return v
}

func setNonEmpty(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

func copyTo(w io.Writer) func(io.Reader) error {
	return func(body io.Reader) error {
		_, err := io.Copy(w, body)
		return err
	}
}

// report sends one report request and hands the successful body to
// consume. A GET is retried as the client is configured, as long as
// consume has not been called; a POST never is.
func (c *Client) report(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, consume func(io.Reader) error) (ReportInfo, error) {
	attempts := 1
	if method == http.MethodGet {
		attempts = c.attempts
	}
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			if err := sleepCtx(ctx, c.backoff(attempt-1)); err != nil {
				return ReportInfo{}, lastErr
			}
		}
		resp, cancel, err := c.sendReport(ctx, method, path, q, contentType, body)
		if err == nil {
			info, err := c.finishReport(resp, method, path, consume)
			cancel()
			if err == nil || !errors.As(err, new(*Error)) {
				return info, err
			}
			lastErr = err
		} else {
			lastErr = err
		}
		if ctx.Err() != nil || !shouldRetry(lastErr) {
			return ReportInfo{}, lastErr
		}
	}
	return ReportInfo{}, lastErr
}

func (c *Client) sendReport(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader) (*http.Response, context.CancelFunc, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	timeout := max(c.timeout, DefaultReportTimeout)
	actx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(actx, method, u.String(), body)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json, text/csv, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		cancel()
		return nil, nil, &TransportError{Method: method, URL: u.Redacted(), Err: err}
	}
	return resp, cancel, nil
}

// finishReport decodes a rejection, or passes a success to consume.
func (c *Client) finishReport(resp *http.Response, method, path string, consume func(io.Reader) error) (ReportInfo, error) {
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return ReportInfo{}, decodeError(resp, b)
	}
	info := ReportInfo{Digest: resp.Header.Get("X-Hongshan-Report-Digest"), HeadHash: resp.Header.Get("X-Hongshan-Head-Hash")}
	info.Height, _ = strconv.ParseUint(resp.Header.Get("X-Hongshan-Block-Height"), 10, 64)
	cr := &countingReader{r: resp.Body}
	if err := consume(cr); err != nil {
		var te *TransportError
		if errors.As(err, &te) {
			return info, err
		}
		return info, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	info.Bytes = cr.n
	return info, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decodeReconciliation keeps everything of the JSON report but the
// exceptions, which go one by one to onException.
func decodeReconciliation(r io.Reader, onException func(ReportException) error) (*Reconciliation, error) {
	out := &Reconciliation{}
	err := decodeReport(r, out, map[string]func(*json.Decoder) error{
		"agencies": func(dec *json.Decoder) error {
			if len(out.Agencies) == maxReportAgencies {
				return fmt.Errorf("report has over %d agency rows", maxReportAgencies)
			}
			var a AgencyReport
			if err := dec.Decode(&a); err != nil {
				return err
			}
			out.Agencies = append(out.Agencies, a)
			return nil
		},
		"exceptions": func(dec *json.Decoder) error {
			var e ReportException
			if err := dec.Decode(&e); err != nil {
				return err
			}
			if onException != nil {
				return onException(e)
			}
			return nil
		},
	})
	return out, err
}

// maxScalarFields bounds the top-level fields decodeReport keeps.
const maxScalarFields = 64

// decodeReport walks a report's top-level JSON object: each array named in
// arrays is streamed element by element to its function; every other field
// is decoded into out by its json tag.
func decodeReport(r io.Reader, out any, arrays map[string]func(*json.Decoder) error) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if elem, ok := arrays[key]; ok {
			if err := expectDelim(dec, '['); err != nil {
				return err
			}
			for dec.More() {
				if err := elem(dec); err != nil {
					return err
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return err
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if len(raw) < maxScalarFields {
			raw[key] = v
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	for k := range arrays {
		delete(raw, k)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// MatchRow is one payment of a treasury match: a ledger voucher with a
// payment reference, a row of the file (Line), or both. Category is
// matched, ledger_only, file_only or mismatch (Mismatches then names
// amount, agency, voucher or ref_reused_on_ledger).
type MatchRow struct {
	Category        string   `json:"category"`
	Mismatches      []string `json:"mismatches,omitempty"`
	PaymentRef      string   `json:"payment_ref"`
	Line            int      `json:"line,omitempty"`
	VoucherID       string   `json:"voucher_id,omitempty"`
	Period          string   `json:"period,omitempty"`
	LedgerAgencyID  string   `json:"ledger_agency_id,omitempty"`
	FileAgencyID    string   `json:"file_agency_id,omitempty"`
	LedgerAmountCNY string   `json:"ledger_amount,omitempty"`
	FileAmountCNY   string   `json:"file_amount,omitempty"`
	LedgerPaidOn    string   `json:"ledger_paid_on,omitempty"`
	FilePaidOn      string   `json:"file_paid_on,omitempty"`
	FileVoucherID   string   `json:"file_voucher_id,omitempty"`
}

// MatchSummary counts a treasury match's rows by category.
type MatchSummary struct {
	FileRows            int    `json:"file_rows"`
	FileAmountCNY       string `json:"file_amount"`
	LedgerPayments      int    `json:"ledger_payments"`
	LedgerAmountCNY     string `json:"ledger_amount"`
	Matched             int    `json:"matched"`
	MatchedAmountCNY    string `json:"matched_amount"`
	LedgerOnly          int    `json:"ledger_only"`
	LedgerOnlyAmountCNY string `json:"ledger_only_amount"`
	FileOnly            int    `json:"file_only"`
	FileOnlyAmountCNY   string `json:"file_only_amount"`
	AmountMismatch      int    `json:"amount_mismatch"`
	AgencyMismatch      int    `json:"agency_mismatch"`
	VoucherMismatch     int    `json:"voucher_mismatch"`
	ReusedOnLedger      int    `json:"ref_reused_on_ledger"`
	BadRows             int    `json:"bad_rows"`
}

// BadRow is a row of the payment file the gateway could not use, with its
// line number (the header is line 1).
type BadRow struct {
	Line   int    `json:"line"`
	Detail string `json:"detail"`
}

// TreasuryMatch is the JSON treasury match without its rows, which
// TreasuryMatch streams to a callback instead.
type TreasuryMatch struct {
	Report           string       `json:"report"`
	FormatVersion    int          `json:"format_version"`
	Period           string       `json:"period"`
	Height           uint64       `json:"height"`
	HeadHash         string       `json:"head_hash"`
	FileSHA256       string       `json:"file_sha256"`
	FileBytes        int64        `json:"file_bytes"`
	GeneratedAt      string       `json:"generated_at"`
	Digest           string       `json:"digest"`
	Summary          MatchSummary `json:"summary"`
	BadRowsTruncated bool         `json:"bad_rows_truncated"`
	BadRows          []BadRow     `json:"-"`
}

// maxBadRows bounds the bad rows TreasuryMatch keeps (the gateway lists at
// most 10,000).
const maxBadRows = 100_000

// TreasuryMatch uploads the treasury's payment export and returns the JSON
// match; each row is passed to onRow as it arrives (nil to skip them).
func (c *Client) TreasuryMatch(ctx context.Context, period string, payments io.Reader, onRow func(MatchRow) error) (*TreasuryMatch, error) {
	v := url.Values{}
	setNonEmpty(v, "period", period)
	out := &TreasuryMatch{}
	_, err := c.report(ctx, http.MethodPost, "/v1/reports/reconciliation/payments", v, "text/csv; charset=utf-8", payments, func(body io.Reader) error {
		return decodeReport(body, out, map[string]func(*json.Decoder) error{
			"bad_rows": func(dec *json.Decoder) error {
				var b BadRow
				if err := dec.Decode(&b); err != nil {
					return err
				}
				if len(out.BadRows) < maxBadRows {
					out.BadRows = append(out.BadRows, b)
				}
				return nil
			},
			"rows": func(dec *json.Decoder) error {
				var r MatchRow
				if err := dec.Decode(&r); err != nil {
					return err
				}
				if onRow != nil {
					return onRow(r)
				}
				return nil
			},
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("unexpected %v in the report, want %v", tok, want)
	}
	return nil
}
