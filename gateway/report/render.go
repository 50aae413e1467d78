package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// cellKind says how a column is rendered: text, a count, or money.
type cellKind int

const (
	kindText cellKind = iota
	kindInt
	kindMoney
)

// column is one column of a rendered table, with its bilingual title
// ("机构代码 / Agency ID") and its width in an XLSX sheet.
type column[T any] struct {
	zh, en string
	kind   cellKind
	width  float64
	get    func(*T) string
}

func (c column[T]) title() string { return c.zh + " / " + c.en }

// agencyColumns are the columns of the agencies table, in order.
var agencyColumns = []column[AgencyRow]{
	{"机构代码", "Agency ID", kindText, 22, func(r *AgencyRow) string { return r.AgencyID }},
	{"机构名称", "Agency name", kindText, 36, func(r *AgencyRow) string { return r.Name }},
	{"状态", "Status", kindText, 12, func(r *AgencyRow) string { return r.Status }},
	{"认定企业数", "Enterprises credited", kindInt, 14, func(r *AgencyRow) string { return itoa(r.EnterprisesCredited) }},
	{"已发放数", "Issued count", kindInt, 12, func(r *AgencyRow) string { return itoa(r.IssuedCount) }},
	{"已发放金额", "Issued amount", kindMoney, 16, func(r *AgencyRow) string { return r.IssuedCNY }},
	{"申请兑付数", "Redemption requested count", kindInt, 14, func(r *AgencyRow) string { return itoa(r.RedemptionRequestedCount) }},
	{"申请兑付金额", "Redemption requested amount", kindMoney, 16, func(r *AgencyRow) string { return r.RedemptionRequestedCNY }},
	{"已兑付数", "Reimbursed count", kindInt, 12, func(r *AgencyRow) string { return itoa(r.ReimbursedCount) }},
	{"已兑付金额", "Reimbursed amount", kindMoney, 16, func(r *AgencyRow) string { return r.ReimbursedCNY }},
	{"已驳回数", "Rejected count", kindInt, 12, func(r *AgencyRow) string { return itoa(r.RejectedCount) }},
	{"已驳回金额", "Rejected amount", kindMoney, 16, func(r *AgencyRow) string { return r.RejectedCNY }},
	{"已撤销数", "Revoked count", kindInt, 12, func(r *AgencyRow) string { return itoa(r.RevokedCount) }},
	{"已撤销金额", "Revoked amount", kindMoney, 16, func(r *AgencyRow) string { return r.RevokedCNY }},
	{"待兑付数", "Outstanding count", kindInt, 12, func(r *AgencyRow) string { return itoa(r.OutstandingCount) }},
	{"待兑付金额", "Outstanding amount", kindMoney, 16, func(r *AgencyRow) string { return r.OutstandingCNY }},
	{"上限", "Cap limit", kindMoney, 16, func(r *AgencyRow) string { return r.CapLimitCNY }},
	{"已用额度", "Cap used", kindMoney, 16, func(r *AgencyRow) string { return r.CapUsedCNY }},
	{"剩余额度", "Cap remaining", kindMoney, 16, func(r *AgencyRow) string { return r.CapRemainingCNY }},
	{"异常数", "Exceptions", kindInt, 10, func(r *AgencyRow) string { return itoa(r.Exceptions) }},
}

// exceptionColumns are the columns of the exceptions table.
var exceptionColumns = []column[Exception]{
	{"异常代码", "Code", kindText, 30, func(e *Exception) string { return e.Code }},
	{"机构代码", "Agency ID", kindText, 22, func(e *Exception) string { return e.AgencyID }},
	{"期间", "Period", kindText, 10, func(e *Exception) string { return e.Period }},
	{"涉及券数", "Voucher count", kindInt, 12, func(e *Exception) string { return itoa(e.VoucherCount) }},
	{"券号", "Voucher IDs", kindText, 48, func(e *Exception) string { return strings.Join(e.VoucherIDs, " ") }},
	{"说明", "Detail", kindText, 80, func(e *Exception) string { return e.Detail }},
}

// Tables a CSV rendering can hold (one table a file).
const (
	TableAgencies   = "agencies"
	TableExceptions = "exceptions"
)

// utf8BOM makes Excel read a CSV file as UTF-8 (it would show Chinese as
// mojibake otherwise).
const utf8BOM = "\uFEFF"

