package report

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/xuri/excelize/v2"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// gateway serves the Service over real HTTP, with bearer tokens standing
// for roles ("auditor-token" is an auditor).
func gateway(t *testing.T, s *Service) *httptest.Server {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) {
		if tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer "); ok {
			role, _ := strings.CutSuffix(tok, "-token")
			c.Set(CallerKey, &auth.Principal{Name: role, Role: voucher.Role(role)})
		}
	})
	r.GET("/v1/reports/reconciliation", s.Reconciliation)
	r.POST("/v1/reports/reconciliation/payments", s.TreasuryMatch)
	r.GET("/v1/ledger/verify", s.Verify)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func TestClientReadsWhatTheServiceWrites(t *testing.T) {
	p := plantEveryException(t)
	srv := gateway(t, New(p.w.store, nil, WithTempDir(t.TempDir())))
	ctx := context.Background()
	c, err := client.New(srv.URL, client.WithToken("auditor-token"))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	rep, err := c.Reconciliation(ctx, client.ReportQuery{Period: "2024"}, func(e client.ReportException) error {
		codes = append(codes, e.Code)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Agencies) != 7 || len(codes) != 14 || rep.Totals.AgencyID != TotalsID || rep.Height == 0 || len(rep.Digest) != 64 ||
		rep.ExceptionCounts[ExcDuplicateCertificate] != 2 || rep.Period != "2024" || rep.AsOfSource != "ledger" {
		t.Errorf("report %+v, %d exceptions", rep, len(codes))
	}
	// The client's types carry every field the service writes.
	var direct bytes.Buffer
	info, err := c.DownloadReconciliation(ctx, client.ReportQuery{Period: "2024"}, &direct)
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != rep.Digest || info.Bytes != int64(direct.Len()) || info.Height != rep.Height {
		t.Errorf("download info %+v", info)
	}
	var doc struct {
		Agencies []json.RawMessage `json:"agencies"`
	}
	_ = json.Unmarshal(direct.Bytes(), &doc)
	dec := json.NewDecoder(bytes.NewReader(doc.Agencies[0]))
	dec.DisallowUnknownFields()
	var row client.AgencyReport
	if err := dec.Decode(&row); err != nil {
		t.Errorf("client.AgencyReport lacks a field the service writes: %v", err)
	}

	var csvOut bytes.Buffer
	if _, err := c.DownloadReconciliation(ctx, client.ReportQuery{Period: "2024", Format: client.ReportCSV, Table: "exceptions"}, &csvOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(csvOut.String(), "\uFEFF异常代码 / Code") {
		t.Errorf("CSV %q", csvOut.String()[:30])
	}

	file := "payment_ref,agency_id,amount,paid_on\nGK-DUP-1," + p.b.ID + ",5000.00,2024-03-05\nnot,a,row\n"
	var rows []client.MatchRow
	m, err := c.TreasuryMatch(ctx, "2024", strings.NewReader(file), func(r client.MatchRow) error { rows = append(rows, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if m.Summary.Matched != 1 || m.Summary.ReusedOnLedger != 1 || len(m.BadRows) != 1 || m.BadRows[0].Line != 3 || len(rows) == 0 {
		t.Errorf("match %+v, bad %+v, %d rows", m.Summary, m.BadRows, len(rows))
	}
	var xlsx bytes.Buffer
	if _, err := c.DownloadTreasuryMatch(ctx, client.ReportQuery{Period: "2024", Format: client.ReportXLSX}, strings.NewReader(file), &xlsx); err != nil {
		t.Fatal(err)
	}
	if f, err := excelize.OpenReader(&xlsx); err != nil {
		t.Error(err)
	} else {
		_ = f.Close()
	}

	agency, _ := client.New(srv.URL, client.WithToken("agency-token"))
	_, err = agency.Reconciliation(ctx, client.ReportQuery{Period: "2024"}, nil)
	if !client.IsCode(err, "FORBIDDEN") {
		t.Errorf("an agency asks for the report: %v", err)
	}
	_, err = c.Reconciliation(ctx, client.ReportQuery{Period: "1999"}, nil)
	if !client.IsCode(err, "INVALID_ARGUMENT") {
		t.Errorf("a bad period: %v", err)
	}
}

// TestCLIReportReconcile builds the hongshan command and runs `report
// reconcile` against the service, in every output format.
func TestCLIReportReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hongshan binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the CLI")
	}
	bin := filepath.Join(t.TempDir(), "hongshan")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/hongshan-ledger/hongshan/client/cmd/hongshan")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	p := plantEveryException(t)
	srv := gateway(t, New(p.w.store, nil, WithTempDir(t.TempDir())))
	dir := t.TempDir()
	run := func(args ...string) (string, string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--url", srv.URL}, args...)...)
		cmd.Env = append(os.Environ(), "HONGSHAN_TOKEN=auditor-token")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}

	out, errOut, code := run("report", "reconcile", "--period", "2024")
	if code != 0 || !strings.Contains(out, "Digest (SHA-256)") || !strings.Contains(out, TotalsID) ||
		!hasLine(out, "DUPLICATE_CERTIFICATE 2") || strings.Contains(errOut, "⠋") {
		t.Errorf("table: exit %d\n%s\nstderr %q", code, out, errOut)
	}
	out, _, code = run("report", "reconcile", "--period", "2024", "-o", "json")
	var doc struct {
		Digest string `json:"digest"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Digest) != 64 {
		t.Errorf("json: exit %d %q", code, out[:min(len(out), 200)])
	}
	csvPath := filepath.Join(dir, "r.csv")
	_, errOut, code = run("report", "reconcile", "--period", "2024", "-o", "csv", "--out", csvPath)
	csvBytes, _ := os.ReadFile(csvPath)
	if code != 0 || !bytes.HasPrefix(csvBytes, []byte("\uFEFF机构代码 / Agency ID")) || !strings.Contains(errOut, doc.Digest) {
		t.Errorf("csv: exit %d, stderr %q, file %q", code, errOut, csvBytes[:min(len(csvBytes), 40)])
	}
	xlsxPath := filepath.Join(dir, "r.xlsx")
	if _, errOut, code = run("report", "reconcile", "--period", "all", "-o", "xlsx", "--out", xlsxPath); code != 0 {
		t.Fatalf("xlsx: exit %d %s", code, errOut)
	}
	if f, err := excelize.OpenFile(xlsxPath); err != nil {
		t.Error(err)
	} else {
		_ = f.Close()
	}
	payments := filepath.Join(dir, "payments.csv")
	_ = os.WriteFile(payments, []byte("payment_ref,agency_id,amount,paid_on\nGK-NOPE,"+p.b.ID+",5000.00,2024-03-05\nbroken\n"), 0o600)
	out, _, code = run("report", "reconcile", "--period", "2024", "--payments", payments)
	if code != 0 || !strings.Contains(out, "file_only") || !strings.Contains(out, "BAD LINE") || !hasLine(out, "In the file only 1 (5000.00)") {
		t.Errorf("match table: exit %d\n%s", code, out)
	}
	_, errOut, code = run("report", "reconcile", "--period", "2024", "--table", "exceptions")
	if code != 2 || !strings.Contains(errOut, "--table needs -o csv") {
		t.Errorf("usage error: exit %d %q", code, errOut)
	}
	_, errOut, code = run("report", "reconcile", "--period", "1999")
	if code != 1 || !strings.Contains(errOut, "INVALID_ARGUMENT") {
		t.Errorf("rejection: exit %d %q", code, errOut)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("a partial file was left behind: %s", e.Name())
		}
	}
}

// hasLine reports whether text has a line whose words are those of want.
func hasLine(text, want string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.Join(strings.Fields(l), " ") == want {
			return true
		}
	}
	return false
}
