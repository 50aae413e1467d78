package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// The certification import: 科技局 uploads the year's official recognition
// list as CSV and every row becomes one RecordCertification. The whole
// file is checked first — each row's fields, duplicates within the file,
// and certificates the ledger already holds — and a file with any bad row
// is refused with every bad row named, before anything is written.
const (
	// maxImportBytes bounds an uploaded list (with its multipart envelope).
	maxImportBytes = 2 << 20
	// maxImportRows bounds the rows of one list; a province's yearly list
	// of new high-tech enterprises is in the low thousands.
	maxImportRows = 5000
	// importConcurrency is how many rows are in flight to the ledger at
	// once, so the group commit can put many into one block.
	importConcurrency = 8
	// maxEnterpriseNameRunes is the contract's bound on enterprise_name.
	maxEnterpriseNameRunes = 200
)

// Row outcomes of an import.
const (
	importRecorded        = "recorded"
	importAlreadyRecorded = "already_recorded"
	importFailed          = "failed"
	importNotSubmitted    = "not_submitted"
)

// importColumns maps the accepted header names (lower case) to the
// argument field: the English names of the API and the Chinese ones of the
// official lists. A bilingual header "证书编号 / certificate_no" matches by
// either half. Other columns (序号, 所在地区 …) are ignored.
var importColumns = map[string]string{
	"enterprise_id": "enterprise_id", "统一社会信用代码": "enterprise_id", "信用代码": "enterprise_id", "uscc": "enterprise_id",
	"enterprise_name": "enterprise_name", "企业名称": "enterprise_name",
	"certificate_no": "certificate_no", "证书编号": "certificate_no", "证书号": "certificate_no",
	"issued_on": "issued_on", "发证日期": "issued_on", "发证时间": "issued_on", "认定日期": "issued_on",
	"kind": "kind", "认定类型": "kind", "类型": "kind",
}

var importRequired = []string{"enterprise_id", "enterprise_name", "certificate_no", "issued_on", "kind"}

// importKinds maps the accepted kind values to the contract's.
var importKinds = map[string]string{
	voucher.CertFirst: voucher.CertFirst, "首次认定": voucher.CertFirst, "首次": voucher.CertFirst,
	voucher.CertRenewal: voucher.CertRenewal, "重新认定": voucher.CertRenewal, "重新": voucher.CertRenewal,
}

// looseDate accepts the forms spreadsheets turn dates into: 2024/11/20,
// 2024-1-5, 2024.11.20, 2024年11月20日.
var looseDate = regexp.MustCompile(`^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$`)

// importRow is one data row of the list with where it was.
type importRow struct {
	line int
	args voucher.RecordCertificationArgs
	// already is set when the ledger holds this very certificate.
	already bool
}

// importRowError names what is wrong with one row of a refused list.
type importRowError struct {
	Line          int    `json:"line"`
	CertificateNo string `json:"certificate_no,omitempty"`
	EnterpriseID  string `json:"enterprise_id,omitempty"`
	Field         string `json:"field,omitempty"`
	Code          string `json:"code"`
	// Reason is a stable word for what is wrong, so a client can say it
	// in its own language: invalid, required, year_mismatch, future,
	// duplicate_in_file (OtherLine names the first line),
	// conflicts_with_ledger, internal.
	Reason    string `json:"reason"`
	OtherLine int    `json:"other_line,omitempty"`
	Detail    string `json:"detail"`
}

// The reasons of importRowError.
const (
	reasonInvalid         = "invalid"
	reasonRequired        = "required"
	reasonYearMismatch    = "year_mismatch"
	reasonFuture          = "future"
	reasonDuplicateInFile = "duplicate_in_file"
	reasonConflicts       = "conflicts_with_ledger"
	reasonInternal        = "internal"
)

// importRowResult is what became of one row of an accepted list.
type importRowResult struct {
	Line          int    `json:"line"`
	CertificateNo string `json:"certificate_no"`
	EnterpriseID  string `json:"enterprise_id"`
	Status        string `json:"status"`
	Code          string `json:"code,omitempty"`
	Detail        string `json:"detail,omitempty"`
}

