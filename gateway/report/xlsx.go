package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// Sheet names of the reconciliation workbook.
const (
	SheetSummary    = "汇总 Summary"
	SheetAgencies   = "机构 Agencies"
	SheetExceptions = "异常 Exceptions"
)

// numFmtMoney is Excel's built-in number format 4, "#,##0.00": money shown
// as money, with thousands separators and two places.
const numFmtMoney = 4

// workbook wraps an excelize file with the report's cell styles.
type workbook struct {
	f                        *excelize.File
	header, money, moneyBold int
	bold, wrap               int
}

func newWorkbook(tempDir string) (*workbook, error) {
	f := excelize.NewFile(excelize.Options{TmpDir: tempDir})
	wb := &workbook{f: f}
	styles := []struct {
		dst   *int
		style excelize.Style
	}{
		{&wb.header, excelize.Style{Font: &excelize.Font{Bold: true},
			Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
			Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"}}},
		{&wb.money, excelize.Style{NumFmt: numFmtMoney}},
		{&wb.moneyBold, excelize.Style{NumFmt: numFmtMoney, Font: &excelize.Font{Bold: true}}},
		{&wb.bold, excelize.Style{Font: &excelize.Font{Bold: true}}},
		{&wb.wrap, excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}}},
	}
	for _, s := range styles {
		id, err := f.NewStyle(&s.style)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("report: xlsx style: %w", err)
		}
		*s.dst = id
	}
	return wb, nil
}

// cell converts a rendered value to a typed XLSX cell: counts as numbers,
// money as numbers in the money format, text as text.
func (wb *workbook) cell(kind cellKind, s string, bold bool) (any, error) {
	if s == "" && kind != kindText {
		return nil, nil // a blank cell, not a zero
	}
	switch kind {
	case kindInt:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, err
		}
		if bold {
			return excelize.Cell{StyleID: wb.bold, Value: n}, nil
		}
		return n, nil
	case kindMoney:
		a, err := parseFen(s)
		if err != nil {
			return nil, err
		}
		style := wb.money
		if bold {
			style = wb.moneyBold
		}
		return excelize.Cell{StyleID: style, Value: a.float()}, nil
	}
	if bold {
		return excelize.Cell{StyleID: wb.bold, Value: s}, nil
	}
	return s, nil
}

// table streams one sheet: a frozen bilingual header row, then the rows,
// the last one in bold when boldLast is set.
func writeTable[T any](wb *workbook, sheet string, cols []column[T], rows func(func(row *T, bold bool) error) error) error {
	if _, err := wb.f.NewSheet(sheet); err != nil {
		return err
	}
	sw, err := wb.f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	for i, c := range cols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(cols))
	for i, c := range cols {
		head[i] = excelize.Cell{StyleID: wb.header, Value: c.title()}
	}
	if err := sw.SetRow("A1", head, excelize.RowOpts{Height: 32}); err != nil {
		return err
	}
	line := 1
	vals := make([]any, len(cols))
	err = rows(func(r *T, bold bool) error {
		line++
		for i, c := range cols {
			v, err := wb.cell(c.kind, c.get(r), bold)
			if err != nil {
				return fmt.Errorf("report: xlsx %s row %d column %s: %w", sheet, line, c.en, err)
			}
			vals[i] = v
		}
		cell, err := excelize.CoordinatesToCellName(1, line)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, vals)
	})
	if err != nil {
		return err
	}
	return sw.Flush()
}

// writeXLSX renders the workbook: a summary sheet, the agencies with the
// totals row, and the exceptions.
func (r *Reconciliation) writeXLSX(w io.Writer) error {
	wb, err := newWorkbook(r.exceptions.dir())
	if err != nil {
		return err
	}
	defer wb.f.Close()
	if err := r.writeSummary(wb); err != nil {
		return err
	}
	err = writeTable(wb, SheetAgencies, agencyColumns, func(fn func(*AgencyRow, bool) error) error {
		for i := range r.Agencies {
			if err := fn(&r.Agencies[i], false); err != nil {
				return err
			}
		}
		return fn(&r.Totals, true)
	})
	if err != nil {
		return err
	}
	err = writeTable(wb, SheetExceptions, exceptionColumns, func(fn func(*Exception, bool) error) error {
		return r.Exceptions(func(e Exception) error { return fn(&e, false) })
	})
	if err != nil {
		return err
	}
	return wb.f.Write(w)
}

// summaryLine is one label/value line of a summary sheet.
type summaryLine struct {
	label string
	kind  cellKind
	value string
}

// writeSummarySheet fills the first sheet with label/value lines.
func writeSummarySheet(wb *workbook, lines []summaryLine) error {
	const first = "Sheet1"
	if err := wb.f.SetSheetName(first, SheetSummary); err != nil {
		return err
	}
	if err := wb.f.SetColWidth(SheetSummary, "A", "A", 36); err != nil {
		return err
	}
	if err := wb.f.SetColWidth(SheetSummary, "B", "B", 70); err != nil {
		return err
	}
	for i, l := range lines {
		row := i + 1
		a, _ := excelize.CoordinatesToCellName(1, row)
		b, _ := excelize.CoordinatesToCellName(2, row)
		if err := wb.f.SetCellValue(SheetSummary, a, l.label); err != nil {
			return err
		}
		if err := wb.f.SetCellStyle(SheetSummary, a, a, wb.bold); err != nil {
			return err
		}
		if l.value == "" && l.kind == kindText {
			continue
		}
		v, err := wb.cell(l.kind, l.value, false)
		if err != nil {
			return fmt.Errorf("report: xlsx summary %q: %w", l.label, err)
		}
		if c, ok := v.(excelize.Cell); ok {
			if err := wb.f.SetCellValue(SheetSummary, b, c.Value); err != nil {
				return err
			}
			if err := wb.f.SetCellStyle(SheetSummary, b, b, c.StyleID); err != nil {
				return err
			}
			continue
		}
		if err := wb.f.SetCellValue(SheetSummary, b, v); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reconciliation) writeSummary(wb *workbook) error {
	t := &r.Totals
	lines := []summaryLine{
		{"报表 / Report", kindText, "红山科技创新券对账报表 / Hongshan voucher reconciliation"},
		{"期间 / Period", kindText, r.Period},
		{"区块高度 / Block height", kindInt, strconv.FormatUint(r.Height, 10)},
		{"区块哈希 / Head hash", kindText, r.HeadHash},
		{"内容摘要 SHA-256 / Content digest", kindText, r.Digest},
		{"截至 / As of", kindText, r.AsOf + " (" + r.AsOfSource + ")"},
		{"超期天数 / Stale after days", kindInt, itoa(r.StaleAfterDays)},
		{"生成时间 / Generated at", kindText, r.GeneratedAt},
		{"", kindText, ""},
		{"机构数 / Agencies", kindInt, itoa(len(r.Agencies))},
	}
	for _, c := range agencyColumns[3:] {
		lines = append(lines, summaryLine{"合计 " + c.title(), c.kind, c.get(t)})
	}
	lines = append(lines, summaryLine{"", kindText, ""})
	for _, code := range ExceptionCodes {
		lines = append(lines, summaryLine{"异常 / Exceptions " + code, kindInt, itoa(r.ExceptionCounts[code])})
	}
	if r.ExceptionsTruncated {
		lines = append(lines, summaryLine{"注意 / Note", kindText,
			"only the first " + itoa(r.ExceptionsListed) + " exceptions are listed; the counts above are complete"})
	}
	return writeSummarySheet(wb, lines)
}
