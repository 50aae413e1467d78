package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// Categories of a match row.
const (
	MatchMatched    = "matched"
	MatchLedgerOnly = "ledger_only"
	MatchFileOnly   = "file_only"
	MatchMismatch   = "mismatch"
)

// Kinds of mismatch a row of category MatchMismatch names.
const (
	MismatchAmount  = "amount"
	MismatchAgency  = "agency"
	MismatchVoucher = "voucher"
	// MismatchReusedRef: a second voucher on the ledger carries a payment
	// reference the file pays once.
	MismatchReusedRef = "ref_reused_on_ledger"
)

// MatchRow is one payment seen from both sides: a ledger voucher with a
// payment reference, a row of the treasury file, or both.
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

// MatchSummary counts the rows of each category. Ledger figures cover
// the vouchers of the period; a file row is matched against the whole
// ledger, so a payment of a voucher of another period is matched, not
// reported as missing.
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

// MatchHeader names what a match was computed from.
type MatchHeader struct {
	Report        string `json:"report"`
	FormatVersion int    `json:"format_version"`
	Period        string `json:"period"`
	Height        uint64 `json:"height"`
	HeadHash      string `json:"head_hash"`
	FileSHA256    string `json:"file_sha256"`
	FileBytes     int64  `json:"file_bytes"`
}

// Match is a computed three-way match. Its rows wait in a temporary file
// until rendered: Close it.
type Match struct {
	MatchHeader
	GeneratedAt string
	// Digest is the hex SHA-256 of the canonical content (header, summary,
	// bad rows, rows; not GeneratedAt).
	Digest           string
	Summary          MatchSummary
	BadRows          []BadRow
	BadRowsTruncated bool

	rows *spool
}

// Close releases the spooled rows.
func (m *Match) Close() error { return m.rows.close() }

// Rows calls fn with each row: ledger vouchers in agency order, then the
// file's rows not on the ledger in line order.
func (m *Match) Rows(fn func(MatchRow) error) error { return each(m.rows, fn) }

// matchTally sums the amounts of a summary exactly.
type matchTally struct {
	file, ledger, matched, ledgerOnly, fileOnly fen
}

// MatchPayments matches the ledger's payments in period against file. It
// reads only inside the call; the result may be rendered afterwards.
func MatchPayments(ctx context.Context, snap projection.Snapshot, period string, file *PaymentFile, opts ...Option) (*Match, error) {
	cfg := newConfig(opts)
	if period == "" {
		period = PeriodAll
	}
	if err := CheckPeriod(period); err != nil {
		return nil, err
	}
	dir := cfg.tempDir
	if dir == "" {
		dir = os.TempDir()
	}
	rows, err := newSpool(dir, maxSpoolBytes)
	if err != nil {
		return nil, err
	}
	m, err := matchInto(ctx, snap, period, file, rows, cfg)
	if err != nil {
		_ = rows.close()
		return nil, err
	}
	return m, nil
}

