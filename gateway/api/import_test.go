package api

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// importReq uploads a CSV list as admin.
func importReq(csv string) req {
	return req{method: "POST", path: "/v1/certifications/import", as: "admin", body: csv,
		header: map[string]string{"Content-Type": "text/csv; charset=utf-8"}}
}

func (h *realHarness) height(t *testing.T) uint64 {
	t.Helper()
	info, err := h.ledger.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.Height
}

// A good list in the shape of an official one: BOM, Chinese and bilingual
// headers, an extra column, spreadsheet dates, Chinese kinds.
func goodList(first int) string {
	var b strings.Builder
	b.WriteString("\ufeff序号,企业名称,统一社会信用代码 / enterprise_id,证书编号,发证日期,认定类型\r\n")
	for i := range 3 {
		kind := "首次认定"
		if i == 2 {
			kind = "renewal"
		}
		fmt.Fprintf(&b, "%d,\"乌鲁木齐企业%d, 有限公司\",%s,GR2024650%05d,2024/6/%d,%s\r\n", i+1, i, uscc(first+i), first+i, i+1, kind)
	}
	return b.String()
}

func TestImportRecordsEveryRow(t *testing.T) {
	h := newRealHarness(t)
	before := h.height(t)
	rec := h.do(importReq(goodList(100)))
	wantStatus(t, rec, http.StatusCreated)
	res := decode[importResult](t, rec)
	if res.Rows != 3 || res.Recorded != 3 || res.AlreadyRecorded != 0 || res.Failed != 0 || len(res.Results) != 3 {
		t.Fatalf("result %+v", res)
	}
	for i, r := range res.Results {
		if r.Line != i+2 || r.Status != importRecorded || r.CertificateNo != fmt.Sprintf("GR2024650%05d", 100+i) {
			t.Fatalf("row %d: %+v", i, r)
		}
		c, ok, err := h.proj.Certification(r.CertificateNo)
		if err != nil || !ok {
			t.Fatalf("certificate %s not visible after the answer: %v", r.CertificateNo, err)
		}
		wantKind := voucher.CertFirst
		if i == 2 {
			wantKind = voucher.CertRenewal
		}
		if c.EnterpriseID != uscc(100+i) || c.EnterpriseName != fmt.Sprintf("乌鲁木齐企业%d, 有限公司", i) ||
			c.IssuedOn != fmt.Sprintf("2024-06-%02d", i+1) || c.Kind != wantKind {
			t.Fatalf("recorded %+v", c)
		}
	}
	if h.height(t) <= before {
		t.Fatal("nothing reached the ledger")
	}

	// The same list again changes nothing: every row is already recorded.
	before = h.height(t)
	rec = h.do(importReq(goodList(100)))
	wantStatus(t, rec, http.StatusOK)
	if res := decode[importResult](t, rec); res.AlreadyRecorded != 3 || res.Recorded != 0 || res.Failed != 0 {
		t.Fatalf("re-import %+v", res)
	}
	if h.height(t) != before {
		t.Fatal("a re-import wrote to the ledger")
	}

	// A browser's multipart upload works the same.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "2024.csv")
	_, _ = fw.Write([]byte("enterprise_id,enterprise_name,certificate_no,issued_on,kind\n" +
		uscc(200) + ",企业二百," + "GR202465000200,2024-07-01,first\n"))
	_ = mw.Close()
	rec = h.do(req{method: "POST", path: "/v1/certifications/import", as: "admin", body: body.Bytes(),
		header: map[string]string{"Content-Type": mw.FormDataContentType()}})
	wantStatus(t, rec, http.StatusCreated)
	if res := decode[importResult](t, rec); res.Recorded != 1 {
		t.Fatalf("multipart %+v", res)
	}
}