// importResult answers an accepted list: counts and one result per row,
// in file order.
type importResult struct {
	Rows            int               `json:"rows"`
	Recorded        int               `json:"recorded"`
	AlreadyRecorded int               `json:"already_recorded"`
	Failed          int               `json:"failed"`
	Results         []importRowResult `json:"results"`
}

// importProblem is the refusal of a list: a problem with every bad row.
type importProblem struct {
	Problem
	Errors []importRowError `json:"errors"`
}

// importCertifications is POST /v1/certifications/import.
func (a *API) importCertifications(c *gin.Context, p auth.Principal) error {
	if _, err := queryOf(c); err != nil {
		return err
	}
	file, err := importFile(c)
	if err != nil {
		return err
	}
	rows, err := parseImport(file)
	if err != nil {
		return err
	}
	if errs := a.checkImport(rows, time.Now()); len(errs) > 0 {
		a.refuseImport(c, len(rows), errs)
		return nil
	}
	res := a.submitImport(c, p, rows)
	status := http.StatusOK
	if res.Recorded > 0 && res.Failed == 0 {
		status = http.StatusCreated
	}
	return writeJSON(c, status, res)
}

// importFile is the uploaded CSV: the body itself (Content-Type text/csv)
// or the multipart field "file" (a browser form).
func importFile(c *gin.Context) ([]byte, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return nil, Errorf(voucher.CodeInvalidArgument, "Content-Type must be text/csv or multipart/form-data")
	}
	switch mt {
	case "text/csv":
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, Errorf(voucher.CodeInvalidArgument, "the list must be UTF-8, not %q", clip(cs))
		}
		return body, nil
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, Errorf(voucher.CodeInvalidArgument, "the multipart body has no field \"file\"")
			}
			if err != nil {
				return nil, Errorf(voucher.CodeInvalidArgument, "malformed multipart body: %v", err)
			}
			if part.FormName() == "file" {
				b, err := io.ReadAll(part)
				if err != nil {
					return nil, Errorf(voucher.CodeInvalidArgument, "malformed multipart body: %v", err)
				}
				return b, nil
			}
		}
	}
	return nil, Errorf(voucher.CodeInvalidArgument, "Content-Type must be text/csv or multipart/form-data, not %q", clip(mt))
}

// parseImport reads the list's rows. Problems with the file as a whole
// (encoding, CSV syntax, header, size) are one INVALID_ARGUMENT; the
// fields of each row are checked by checkImport.
func parseImport(file []byte) ([]importRow, error) {
	file = bytes.TrimPrefix(file, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(file) {
		return nil, Errorf(voucher.CodeInvalidArgument, "the list is not UTF-8: save it from Excel as \"CSV UTF-8\"")
	}
	r := csv.NewReader(bytes.NewReader(file))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, Errorf(voucher.CodeInvalidArgument, "the list is empty: it needs a header row and at least one row")
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		if field := columnOf(h); field != "" {
			if _, dup := col[field]; dup {
				return nil, Errorf(voucher.CodeInvalidArgument, "header row: column %s appears twice", field)
			}
			col[field] = i
		}
	}
	var missing []string
	for _, f := range importRequired {
		if _, ok := col[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, Errorf(voucher.CodeInvalidArgument, "header row: missing column(s) %s (expected %s)",
			strings.Join(missing, ", "), strings.Join(importRequired, ", "))
	}
	var rows []importRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		cell := func(f string) string {
			if i := col[f]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue
		}
		if len(rows) == maxImportRows {
			return nil, Errorf(voucher.CodeInvalidArgument, "the list has more than %d rows: split it", maxImportRows)
		}
		rows = append(rows, importRow{line: line, args: voucher.RecordCertificationArgs{
			EnterpriseID:   strings.ToUpper(cell("enterprise_id")),
			EnterpriseName: cell("enterprise_name"),
			CertificateNo:  strings.ToUpper(cell("certificate_no")),
			IssuedOn:       normaliseDate(cell("issued_on")),
			Kind:           normaliseKind(cell("kind")),
		}})
	}
	if len(rows) == 0 {
		return nil, Errorf(voucher.CodeInvalidArgument, "the list has a header row but no rows")
	}
	return rows, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Errorf(voucher.CodeInvalidArgument, "the list is not valid CSV at line %d: %v", pe.Line, pe.Err)
	}
	return Errorf(voucher.CodeInvalidArgument, "the list is not valid CSV: %v", err)
}