// Write renders the report in format (FormatJSON, FormatCSV, FormatXLSX).
// A CSV file holds one table: table is TableAgencies (the default, with
// the totals row last) or TableExceptions.
func (r *Reconciliation) Write(w io.Writer, format, table string) error {
	switch format {
	case FormatJSON:
		return r.writeJSON(w)
	case FormatCSV:
		switch table {
		case "", TableAgencies:
			rows := append(append(make([]AgencyRow, 0, len(r.Agencies)+1), r.Agencies...), r.Totals)
			return writeCSV(w, agencyColumns, func(fn func(*AgencyRow) error) error {
				for i := range rows {
					if err := fn(&rows[i]); err != nil {
						return err
					}
				}
				return nil
			})
		case TableExceptions:
			return writeCSV(w, exceptionColumns, func(fn func(*Exception) error) error {
				return r.Exceptions(func(e Exception) error { return fn(&e) })
			})
		}
		return invalid("table must be %q or %q", TableAgencies, TableExceptions)
	case FormatXLSX:
		return r.writeXLSX(w)
	}
	return invalid("format must be json, csv or xlsx")
}

// jsonHead is the JSON report's opening fields.
type jsonHead struct {
	Header
	GeneratedAt         string         `json:"generated_at"`
	Digest              string         `json:"digest"`
	ExceptionCounts     map[string]int `json:"exception_counts"`
	ExceptionsListed    int            `json:"exceptions_listed"`
	ExceptionsTruncated bool           `json:"exceptions_truncated"`
}

// writeJSON streams the report as one JSON object with one agency, and one
// exception, a line: each such line is exactly the canonical line the
// digest covers.
func (r *Reconciliation) writeJSON(w io.Writer) error {
	counts := map[string]int{}
	for _, c := range ExceptionCodes {
		counts[c] = r.ExceptionCounts[c]
	}
	head, err := json.Marshal(jsonHead{Header: r.Header, GeneratedAt: r.GeneratedAt, Digest: r.Digest,
		ExceptionCounts: counts, ExceptionsListed: r.ExceptionsListed, ExceptionsTruncated: r.ExceptionsTruncated})
	if err != nil {
		return err
	}
	sw := newStickyWriter(w)
	sw.write(head[:len(head)-1])
	sw.str(",\n\"agencies\":[")
	for i := range r.Agencies {
		sw.jsonLine(i, r.Agencies[i])
	}
	sw.str("\n],\n\"totals\":")
	sw.json(r.Totals)
	sw.str(",\n\"exceptions\":[")
	if err := sw.spooledLines(r.exceptions); err != nil {
		return err
	}
	sw.str("\n]}\n")
	return sw.flush()
}

// stickyWriter is a buffered writer that keeps its first error, so a
// long rendering checks once at the end.
type stickyWriter struct {
	w   *bufio.Writer
	err error
}

func newStickyWriter(w io.Writer) *stickyWriter {
	return &stickyWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (s *stickyWriter) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *stickyWriter) str(v string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(v)
	}
}

func (s *stickyWriter) json(v any) {
	if s.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.err = err
		return
	}
	s.write(b)
}

// spooledLines writes a spool's JSON lines as the elements of an array
// whose opening bracket is already written.
func (s *stickyWriter) spooledLines(sp *spool) error {
	n := 0
	return sp.lines(func(b []byte) error {
		if n > 0 {
			s.str(",")
		}
		s.str("\n")
		s.write(b)
		n++
		return s.err
	})
}

// jsonLine writes the i-th element of an array on its own line.
func (s *stickyWriter) jsonLine(i int, v any) {
	if i > 0 {
		s.str(",")
	}
	s.str("\n")
	s.json(v)
}

func (s *stickyWriter) flush() error {
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// writeCSV writes a UTF-8 CSV file with a BOM and bilingual headers.
func writeCSV[T any](w io.Writer, cols []column[T], rows func(func(*T) error) error) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(utf8BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true // what Excel writes and expects
	rec := make([]string, len(cols))
	for i, c := range cols {
		rec[i] = c.title()
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	err := rows(func(r *T) error {
		for i, c := range cols {
			rec[i] = c.get(r)
			if c.kind == kindText {
				rec[i] = defuseFormula(rec[i])
			}
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// defuseFormula keeps a spreadsheet from running text as a formula (CSV
// injection): text starting with = + - @ or a control character gets a
// leading apostrophe, which Excel shows as text. Numbers and money are
// never text cells, so negative amounts stay numbers.
func defuseFormula(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// contentDisposition names a download: hongshan-reconciliation-2024-h123.csv.
func contentDisposition(kind, period string, height uint64, table, format string) string {
	name := fmt.Sprintf("hongshan-%s-%s-h%s", kind, period, strconv.FormatUint(height, 10))
	if table != "" && table != TableAgencies {
		name += "-" + table
	}
	return `attachment; filename="` + name + "." + format + `"`
}
