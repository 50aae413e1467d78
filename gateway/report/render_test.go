package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func render(t *testing.T, rec interface {
	Write(w *bytes.Buffer, format, table string) error
}, format, table string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rec.Write(&buf, format, table); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writerOf adapts a report's Write to the helper above.
type writerOf func(w *bytes.Buffer, format, table string) error

func (f writerOf) Write(w *bytes.Buffer, format, table string) error { return f(w, format, table) }

func recWriter(rec *Reconciliation) writerOf {
	return func(w *bytes.Buffer, format, table string) error { return rec.Write(w, format, table) }
}

func TestCSVHasBOMBilingualHeadersAndTotals(t *testing.T) {
	w, ag := threeAgencies(t)
	rec := w.reconcile(Query{Period: "2024"})
	out := render(t, recWriter(rec), FormatCSV, "")
	if !bytes.HasPrefix(out, []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatalf("no UTF-8 BOM: % x", out[:min(len(out), 8)])
	}
	if !bytes.Contains(out, []byte("\r\n")) {
		t.Error("CSV lines should end in CRLF, as Excel writes them")
	}
	rows, err := csv.NewReader(bytes.NewReader(out[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+3+1 {
		t.Fatalf("%d CSV rows, want header + 3 agencies + totals", len(rows))
	}
	head := rows[0]
	if head[0] != "机构代码 / Agency ID" || head[5] != "已发放金额 / Issued amount" || head[len(head)-1] != "异常数 / Exceptions" {
		t.Errorf("header %q", head)
	}
	for _, h := range head {
		zh, en, ok := strings.Cut(h, " / ")
		if !ok || zh == "" || en == "" {
			t.Errorf("header %q is not bilingual", h)
		}
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[0]] = r
	}
	if a := byID[ag[0].ID]; a[1] != "甲科技服务中心" || a[7] != "1234.56" || a[16] != "100000.00" || a[18] != "88765.44" {
		t.Errorf("agency A row %q", a)
	}
	if c := byID[ag[2].ID]; !strings.HasPrefix(c[1], "'=") {
		t.Errorf("a name starting with = must be defused, got %q", c[1])
	}
	if tot := rows[len(rows)-1]; tot[0] != TotalsID || tot[9] != "15000.00" || tot[15] != "6234.56" {
		t.Errorf("totals row %q", tot)
	}

	p := plantEveryException(t)
	exc := render(t, recWriter(p.w.reconcile(Query{Period: "2024"})), FormatCSV, TableExceptions)
	if !bytes.HasPrefix(exc, []byte("\uFEFF异常代码 / Code,")) {
		t.Errorf("exceptions CSV starts %q", exc[:min(len(exc), 40)])
	}
	erows, err := csv.NewReader(bytes.NewReader(exc[3:])).ReadAll()
	if err != nil || len(erows) != 15 {
		t.Fatalf("%d exception rows (%v), want header + 14", len(erows), err)
	}
	if err := rec.Write(&bytes.Buffer{}, FormatCSV, "vouchers"); err == nil {
		t.Error("an unknown table is refused")
	}
}

func TestXLSXHasThreeSheetsMoneyFormatAndFrozenHeader(t *testing.T) {
	p := plantEveryException(t)
	rec := p.w.reconcile(Query{Period: "2024"})
	out := render(t, recWriter(rec), FormatXLSX, "")
	f, err := excelize.OpenReader(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if strings.Join(sheets, "|") != SheetSummary+"|"+SheetAgencies+"|"+SheetExceptions {
		t.Fatalf("sheets %q", sheets)
	}
	for _, sheet := range []string{SheetAgencies, SheetExceptions} {
		panes, err := f.GetPanes(sheet)
		if err != nil || !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
			t.Errorf("%s: panes %+v %v, want the header row frozen", sheet, panes, err)
		}
	}
	rows, err := f.GetRows(SheetAgencies)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(rec.Agencies)+1 || rows[0][0] != "机构代码 / Agency ID" || rows[len(rows)-1][0] != TotalsID {
		t.Errorf("agencies sheet: %d rows, first %q", len(rows), rows[0])
	}
	// Column F is the issued amount: a number in the money format.
	styleID, err := f.GetCellStyle(SheetAgencies, "F2")
	if err != nil {
		t.Fatal(err)
	}
	style, err := f.GetStyle(styleID)
	if err != nil || style.NumFmt != numFmtMoney {
		t.Errorf("F2 style %+v %v, want number format %d (#,##0.00)", style, err, numFmtMoney)
	}
	typ, err := f.GetCellType(SheetAgencies, "F2")
	if err != nil || (typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset) {
		t.Errorf("F2 type %v %v, want a number", typ, err)
	}
	raw, err := f.GetCellValue(SheetAgencies, "F2", excelize.Options{RawCellValue: true})
	if err != nil || raw != "15000" {
		t.Errorf("A's issued amount is stored as %q (%v), want the number 15000", raw, err)
	}
	shown, _ := f.GetCellValue(SheetAgencies, "F2")
	if shown != "15,000.00" {
		t.Errorf("A's issued amount shows as %q, want 15,000.00", shown)
	}
	erows, err := f.GetRows(SheetExceptions)
	if err != nil || len(erows) != 15 {
		t.Errorf("exceptions sheet: %d rows (%v), want header + 14", len(erows), err)
	}
	summary, err := f.GetRows(SheetSummary)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, r := range summary {
		if len(r) >= 2 {
			found[r[0]] = r[1]
		}
	}
	if found["内容摘要 SHA-256 / Content digest"] != rec.Digest || found["区块哈希 / Head hash"] != rec.HeadHash || found["期间 / Period"] != "2024" {
		t.Errorf("summary %v", found)
	}
}

func TestXLSXMoneyKeepsTheFen(t *testing.T) {
	w, ag := threeAgencies(t)
	rec := w.reconcile(Query{Period: "2024"})
	f, err := excelize.OpenReader(bytes.NewReader(render(t, recWriter(rec), FormatXLSX, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, _ := f.GetRows(SheetAgencies, excelize.Options{RawCellValue: true})
	for _, r := range rows {
		if r[0] == ag[0].ID && (r[7] != "1234.56" || r[18] != "88765.44" || r[13] != "0.01") {
			t.Errorf("agency A raw values %q", r)
		}
	}
}

func TestJSONReportShape(t *testing.T) {
	w, _ := threeAgencies(t)
	rec := w.reconcile(Query{Period: "2024"})
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(render(t, recWriter(rec), FormatJSON, ""), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"report", "period", "height", "head_hash", "as_of", "generated_at", "digest", "exception_counts", "agencies", "totals", "exceptions"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("the JSON report lacks %q", k)
		}
	}
	var counts map[string]int
	_ = json.Unmarshal(doc["exception_counts"], &counts)
	if len(counts) != len(ExceptionCodes) {
		t.Errorf("exception_counts names every code: %v", counts)
	}
	if string(doc["exceptions"]) != "[\n]" {
		t.Errorf("no exceptions: %s", doc["exceptions"])
	}
}