// columnOf is the argument field a header cell names, or "".
func columnOf(h string) string {
	for _, part := range strings.Split(h, "/") {
		k := strings.ToLower(strings.Join(strings.Fields(part), "_"))
		if f, ok := importColumns[k]; ok {
			return f
		}
	}
	return ""
}

func normaliseDate(s string) string {
	m := looseDate.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	pad := func(d string) string {
		if len(d) == 1 {
			return "0" + d
		}
		return d
	}
	return m[1] + "-" + pad(m[2]) + "-" + pad(m[3])
}

func normaliseKind(s string) string {
	if k, ok := importKinds[strings.ToLower(s)]; ok {
		return k
	}
	return s
}

// beijing is the programme's time zone: a certificate may not be dated
// after today there (the contract's rule).
var beijing = time.FixedZone("CST", 8*3600)

// checkImport checks every row as the contract would, and against the
// other rows and the ledger's certifications. A row whose certificate the
// ledger already holds with the same content is marked already (re-importing
// a list is safe); with other content it is an error.
func (a *API) checkImport(rows []importRow, now time.Time) []importRowError {
	var errs []importRowError
	today := now.In(beijing).Format(time.DateOnly)
	certLine := map[string]int{}
	entLine := map[string]int{} // enterprise|year → line
	for i := range rows {
		r := &rows[i]
		x := r.args
		fail := func(field, reason string, code voucher.Code, other int, format string, args ...any) {
			errs = append(errs, importRowError{Line: r.line, CertificateNo: clip(x.CertificateNo), EnterpriseID: clip(x.EnterpriseID),
				Field: field, Code: string(code), Reason: reason, OtherLine: other, Detail: fmt.Sprintf(format, args...)})
		}
		invalid := func(field, reason, format string, args ...any) {
			fail(field, reason, voucher.CodeInvalidArgument, 0, format, args...)
		}
		if x.EnterpriseID == "" {
			invalid("enterprise_id", reasonRequired, "enterprise_id is required")
			continue
		}
		if err := voucher.ValidateUSCC(x.EnterpriseID); err != nil {
			invalid("enterprise_id", reasonInvalid, "enterprise_id: %s", messageOf(err))
			continue
		}
		if x.EnterpriseName == "" {
			invalid("enterprise_name", reasonRequired, "enterprise_name is required")
			continue
		}
		if msg := checkName(x.EnterpriseName); msg != "" {
			invalid("enterprise_name", reasonInvalid, "enterprise_name %s", msg)
			continue
		}
		if x.CertificateNo == "" {
			invalid("certificate_no", reasonRequired, "certificate_no is required")
			continue
		}
		year, err := voucher.ValidateCertificateNo(x.CertificateNo)
		if err != nil {
			invalid("certificate_no", reasonInvalid, "certificate_no: %s", messageOf(err))
			continue
		}
		if x.IssuedOn == "" {
			invalid("issued_on", reasonRequired, "issued_on is required")
			continue
		}
		if _, err := voucher.ParseDate("issued_on", x.IssuedOn); err != nil {
			invalid("issued_on", reasonInvalid, "%s", messageOf(err))
			continue
		}
		if x.IssuedOn[:4] != year {
			invalid("issued_on", reasonYearMismatch, "certificate %s is of year %s but issued_on is %s", x.CertificateNo, year, x.IssuedOn)
			continue
		}
		if x.IssuedOn > today {
			invalid("issued_on", reasonFuture, "issued_on %s is in the future", x.IssuedOn)
			continue
		}
		if x.Kind == "" {
			invalid("kind", reasonRequired, "kind is required")
			continue
		}
		if x.Kind != voucher.CertFirst && x.Kind != voucher.CertRenewal {
			invalid("kind", reasonInvalid, "kind %q must be first (首次认定) or renewal (重新认定)", clip(x.Kind))
			continue
		}
		if first, dup := certLine[x.CertificateNo]; dup {
			fail("certificate_no", reasonDuplicateInFile, voucher.CodeInvalidArgument, first, "certificate %s is also on line %d", x.CertificateNo, first)
			continue
		}
		certLine[x.CertificateNo] = r.line
		entKey := x.EnterpriseID + "|" + year
		if first, dup := entLine[entKey]; dup {
			fail("enterprise_id", reasonDuplicateInFile, voucher.CodeInvalidArgument, first, "enterprise %s is also on line %d for %s", x.EnterpriseID, first, year)
			continue
		}
		entLine[entKey] = r.line
		held, found, err := a.reads.Certification(x.CertificateNo)
		if err != nil {
			fail("", reasonInternal, voucher.CodeInternal, 0, "the read model could not be searched; retry")
			continue
		}
		if found {
			if held.EnterpriseID == x.EnterpriseID && held.EnterpriseName == x.EnterpriseName &&
				held.IssuedOn == x.IssuedOn && held.Kind == x.Kind {
				r.already = true
				continue
			}
			fail("certificate_no", reasonConflicts, voucher.CodeAlreadyExists, 0, "certificate %s is already recorded for %s (%s, issued %s, %s)",
				x.CertificateNo, held.EnterpriseID, clip(held.EnterpriseName), held.IssuedOn, held.Kind)
		}
	}
	return errs
}