func TestImportBadRowRefusesTheWholeFile(t *testing.T) {
	h := newRealHarness(t)
	// One certificate on the ledger already, with other content.
	h.must(req{method: "POST", path: "/v1/certifications", as: "admin", body: map[string]string{
		"enterprise_id": uscc(1), "enterprise_name": "已有企业", "certificate_no": "GR202465000001",
		"issued_on": "2024-06-01", "kind": "first"}}, 201)
	tomorrow := time.Now().In(beijing).AddDate(0, 0, 2).Format(time.DateOnly)
	lines := []string{
		"enterprise_id,enterprise_name,certificate_no,issued_on,kind",
		uscc(10) + ",好企业,GR202465000010,2024-06-01,first",                        // 2: fine
		"91650104000000119X,坏代码,GR202465000011,2024-06-01,first",                 // 3: bad USCC check
		uscc(12) + ",坏证书,GR2024650012,2024-06-01,first",                          // 4: short certificate number
		uscc(13) + ",年份不符,GR202465000013,2023-06-01,first",                       // 5: year mismatch
		uscc(14) + ",坏类型,GR202465000014,2024-06-01,second",                       // 6: unknown kind
		uscc(15) + ",重复证书,GR202465000010,2024-06-02,first",                       // 7: certificate twice in the file
		uscc(1) + ",已有企业改名,GR202465000001,2024-06-01,first",                      // 8: on the ledger with another name
		uscc(16) + ",,GR202465000016,2024-06-01,first",                           // 9: no name
		uscc(17) + ",未来企业,GR" + tomorrow[:4] + "65000017," + tomorrow + ",first", // 10: in the future
		uscc(10) + ",同一企业,GR202465000018,2024-06-03,first",                       // 11: enterprise twice in one year
		uscc(19) + ",坏日期,GR202465000019,2024-02-30,first",                        // 12: not a calendar date
	}
	before := h.height(t)
	rec := h.do(importReq(strings.Join(lines, "\n") + "\n"))
	p := wantProblem(t, rec, http.StatusBadRequest, voucher.CodeInvalidArgument)
	if !strings.Contains(p.Detail, "10 of 11 rows") || !strings.Contains(p.Detail, "nothing was recorded") {
		t.Fatalf("detail %q", p.Detail)
	}
	refusal := decode[importProblem](t, rec)
	want := map[int][2]string{3: {"enterprise_id", "invalid"}, 4: {"certificate_no", "invalid"}, 5: {"issued_on", "year_mismatch"},
		6: {"kind", "invalid"}, 7: {"certificate_no", "duplicate_in_file"}, 8: {"certificate_no", "conflicts_with_ledger"},
		9: {"enterprise_name", "required"}, 10: {"issued_on", "future"}, 11: {"enterprise_id", "duplicate_in_file"}, 12: {"issued_on", "invalid"}}
	if len(refusal.Errors) != len(want) {
		t.Fatalf("%d row errors, want %d: %+v", len(refusal.Errors), len(want), refusal.Errors)
	}
	for _, e := range refusal.Errors {
		if got := [2]string{e.Field, e.Reason}; want[e.Line] != got || e.Detail == "" {
			t.Errorf("line %d: %v (%s %s), want %v", e.Line, got, e.Code, e.Detail, want[e.Line])
		}
		if (e.Line == 7 || e.Line == 11) && e.OtherLine != 2 {
			t.Errorf("line %d: other_line %d, want 2", e.Line, e.OtherLine)
		}
		wantCode := string(voucher.CodeInvalidArgument)
		if e.Line == 8 {
			wantCode = string(voucher.CodeAlreadyExists)
		}
		if e.Code != wantCode {
			t.Errorf("line %d: code %s, want %s", e.Line, e.Code, wantCode)
		}
	}
	if h.height(t) != before {
		t.Fatal("a refused list wrote to the ledger")
	}
	if _, ok, _ := h.proj.Certification("GR202465000010"); ok {
		t.Fatal("the good row of a refused list was recorded")
	}
}

func TestImportFileErrors(t *testing.T) {
	h := newHarness(t)
	header := "enterprise_id,enterprise_name,certificate_no,issued_on,kind\n"
	row := enterprise1 + ",E,GR202465000001,2024-06-01,first\n"
	var many strings.Builder
	many.WriteString(header)
	for range maxImportRows + 1 {
		many.WriteString(row)
	}
	for name, c := range map[string]struct {
		body, ctype string
		status      int
		code        voucher.Code
	}{
		"empty":            {"", "text/csv", 400, voucher.CodeInvalidArgument},
		"header only":      {header, "text/csv", 400, voucher.CodeInvalidArgument},
		"missing column":   {"enterprise_id,enterprise_name,certificate_no,issued_on\n" + row, "text/csv", 400, voucher.CodeInvalidArgument},
		"column twice":     {"kind,类型,enterprise_id,enterprise_name,certificate_no,issued_on\n", "text/csv", 400, voucher.CodeInvalidArgument},
		"not UTF-8":        {header + enterprise1 + ",\xc6\xf3\xd2\xb5,GR202465000001,2024-06-01,first\n", "text/csv", 400, voucher.CodeInvalidArgument},
		"bad CSV":          {header + "a,\"b,c\n", "text/csv", 400, voucher.CodeInvalidArgument},
		"JSON":             {`{"rows":[]}`, "application/json", 400, voucher.CodeInvalidArgument},
		"GBK charset":      {header + row, "text/csv; charset=gbk", 400, voucher.CodeInvalidArgument},
		"too many rows":    {many.String(), "text/csv", 400, voucher.CodeInvalidArgument},
		"multipart nofile": {"--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n", "multipart/form-data; boundary=x", 400, voucher.CodeInvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			rec := h.do(req{method: "POST", path: "/v1/certifications/import", as: "admin", body: c.body,
				header: map[string]string{"Content-Type": c.ctype}})
			wantProblem(t, rec, c.status, c.code)
		})
	}
	big := strings.Repeat("x", maxImportBytes+1)
	wantProblem(t, h.do(req{method: "POST", path: "/v1/certifications/import", as: "admin", body: big,
		header: map[string]string{"Content-Type": "text/csv"}}), http.StatusRequestEntityTooLarge, CodePayloadTooLarge)
	wantProblem(t, h.do(req{method: "POST", path: "/v1/certifications/import", as: "ag-a", body: header + row,
		header: map[string]string{"Content-Type": "text/csv"}}), http.StatusForbidden, voucher.CodeForbidden)
	if n := len(h.be.callsOf("")); n != 0 {
		t.Fatalf("%d ledger calls from refused files", n)
	}
}
