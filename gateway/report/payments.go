package report

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Payment is one row of the treasury's payment export.
type Payment struct {
	Line       int    `json:"line"`
	PaymentRef string `json:"payment_ref"`
	AgencyID   string `json:"agency_id"`
	AmountCNY  string `json:"amount"`
	PaidOn     string `json:"paid_on"`
	VoucherID  string `json:"voucher_id,omitempty"`
}

// BadRow is a row of the payment file that could not be used, with its
// line number (1 is the header line).
type BadRow struct {
	Line   int    `json:"line"`
	Detail string `json:"detail"`
}

// PaymentFile is a parsed treasury export.
type PaymentFile struct {
	Rows []Payment
	Bad  []BadRow
	// BadCount counts every bad row, also those beyond the listing bound.
	BadCount int
	// SHA256 is the hex digest of the file's bytes as received.
	SHA256 string
	Bytes  int64
}

// Bounds of a payment file.
const (
	// DefaultMaxPaymentBytes bounds an uploaded payment file.
	DefaultMaxPaymentBytes = 20 << 20
	// DefaultMaxPaymentRows bounds its data rows.
	DefaultMaxPaymentRows = 200_000
	// maxBadRows bounds the bad rows listed (all are counted).
	maxBadRows = 10_000
	// maxFieldRunes bounds one field, so a broken file cannot hide a
	// megabyte in a cell.
	maxFieldRunes = 256
)

// CodePayloadTooLarge is the code of an upload over a size or row limit
// (HTTP 413), the gateway's own code of the same name.
const CodePayloadTooLarge voucher.Code = "PAYLOAD_TOO_LARGE"

func tooLarge(format string, args ...any) error {
	return &voucher.Error{Code: CodePayloadTooLarge, Message: fmt.Sprintf(format, args...)}
}

// The columns of a payment file and the header names each is known by:
// English, the bilingual headers the reports themselves write, and the
// Chinese names of treasury exports. Headers match case-insensitively,
// ignoring spaces and underscores; a bilingual header "中文 / English"
// matches by either half.
var paymentColumns = []struct {
	name     string
	required bool
	aliases  []string
}{
	{"payment_ref", true, []string{"payment_ref", "paymentref", "payment reference", "ref", "支付凭证号", "国库集中支付凭证号", "凭证号", "支付编号"}},
	{"agency_id", true, []string{"agency_id", "agency", "agency id", "机构代码", "收款单位代码", "统一社会信用代码", "收款人代码"}},
	{"amount", true, []string{"amount", "amount cny", "金额", "支付金额", "付款金额"}},
	{"paid_on", true, []string{"paid_on", "paid on", "payment date", "date", "支付日期", "付款日期", "日期"}},
	{"voucher_id", false, []string{"voucher_id", "voucher", "voucher id", "券号", "创新券编号", "创新券号"}},
}

func normHeader(s string) string {
	s = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, utf8BOM)))
	return strings.NewReplacer(" ", "", "_", "", "-", "", "（", "(", "）", ")").Replace(s)
}

// columnOf names the payment column a header cell denotes, or "".
func columnOf(cell string) string {
	parts := []string{cell}
	if strings.Contains(cell, "/") {
		parts = append(parts, strings.Split(cell, "/")...)
	}
	for _, p := range parts {
		n := normHeader(p)
		for _, c := range paymentColumns {
			for _, a := range c.aliases {
				if n == normHeader(a) {
					return c.name
				}
			}
		}
	}
	return ""
}

var (
	groupedAmount = regexp.MustCompile(`^\d{1,3}(,\d{3})+(\.\d{1,2})?$`)
	voucherIDRE   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

// normAmount reads an amount as "5000.00", "5000", "5,000.00" or
// "¥5,000.00" and renders it with two places.
func normAmount(s string) (string, error) {
	s = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(s), "¥￥"))
	if groupedAmount.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	d, err := voucher.ParseMoney("amount", s)
	if err != nil {
		return "", err
	}
	return voucher.FormatMoney(d), nil
}

// normDate reads YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD.
func normDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.DateOnly, "2006/01/02", "20060102", "2006/1/2", "2006-1-2"} {
		if t, err := time.Parse(layout, s); err == nil {
			d := t.Format(time.DateOnly)
			if _, err := voucher.ParseDate("paid_on", d); err != nil {
				return "", err
			}
			return d, nil
		}
	}
	return "", invalid("paid_on %q is not a date YYYY-MM-DD", clipText(s))
}

// clipText shortens untrusted input quoted in a message.
func clipText(s string) string {
	const maxLen = 40
	if utf8.RuneCountInString(s) <= maxLen {
		return s
	}
	r := []rune(s)
	return string(r[:maxLen]) + "…"
}

// countingReader counts and hashes what passes, and fails past a limit.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
	sum   io.Writer
}

var errTooManyBytes = errors.New("payment file over the size limit")

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return 0, errTooManyBytes
	}
	_, _ = c.sum.Write(p[:n])
	return n, err
}