// checkName applies the contract's rule for a non-empty enterprise_name;
// "" is fine.
func checkName(s string) string {
	if utf8.RuneCountInString(s) > maxEnterpriseNameRunes {
		return fmt.Sprintf("is over %d characters", maxEnterpriseNameRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
	}
	return ""
}

func messageOf(err error) string {
	var ve *voucher.Error
	if errors.As(err, &ve) {
		return ve.Message
	}
	return err.Error()
}

// refuseImport answers 400 INVALID_ARGUMENT naming every bad row.
func (a *API) refuseImport(c *gin.Context, rows int, errs []importRowError) {
	code := voucher.CodeInvalidArgument
	ci := codeTable[code]
	p := importProblem{Problem: Problem{
		Type: problemType(code), Title: ci.title, Status: ci.status, Code: string(code),
		Detail:   fmt.Sprintf("%d of %d rows are wrong; nothing was recorded", len(errs), rows),
		Instance: c.Request.URL.Path, RequestID: requestIDOf(c),
	}, Errors: errs}
	c.Set(ctxKeyCode, p.Code)
	body, err := json.Marshal(p)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Data(ci.status, "application/problem+json", body)
	c.Abort()
}

// submitImport records the checked rows, a few at a time. Once the ledger
// fails in a way that is not about the row (unavailable, internal), rows
// not yet sent are not sent: a retry of the same file records them, as rows
// already recorded are skipped.
func (a *API) submitImport(c *gin.Context, p auth.Principal, rows []importRow) importResult {
	res := importResult{Rows: len(rows), Results: make([]importRowResult, len(rows))}
	var (
		mu      sync.Mutex
		stopped bool
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, importConcurrency)
	for i, r := range rows {
		out := &res.Results[i]
		*out = importRowResult{Line: r.line, CertificateNo: r.args.CertificateNo, EnterpriseID: r.args.EnterpriseID}
		if r.already {
			out.Status = importAlreadyRecorded
			continue
		}
		slots <- struct{}{}
		mu.Lock()
		halt := stopped
		mu.Unlock()
		if halt {
			<-slots
			out.Status, out.Code = importNotSubmitted, string(CodeUnavailable)
			out.Detail = "not sent after the ledger failed on an earlier row; import the file again"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			_, err := a.commit(c, p, "RecordCertification", r.args)
			if err == nil {
				out.Status = importRecorded
				return
			}
			ve := classify(err)
			out.Status, out.Code, out.Detail = importFailed, string(ve.Code), ve.Message
			if StatusOf(ve.Code) >= http.StatusInternalServerError {
				out.Detail = "the ledger did not record this row; import the file again"
				c.Set(ctxKeyError, err)
				mu.Lock()
				stopped = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, r := range res.Results {
		switch r.Status {
		case importRecorded:
			res.Recorded++
		case importAlreadyRecorded:
			res.AlreadyRecorded++
		default:
			res.Failed++
		}
	}
	return res
}
