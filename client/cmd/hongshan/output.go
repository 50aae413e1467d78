package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Output formats.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// emit writes v as indented JSON with -o json, or calls human otherwise.
func (a *app) emit(v any, human func(w io.Writer) error) error {
	if a.global.output == formatJSON {
		return writeJSON(a.stdout, v)
	}
	return human(a.stdout)
}

// writeJSON writes v as indented JSON, Chinese text left readable.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// column is a table column; money columns are right-aligned.
type column struct {
	title string
	right bool
}

// table renders aligned columns for people. It measures display width, not
// bytes or runes, so Chinese agency and enterprise names (two cells wide in
// a terminal) keep their columns straight; text/tabwriter counts runes and
// would not. Rows can be flushed page by page: widths only grow, so a long
// listing streams without being held in memory.
type table struct {
	cols       []column
	widths     []int
	rows       [][]string
	headerDone bool
}

func newTable(cols ...column) *table {
	t := &table{cols: cols, widths: make([]int, len(cols))}
	for i, c := range cols {
		t.widths[i] = displayWidth(c.title)
	}
	return t
}

// row adds a row; missing cells are blank.
func (t *table) row(cells ...string) {
	r := make([]string, len(t.cols))
	copy(r, cells)
	t.rows = append(t.rows, r)
}

// flush writes the header (once) and the buffered rows.
func (t *table) flush(w io.Writer) error {
	for _, r := range t.rows {
		for i, c := range r {
			t.widths[i] = max(t.widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	if !t.headerDone {
		titles := make([]string, len(t.cols))
		for i, c := range t.cols {
			titles[i] = c.title
		}
		t.line(&b, titles)
		t.headerDone = true
	}
	for _, r := range t.rows {
		t.line(&b, r)
	}
	t.rows = t.rows[:0]
	_, err := io.WriteString(w, b.String())
	return err
}

func (t *table) line(b *strings.Builder, cells []string) {
	var l strings.Builder
	for i, c := range cells {
		if i > 0 {
			l.WriteString("  ")
		}
		pad := strings.Repeat(" ", t.widths[i]-displayWidth(c))
		if t.cols[i].right {
			l.WriteString(pad + c)
		} else if i < len(cells)-1 {
			l.WriteString(c + pad)
		} else {
			l.WriteString(c)
		}
	}
	b.WriteString(strings.TrimRight(l.String(), " "))
	b.WriteByte('\n')
}

// field is one line of a record shown as "Label  value".
type field struct{ label, value string }

// writeFields shows one record as aligned label/value lines, leaving out
// empty values.
func writeFields(w io.Writer, fields ...field) error {
	width := 0
	for _, f := range fields {
		if f.value != "" {
			width = max(width, displayWidth(f.label))
		}
	}
	var b strings.Builder
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		fmt.Fprintf(&b, "%s%s  %s\n", f.label, strings.Repeat(" ", width-displayWidth(f.label)), f.value)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// displayWidth is the number of terminal cells s takes: East Asian wide
// and full-width characters take two.
func displayWidth(s string) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if wide(r) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// wide reports whether r is East Asian Wide or Fullwidth (the ranges that
// matter for Chinese names and punctuation).
func wide(r rune) bool {
	switch {
	case r < 0x1100:
		return false
	case r <= 0x115F, // Hangul Jamo
		r >= 0x2E80 && r <= 0x303E, // CJK radicals, punctuation
		r >= 0x3041 && r <= 0x33FF, // kana, CJK symbols
		r >= 0x3400 && r <= 0x4DBF, // CJK extension A
		r >= 0x4E00 && r <= 0x9FFF, // CJK unified ideographs
		r >= 0xA000 && r <= 0xA4CF, // Yi
		r >= 0xAC00 && r <= 0xD7A3, // Hangul syllables
		r >= 0xF900 && r <= 0xFAFF, // CJK compatibility ideographs
		r >= 0xFE30 && r <= 0xFE4F, // CJK compatibility forms
		r >= 0xFF00 && r <= 0xFF60, // full-width forms
		r >= 0xFFE0 && r <= 0xFFE6,
		r >= 0x20000 && r <= 0x3FFFD: // CJK extensions B and beyond
		return true
	}
	return false
}

// date is the day part of an RFC 3339 instant.
func date(instant string) string {
	if len(instant) >= 10 {
		return instant[:10]
	}
	return instant
}

// writeJSONItem writes the n-th (0-based) element of a JSON array being
// streamed by listPages, indented to match writeJSON.
func writeJSONItem(w io.Writer, n int, v any) error {
	b, err := json.MarshalIndent(v, "    ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n    "
	if n == 0 {
		sep = "\n    "
	}
	_, err = io.WriteString(w, sep+string(b))
	return err
}

// jsonString quotes s as a JSON string.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}
