package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
	"github.com/hongshan-ledger/hongshan/gateway/report/internal/synth"
)

func parse(t *testing.T, body string) *PaymentFile {
	t.Helper()
	pf, err := ParsePayments(strings.NewReader(body), DefaultMaxPaymentBytes, DefaultMaxPaymentRows)
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

func TestParsePaymentsToleratesBOMCRLFOrderAndChineseHeaders(t *testing.T) {
	agency := synth.AgencyID(1)
	body := "\uFEFF金额,支付日期,机构代码 / Agency ID,国库集中支付凭证号,券号\r\n" +
		"\"5,000.00\",2024/03/05," + agency + ",GK001,V-2024-0000000000000001\r\n" +
		"¥1234.5,20240306," + agency + ",GK002,\r\n"
	pf := parse(t, body)
	want := []Payment{
		{Line: 2, PaymentRef: "GK001", AgencyID: agency, AmountCNY: "5000.00", PaidOn: "2024-03-05", VoucherID: "V-2024-0000000000000001"},
		{Line: 3, PaymentRef: "GK002", AgencyID: agency, AmountCNY: "1234.50", PaidOn: "2024-03-06"},
	}
	if !slices.Equal(pf.Rows, want) || len(pf.Bad) != 0 {
		t.Errorf("rows %+v bad %+v", pf.Rows, pf.Bad)
	}
	if len(pf.SHA256) != 64 || pf.Bytes != int64(len(body)) {
		t.Errorf("file digest %q, %d bytes of %d", pf.SHA256, pf.Bytes, len(body))
	}
}

func TestParsePaymentsReportsBadRowsWithLineNumbers(t *testing.T) {
	agency := synth.AgencyID(1)
	lines := []string{
		"payment_ref,agency_id,amount,paid_on",            // 1
		"GK001," + agency + ",5000.00,2024-03-05",         // 2 good
		"GK002,91650104000000019X,5000.00,2024-03-05",     // 3 bad USCC
		"GK003," + agency + ",5000.001,2024-03-05",        // 4 three decimals
		"GK004," + agency + ",5000.00,2024-02-30",         // 5 no such day
		"GK001," + agency + ",5000.00,2024-03-05",         // 6 reference repeated
		"\"GK005\nsplit\"," + agency + ",1.00,2024-03-05", // 7-8 a quoted line break
		"GK006," + agency + ",\"bad\"quote,2024-03-05",    // 9 broken quoting
		"GK007," + agency + ",-5.00,2024-03-05",           // 10 negative
		"GK008," + agency + ",7.00,2024-03-07",            // 11 good
		"GK 9," + agency,                                  // 12 short row, bad ref
	}
	pf := parse(t, strings.Join(lines, "\n")+"\n")
	var good []string
	for _, r := range pf.Rows {
		good = append(good, fmt.Sprintf("%d:%s", r.Line, r.PaymentRef))
	}
	if strings.Join(good, " ") != "2:GK001 11:GK008" {
		t.Errorf("good rows %v", good)
	}
	var bad []int
	for _, b := range pf.Bad {
		bad = append(bad, b.Line)
		if b.Detail == "" {
			t.Errorf("line %d: no detail", b.Line)
		}
	}
	if !slices.Equal(bad, []int{3, 4, 5, 6, 7, 9, 10, 12}) || pf.BadCount != 8 {
		t.Errorf("bad lines %v (count %d): %+v", bad, pf.BadCount, pf.Bad)
	}
	if !strings.Contains(pf.Bad[3].Detail, "already on line 2") {
		t.Errorf("the repeated reference names its first line: %q", pf.Bad[3].Detail)
	}
}

func TestParsePaymentsRefusals(t *testing.T) {
	agency := synth.AgencyID(1)
	row := "GK%06d," + agency + ",5000.00,2024-03-05\n"
	var big strings.Builder
	big.WriteString("payment_ref,agency_id,amount,paid_on\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&big, row, i)
	}
	cases := []struct {
		name     string
		body     string
		maxBytes int64
		maxRows  int
		code     voucher.Code
	}{
		{"over the byte limit", big.String(), 1000, 1000, CodePayloadTooLarge},
		{"over the row limit", big.String(), 1 << 20, 50, CodePayloadTooLarge},
		{"empty", "", 1 << 20, 10, voucher.CodeInvalidArgument},
		{"no amount column", "payment_ref,agency_id,paid_on\nGK1," + agency + ",2024-01-01\n", 1 << 20, 10, voucher.CodeInvalidArgument},
		{"a column twice", "payment_ref,agency_id,amount,金额,paid_on\n", 1 << 20, 10, voucher.CodeInvalidArgument},
	}
	for _, c := range cases {
		_, err := ParsePayments(strings.NewReader(c.body), c.maxBytes, c.maxRows)
		if voucher.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if _, err := ParsePayments(strings.NewReader(big.String()), int64(big.Len()), 100); err != nil {
		t.Errorf("a file exactly at both limits is accepted: %v", err)
	}
}

func TestTreasuryMatchCategories(t *testing.T) {
	w := newWorld(t)
	a := w.agency(1, "A")
	b := w.agency(2, "B")
	matched := w.plant(voucherSpec{agency: a, status: voucher.StatusReimbursed, paymentRef: "GK-OK"})
	ledgerOnly := w.plant(voucherSpec{agency: a, status: voucher.StatusReimbursed, paymentRef: "GK-MISSING"})
	amount := w.plant(voucherSpec{agency: a, status: voucher.StatusReimbursed, paymentRef: "GK-AMOUNT"})
	wrongAgency := w.plant(voucherSpec{agency: b, status: voucher.StatusReimbursed, paymentRef: "GK-AGENCY"})
	w.plant(voucherSpec{agency: b, status: voucher.StatusReimbursed, paymentRef: "GK-2023", period: "2023"})
	reused := w.plant(voucherSpec{agency: b, status: voucher.StatusReimbursed, paymentRef: "GK-OK"})
	w.plant(voucherSpec{agency: b, status: voucher.StatusIssued}) // nothing paid: not in the match
	w.commit()
	file := "payment_ref,agency_id,amount,paid_on,voucher_id\n" +
		"GK-OK," + a.ID + ",5000.00,2024-03-05," + matched.ID + "\n" +
		"GK-AMOUNT," + a.ID + ",4000.00,2024-03-05,\n" +
		"GK-AGENCY," + a.ID + ",5000.00,2024-03-05,\n" +
		"GK-2023," + b.ID + ",5000.00,2024-03-05,\n" +
		"GK-EXTRA," + b.ID + ",300.00,2024-03-05,\n" +
		"GK-BAD,nope,5000.00,2024-03-05,\n"
	pf := parse(t, file)
	var m *Match
	err := w.store.View(func(snap projection.Snapshot) error {
		var err error
		m, err = MatchPayments(context.Background(), snap, "2024", pf, WithTempDir(t.TempDir()))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := map[string]MatchRow{}
	var order []string
	err = m.Rows(func(r MatchRow) error {
		k := r.PaymentRef + "|" + r.VoucherID
		got[k] = r
		order = append(order, r.Category)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(ref, id, category string, mismatches ...string) {
		t.Helper()
		r, ok := got[ref+"|"+id]
		if !ok {
			t.Errorf("no row for %s %s", ref, id)
			return
		}
		if r.Category != category || !slices.Equal(r.Mismatches, mismatches) {
			t.Errorf("%s %s: %s %v, want %s %v", ref, id, r.Category, r.Mismatches, category, mismatches)
		}
	}
	check("GK-OK", matched.ID, MatchMatched)
	check("GK-MISSING", ledgerOnly.ID, MatchLedgerOnly)
	check("GK-AMOUNT", amount.ID, MatchMismatch, MismatchAmount)
	check("GK-AGENCY", wrongAgency.ID, MatchMismatch, MismatchAgency)
	check("GK-OK", reused.ID, MatchMismatch, MismatchReusedRef)
	check("GK-EXTRA", "", MatchFileOnly)
	if r := got["GK-2023|"+ledgerOnly.ID]; r.Category != "" {
		t.Error("impossible row")
	}
	var other2023 MatchRow
	for k, r := range got {
		if strings.HasPrefix(k, "GK-2023|") {
			other2023 = r
		}
	}
	if other2023.Category != MatchMatched || other2023.Period != "2023" {
		t.Errorf("a payment of a 2023 voucher is matched against the whole ledger: %+v", other2023)
	}
	if order[len(order)-1] != MatchFileOnly {
		t.Errorf("file-only rows come last: %v", order)
	}
	s := m.Summary
	want := MatchSummary{FileRows: 5, FileAmountCNY: "19300.00", LedgerPayments: 5, LedgerAmountCNY: "25000.00",
		Matched: 2, MatchedAmountCNY: "10000.00", LedgerOnly: 1, LedgerOnlyAmountCNY: "5000.00",
		FileOnly: 1, FileOnlyAmountCNY: "300.00", AmountMismatch: 1, AgencyMismatch: 1, ReusedOnLedger: 1, BadRows: 1}
	if s != want {
		t.Errorf("summary\n got %+v\nwant %+v", s, want)
	}
	if len(m.BadRows) != 1 || m.BadRows[0].Line != 7 {
		t.Errorf("bad rows %+v", m.BadRows)
	}

	// The renderings.
	var buf bytes.Buffer
	if err := m.Write(&buf, FormatCSV, ""); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte(utf8BOM)))).ReadAll()
	if err != nil || len(rows) != 1+7 || rows[0][0] != "核对结果 / Category" {
		t.Errorf("match CSV: %d rows, %v, header %q", len(rows), err, rows[0])
	}
	buf.Reset()
	if err := m.Write(&buf, FormatCSV, TableBadRows); err != nil || !strings.Contains(buf.String(), "\r\n7,") {
		t.Errorf("bad rows CSV %q %v", buf.String(), err)
	}
	buf.Reset()
	if err := m.Write(&buf, FormatXLSX, ""); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.GetSheetList(), "|"); got != SheetSummary+"|"+SheetMatch+"|"+SheetBadRows {
		t.Errorf("sheets %s", got)
	}
	buf.Reset()
	if err := m.Write(&buf, FormatJSON, ""); err != nil || !strings.Contains(buf.String(), `"digest":"`+m.Digest+`"`) {
		t.Errorf("JSON %v", err)
	}
}