func matchInto(ctx context.Context, snap projection.Snapshot, period string, file *PaymentFile, rows *spool, cfg config) (*Match, error) {
	height, head := snap.Head()
	byRef := make(map[string]int, len(file.Rows))
	for i := range file.Rows {
		byRef[file.Rows[i].PaymentRef] = i
	}
	used := make([]bool, len(file.Rows))
	var s MatchSummary
	var t matchTally
	var amounts amountCache
	var err error
	for i := range file.Rows {
		a, err := parseFen(file.Rows[i].AmountCNY)
		if err != nil {
			return nil, err
		}
		if t.file, err = t.file.add(a); err != nil {
			return nil, err
		}
	}
	s.FileRows, s.BadRows = len(file.Rows), file.BadCount
	n := 0
	err = snap.ForEachVoucher(func(v voucher.Voucher) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if v.PaymentRef == "" {
			return nil
		}
		inPeriod := period == PeriodAll || v.Period == period
		paidStr := v.PaidAmountCNY
		if paidStr == "" {
			paidStr = v.AmountCNY
		}
		paid, err := amounts.parse(paidStr)
		if err != nil {
			return fmt.Errorf("voucher %s: %w", v.ID, err)
		}
		if inPeriod {
			s.LedgerPayments++
			if t.ledger, err = t.ledger.add(paid); err != nil {
				return err
			}
		}
		row := MatchRow{PaymentRef: v.PaymentRef, VoucherID: v.ID, Period: v.Period,
			LedgerAgencyID: v.AgencyID, LedgerAmountCNY: paid.String(), LedgerPaidOn: v.PaidOn}
		i, inFile := byRef[v.PaymentRef]
		if !inFile {
			if !inPeriod {
				return nil
			}
			row.Category = MatchLedgerOnly
			s.LedgerOnly++
			if t.ledgerOnly, err = t.ledgerOnly.add(paid); err != nil {
				return err
			}
			return rows.add(row)
		}
		p := &file.Rows[i]
		row.Line, row.FileAgencyID, row.FileAmountCNY, row.FilePaidOn, row.FileVoucherID = p.Line, p.AgencyID, p.AmountCNY, p.PaidOn, p.VoucherID
		if used[i] {
			row.Category, row.Mismatches = MatchMismatch, []string{MismatchReusedRef}
			s.ReusedOnLedger++
			return rows.add(row)
		}
		used[i] = true
		fileAmount, err := parseFen(p.AmountCNY)
		if err != nil {
			return err
		}
		if fileAmount != paid {
			row.Mismatches = append(row.Mismatches, MismatchAmount)
			s.AmountMismatch++
		}
		if p.AgencyID != v.AgencyID {
			row.Mismatches = append(row.Mismatches, MismatchAgency)
			s.AgencyMismatch++
		}
		if p.VoucherID != "" && p.VoucherID != v.ID {
			row.Mismatches = append(row.Mismatches, MismatchVoucher)
			s.VoucherMismatch++
		}
		row.Category = MatchMismatch
		if len(row.Mismatches) == 0 {
			row.Category = MatchMatched
			s.Matched++
			if t.matched, err = t.matched.add(paid); err != nil {
				return err
			}
		}
		return rows.add(row)
	})
	if err != nil {
		return nil, fmt.Errorf("report: match: %w", err)
	}
	for i := range file.Rows {
		if used[i] {
			continue
		}
		p := &file.Rows[i]
		a, err := parseFen(p.AmountCNY)
		if err != nil {
			return nil, err
		}
		s.FileOnly++
		if t.fileOnly, err = t.fileOnly.add(a); err != nil {
			return nil, err
		}
		err = rows.add(MatchRow{Category: MatchFileOnly, PaymentRef: p.PaymentRef, Line: p.Line,
			FileAgencyID: p.AgencyID, FileAmountCNY: p.AmountCNY, FilePaidOn: p.PaidOn, FileVoucherID: p.VoucherID})
		if err != nil {
			return nil, err
		}
	}
	s.FileAmountCNY, s.LedgerAmountCNY, s.MatchedAmountCNY = t.file.String(), t.ledger.String(), t.matched.String()
	s.LedgerOnlyAmountCNY, s.FileOnlyAmountCNY = t.ledgerOnly.String(), t.fileOnly.String()
	m := &Match{
		MatchHeader: MatchHeader{Report: "treasury_match", FormatVersion: 1, Period: period, Height: height, HeadHash: head,
			FileSHA256: file.SHA256, FileBytes: file.Bytes},
		GeneratedAt:      cfg.now().UTC().Format(time.RFC3339),
		Summary:          s,
		BadRows:          file.Bad,
		BadRowsTruncated: file.BadCount > len(file.Bad),
		rows:             rows,
	}
	if m.BadRows == nil {
		m.BadRows = []BadRow{}
	}
	if m.Digest, err = m.digest(); err != nil {
		return nil, err
	}
	return m, nil
}