// ParsePayments reads a treasury payment export: CSV, header row first
// (columns found by name, in any order, Chinese names welcome), UTF-8 with
// or without a BOM, LF or CRLF line ends. Unusable rows are collected in
// Bad with their line numbers, never skipped silently. A file over
// maxBytes or with more than maxRows data rows is PAYLOAD_TOO_LARGE; a
// file without the required columns is INVALID_ARGUMENT.
func ParsePayments(r io.Reader, maxBytes int64, maxRows int) (*PaymentFile, error) {
	h := sha256.New()
	cr := &countingReader{r: r, limit: maxBytes, sum: h}
	br := bufio.NewReaderSize(cr, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte(utf8BOM)) {
		_, _ = br.Discard(3)
	}
	csvr := csv.NewReader(br)
	csvr.FieldsPerRecord = -1
	csvr.ReuseRecord = true
	header, err := csvr.Read()
	switch {
	case errors.Is(err, errTooManyBytes):
		return nil, tooLarge("the payment file is over the limit of %d bytes", maxBytes)
	case errors.Is(err, io.EOF):
		return nil, invalid("the payment file is empty: it needs a header row (payment_ref, agency_id, amount, paid_on[, voucher_id])")
	case err != nil:
		return nil, invalid("the payment file's header row is not CSV: %v", err)
	}
	idx, err := headerIndex(header)
	if err != nil {
		return nil, err
	}
	pf := &PaymentFile{}
	seen := map[string]int{}
	bad := func(line int, format string, args ...any) {
		pf.BadCount++
		if len(pf.Bad) < maxBadRows {
			pf.Bad = append(pf.Bad, BadRow{Line: line, Detail: fmt.Sprintf(format, args...)})
		}
	}
	for {
		rec, err := csvr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTooManyBytes) {
			return nil, tooLarge("the payment file is over the limit of %d bytes", maxBytes)
		}
		line, _ := csvr.FieldPos(0)
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if pe.StartLine > 0 {
				line = pe.StartLine
			}
			bad(line, "not CSV: %v", pe.Err)
			continue
		}
		if err != nil {
			return nil, invalid("reading the payment file: %v", err)
		}
		if len(pf.Rows)+pf.BadCount >= maxRows {
			return nil, tooLarge("the payment file has more than %d rows", maxRows)
		}
		p, problem := parsePaymentRow(rec, idx, line)
		if problem != "" {
			bad(line, "%s", problem)
			continue
		}
		if first, dup := seen[p.PaymentRef]; dup {
			bad(line, "payment reference %s is already on line %d", p.PaymentRef, first)
			continue
		}
		seen[p.PaymentRef] = line
		pf.Rows = append(pf.Rows, p)
	}
	pf.SHA256 = hex.EncodeToString(h.Sum(nil))
	pf.Bytes = cr.n
	return pf, nil
}

// headerIndex maps each payment column to its position in the header.
func headerIndex(header []string) (map[string]int, error) {
	idx := map[string]int{}
	for i, cell := range header {
		name := columnOf(cell)
		if name == "" {
			continue
		}
		if j, dup := idx[name]; dup {
			return nil, invalid("the header names column %s twice (columns %d and %d)", name, j+1, i+1)
		}
		idx[name] = i
	}
	var missing []string
	for _, c := range paymentColumns {
		if _, ok := idx[c.name]; c.required && !ok {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return nil, invalid("the payment file's header row lacks %s (columns: payment_ref, agency_id, amount, paid_on, optionally voucher_id; Chinese names such as 支付凭证号, 机构代码, 金额, 支付日期 are understood)",
			strings.Join(missing, ", "))
	}
	return idx, nil
}

// parsePaymentRow validates one data row; problem is empty when it is good.
func parsePaymentRow(rec []string, idx map[string]int, line int) (p Payment, problem string) {
	field := func(name string) string {
		i, ok := idx[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	for _, v := range rec {
		if !utf8.ValidString(v) {
			return p, "not valid UTF-8 (save the file as UTF-8 CSV)"
		}
		if utf8.RuneCountInString(v) > maxFieldRunes {
			return p, fmt.Sprintf("a field is over %d characters", maxFieldRunes)
		}
	}
	p = Payment{Line: line, PaymentRef: field("payment_ref"), AgencyID: field("agency_id"), VoucherID: field("voucher_id")}
	var problems []string
	if err := voucher.ValidatePaymentRef(p.PaymentRef); err != nil {
		problems = append(problems, message(err))
	}
	if err := voucher.ValidateUSCC(p.AgencyID); err != nil {
		problems = append(problems, "agency_id: "+message(err))
	}
	amount, err := normAmount(field("amount"))
	if err != nil {
		problems = append(problems, message(err))
	}
	p.AmountCNY = amount
	paid, err := normDate(field("paid_on"))
	if err != nil {
		problems = append(problems, message(err))
	}
	p.PaidOn = paid
	if p.VoucherID != "" && !voucherIDRE.MatchString(p.VoucherID) {
		problems = append(problems, fmt.Sprintf("voucher_id %q must be 1-64 letters, digits or '-'", clipText(p.VoucherID)))
	}
	return p, strings.Join(problems, "; ")
}

// message is an error's text without the code prefix of a *voucher.Error.
func message(err error) string {
	var ve *voucher.Error
	if errors.As(err, &ve) {
		return ve.Message
	}
	return err.Error()
}