// digest hashes the canonical content: header, summary, each bad row and
// each match row as compact JSON lines.
func (m *Match) digest() (string, error) {
	sum := sha256.New()
	for _, v := range []any{m.MatchHeader, m.Summary} {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		sum.Write(append(b, '\n'))
	}
	for _, br := range m.BadRows {
		b, err := json.Marshal(br)
		if err != nil {
			return "", err
		}
		sum.Write(append(b, '\n'))
	}
	err := m.rows.lines(func(b []byte) error {
		sum.Write(b)
		sum.Write([]byte{'\n'})
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// Tables of a match's CSV rendering.
const (
	TableRows    = "rows"
	TableBadRows = "bad_rows"
)

// Sheet names of the match workbook.
const (
	SheetMatch   = "核对 Match"
	SheetBadRows = "错误行 Bad rows"
)

func intOrBlank(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

var matchColumns = []column[MatchRow]{
	{"核对结果", "Category", kindText, 14, func(r *MatchRow) string { return r.Category }},
	{"差异", "Mismatches", kindText, 18, func(r *MatchRow) string { return joinComma(r.Mismatches) }},
	{"支付凭证号", "Payment ref", kindText, 24, func(r *MatchRow) string { return r.PaymentRef }},
	{"文件行号", "File line", kindInt, 10, func(r *MatchRow) string { return intOrBlank(r.Line) }},
	{"券号", "Voucher ID", kindText, 26, func(r *MatchRow) string { return r.VoucherID }},
	{"期间", "Period", kindText, 10, func(r *MatchRow) string { return r.Period }},
	{"账本机构代码", "Ledger agency ID", kindText, 22, func(r *MatchRow) string { return r.LedgerAgencyID }},
	{"文件机构代码", "File agency ID", kindText, 22, func(r *MatchRow) string { return r.FileAgencyID }},
	{"账本金额", "Ledger amount", kindMoney, 16, func(r *MatchRow) string { return r.LedgerAmountCNY }},
	{"文件金额", "File amount", kindMoney, 16, func(r *MatchRow) string { return r.FileAmountCNY }},
	{"账本支付日期", "Ledger paid on", kindText, 14, func(r *MatchRow) string { return r.LedgerPaidOn }},
	{"文件支付日期", "File paid on", kindText, 14, func(r *MatchRow) string { return r.FilePaidOn }},
	{"文件券号", "File voucher ID", kindText, 26, func(r *MatchRow) string { return r.FileVoucherID }},
}

var badRowColumns = []column[BadRow]{
	{"行号", "Line", kindInt, 10, func(r *BadRow) string { return strconv.Itoa(r.Line) }},
	{"问题", "Problem", kindText, 100, func(r *BadRow) string { return r.Detail }},
}

func joinComma(s []string) string { return strings.Join(s, ",") }

// Write renders the match in format. A CSV file holds one table: table is
// TableRows (the default) or TableBadRows.
func (m *Match) Write(w io.Writer, format, table string) error {
	switch format {
	case FormatJSON:
		return m.writeJSON(w)
	case FormatCSV:
		switch table {
		case "", TableRows:
			return writeCSV(w, matchColumns, func(fn func(*MatchRow) error) error {
				return m.Rows(func(r MatchRow) error { return fn(&r) })
			})
		case TableBadRows:
			return writeCSV(w, badRowColumns, func(fn func(*BadRow) error) error {
				for i := range m.BadRows {
					if err := fn(&m.BadRows[i]); err != nil {
						return err
					}
				}
				return nil
			})
		}
		return invalid("table must be %q or %q", TableRows, TableBadRows)
	case FormatXLSX:
		return m.writeXLSX(w)
	}
	return invalid("format must be json, csv or xlsx")
}

type matchJSONHead struct {
	MatchHeader
	GeneratedAt      string       `json:"generated_at"`
	Digest           string       `json:"digest"`
	Summary          MatchSummary `json:"summary"`
	BadRowsTruncated bool         `json:"bad_rows_truncated"`
}

func (m *Match) writeJSON(w io.Writer) error {
	head, err := json.Marshal(matchJSONHead{MatchHeader: m.MatchHeader, GeneratedAt: m.GeneratedAt, Digest: m.Digest,
		Summary: m.Summary, BadRowsTruncated: m.BadRowsTruncated})
	if err != nil {
		return err
	}
	sw := newStickyWriter(w)
	sw.write(head[:len(head)-1])
	sw.str(",\n\"bad_rows\":[")
	for i := range m.BadRows {
		sw.jsonLine(i, m.BadRows[i])
	}
	sw.str("\n],\n\"rows\":[")
	if err := sw.spooledLines(m.rows); err != nil {
		return err
	}
	sw.str("\n]}\n")
	return sw.flush()
}

func (m *Match) writeXLSX(w io.Writer) error {
	wb, err := newWorkbook(m.rows.dir())
	if err != nil {
		return err
	}
	defer wb.f.Close()
	s := &m.Summary
	lines := []summaryLine{
		{"报表 / Report", kindText, "国库支付核对 / Treasury payment match"},
		{"期间 / Period", kindText, m.Period},
		{"区块高度 / Block height", kindInt, strconv.FormatUint(m.Height, 10)},
		{"区块哈希 / Head hash", kindText, m.HeadHash},
		{"文件摘要 SHA-256 / File digest", kindText, m.FileSHA256},
		{"内容摘要 SHA-256 / Content digest", kindText, m.Digest},
		{"生成时间 / Generated at", kindText, m.GeneratedAt},
		{"", kindText, ""},
		{"文件行数 / File rows", kindInt, itoa(s.FileRows)},
		{"文件金额 / File amount", kindMoney, s.FileAmountCNY},
		{"账本支付数 / Ledger payments", kindInt, itoa(s.LedgerPayments)},
		{"账本金额 / Ledger amount", kindMoney, s.LedgerAmountCNY},
		{"一致 / Matched", kindInt, itoa(s.Matched)},
		{"一致金额 / Matched amount", kindMoney, s.MatchedAmountCNY},
		{"仅账本 / On the ledger only", kindInt, itoa(s.LedgerOnly)},
		{"仅账本金额 / Ledger-only amount", kindMoney, s.LedgerOnlyAmountCNY},
		{"仅文件 / In the file only", kindInt, itoa(s.FileOnly)},
		{"仅文件金额 / File-only amount", kindMoney, s.FileOnlyAmountCNY},
		{"金额不符 / Amount mismatch", kindInt, itoa(s.AmountMismatch)},
		{"机构不符 / Agency mismatch", kindInt, itoa(s.AgencyMismatch)},
		{"券号不符 / Voucher mismatch", kindInt, itoa(s.VoucherMismatch)},
		{"凭证号重复使用 / Reference reused on the ledger", kindInt, itoa(s.ReusedOnLedger)},
		{"错误行 / Bad rows", kindInt, itoa(s.BadRows)},
	}
	if err := writeSummarySheet(wb, lines); err != nil {
		return err
	}
	err = writeTable(wb, SheetMatch, matchColumns, func(fn func(*MatchRow, bool) error) error {
		return m.Rows(func(r MatchRow) error { return fn(&r, false) })
	})
	if err != nil {
		return err
	}
	err = writeTable(wb, SheetBadRows, badRowColumns, func(fn func(*BadRow, bool) error) error {
		for i := range m.BadRows {
			if err := fn(&m.BadRows[i], false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.f.Write(w)
}
