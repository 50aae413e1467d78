package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// fakeGateway answers canned JSON per "METHOD /path" and records requests.
type fakeGateway struct {
	t      *testing.T
	mu     sync.Mutex
	routes map[string]func(r *http.Request, body []byte) (int, string)
	got    []recorded
}

type recorded struct {
	method, path, query, auth, key string
	body                           []byte
}

func newFakeGateway(t *testing.T) (*fakeGateway, string) {
	f := &fakeGateway{t: t, routes: map[string]func(*http.Request, []byte) (int, string){}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeGateway) on(route string, status int, body string) {
	f.routes[route] = func(*http.Request, []byte) (int, string) { return status, body }
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.got = append(f.got, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), body})
	h := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if h == nil {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"code":"NOT_FOUND","detail":"no route `+r.URL.Path+`","status":404}`)
		return
	}
	status, out := h(r, body)
	if status >= 400 {
		w.Header().Set("Content-Type", "application/problem+json")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

func (f *fakeGateway) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

// cli runs the command line and returns its exit code and outputs.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

const (
	agencyA = "91650104000000174Q"
	agencyB = "91650104000000254C"
)

var twoVouchers = `{"items":[
 {"id":"V-1","agency_id":"` + agencyA + `","enterprise_id":"E1","certificate_no":"GR202465000001","period":"2024","amount":"5000.00","status":"issued","issued_at":"2024-07-01T02:00:00Z"},
 {"id":"V-22","agency_id":"` + agencyB + `","enterprise_id":"E2","certificate_no":"GR202465000002","period":"2024","amount":"15000.00","status":"reimbursed","issued_at":"2024-07-02T02:00:00Z"}
],"next_cursor":""}`

func TestVoucherListTable(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("GET /v1/vouchers", 200, twoVouchers)
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url, "HONGSHAN_TOKEN": "env-token"}, "voucher", "list", "--status", "issued", "--period", "2024")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "AMOUNT") {
		t.Errorf("header %q", lines[0])
	}
	// Money is right-aligned: the amounts end in the same column.
	end := func(l, s string) int { return strings.Index(l, s) + len(s) }
	if e1, e2, eh := end(lines[1], "5000.00"), end(lines[2], "15000.00"), end(lines[0], "AMOUNT"); e1 != e2 || e1 != eh {
		t.Errorf("amounts not right-aligned (%d, %d, header %d):\n%s", e1, e2, eh, out)
	}
	// Other columns are left-aligned: statuses start in one column.
	if s1, s2 := strings.Index(lines[1], "issued"), strings.Index(lines[2], "reimbursed"); s1 != s2 {
		t.Errorf("status columns differ:\n%s", out)
	}
	r := f.requests()[0]
	if r.auth != "Bearer env-token" || r.query != "period=2024&status=issued" {
		t.Errorf("request %+v", r)
	}
}

func TestAgencyListAlignsChineseNames(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("GET /v1/agencies", 200, `{"items":[
		{"id":"`+agencyA+`","name":"乌鲁木齐红山孵化器","kind":"incubator","status":"active"},
		{"id":"`+agencyB+`","name":"Tianshan Services","kind":"service_agency","status":"suspended"}],"next_cursor":"c2"}`)
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "agency", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	kindCol := func(l string) int { // display column where KIND starts
		for _, k := range []string{"KIND", "incubator", "service_agency"} {
			if i := strings.Index(l, k); i >= 0 {
				return displayWidth(l[:i])
			}
		}
		return -1
	}
	if a, b, h := kindCol(lines[1]), kindCol(lines[2]), kindCol(lines[0]); a != b || a != h {
		t.Errorf("KIND column at %d, %d, header %d:\n%s", a, b, h, out)
	}
	if !strings.Contains(errOut, "--cursor c2") {
		t.Errorf("no hint for the next page: %q", errOut)
	}
}

func TestJSONOutputIsTheAnswer(t *testing.T) {
	f, url := newFakeGateway(t)
	v := voucher.Voucher{ID: "V-1", AgencyID: agencyA, AmountCNY: "5000.00", Status: voucher.StatusRedemptionRequested, Period: "2024"}
	b, _ := json.Marshal(v)
	f.on("POST /v1/vouchers/V-1/redeem", 200, string(b))
	// Flags after the positional argument work too.
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "voucher", "redeem", "V-1", "-o", "json", "--token", "t1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got voucher.Voucher
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got != v {
		t.Errorf("got %+v", got)
	}
	r := f.requests()[0]
	if r.auth != "Bearer t1" || r.key == "" || string(r.body) != "{}" {
		t.Errorf("request %+v", r)
	}
}

func TestListAllFollowsCursorsAndStreamsJSON(t *testing.T) {
	f, url := newFakeGateway(t)
	f.routes["GET /v1/vouchers"] = func(r *http.Request, _ []byte) (int, string) {
		if r.URL.Query().Get("agency_id") != agencyA {
			t.Errorf("filter lost: %s", r.URL.RawQuery)
		}
		switch r.URL.Query().Get("cursor") {
		case "":
			return 200, `{"items":[{"id":"V-1","amount":"5000.00"},{"id":"V-2","amount":"5000.00"}],"next_cursor":"p2"}`
		case "p2":
			return 200, `{"items":[{"id":"V-3","amount":"5000.00"}],"next_cursor":""}`
		}
		return 400, `{"code":"INVALID_ARGUMENT"}`
	}
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "-o", "json", "voucher", "list", "--all", "--agency", agencyA)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var page voucher.Page[voucher.Voucher]
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(page.Items) != 3 || page.Items[2].ID != "V-3" || page.NextCursor != "" {
		t.Errorf("page %+v", page)
	}

	// Without --all: one page, its cursor kept for the script.
	code, out, _ = cli(t, map[string]string{"HONGSHAN_URL": url}, "-o", "json", "voucher", "list", "--agency", agencyA)
	if err := json.Unmarshal([]byte(out), &page); code != 0 || err != nil || len(page.Items) != 2 || page.NextCursor != "p2" {
		t.Errorf("exit %d err %v page %+v", code, err, page)
	}

	// An empty listing is still valid JSON.
	f.on("GET /v1/vouchers", 200, `{"items":[],"next_cursor":""}`)
	_, out, _ = cli(t, map[string]string{"HONGSHAN_URL": url}, "-o", "json", "voucher", "list")
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 0 {
		t.Errorf("empty listing %q: %v", out, err)
	}
}

func TestRejectionExitsOneWithCodeOnStderr(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("POST /v1/claims", 422, `{"code":"CAP_EXCEEDED","detail":"agency reached its cap for 2024","status":422,"remaining":"0.00","request_id":"r1"}`)
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "claim", "--enterprise-id", "E1", "--cert-no", "GR202465000001")
	if code != exitRejected {
		t.Errorf("exit %d, want %d", code, exitRejected)
	}
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	if want := "error: CAP_EXCEEDED: agency reached its cap for 2024 (remaining 0.00)\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests: a rejection must not be retried", n)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	f, url := newFakeGateway(t)
	env := map[string]string{"HONGSHAN_URL": url}
	cases := [][]string{
		{},
		{"frobnicate"},
		{"agency"},
		{"agency", "explode"},
		{"agency", "register", "--name", "x"}, // --id missing
		{"agency", "show"},                    // ID missing
		{"agency", "show", "A", "B"},          // one too many
		{"voucher", "list", "-o", "yaml"},     // bad format
		{"voucher", "list", "--bogus"},        // unknown flag
		{"service", "record", "--enterprise-id", "E", "--contract-ref", "C", "--started-on", "2024-01-01"}, // no evidence
		{"service", "record", "--enterprise-id", "E", "--contract-ref", "C", "--started-on", "2024-01-01", "--evidence-sha256", "ab", "--evidence-file", "x"},
		{"service", "record", "--enterprise-id", "E", "--contract-ref", "C", "--started-on", "2024-01-01", "--evidence-file", "/nonexistent/evidence.pdf"},
		{"policy", "set"},
		{"policy", "set", "--stale-after-days", "soon"},
		{"whoami", "--token-file", "/nonexistent/token"},
		{"whoami", "--url", "ftp://x"},
	}
	for _, args := range cases {
		code, out, errOut := cli(t, env, args...)
		if code != exitUsage || !strings.Contains(errOut, "error: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
}

func TestConnectionFailureExitsThree(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	code, _, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "whoami", "--timeout", "2s")
	if code != exitConnect || !strings.HasPrefix(errOut, "error: cannot reach the gateway") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"agency", "--help"}, {"help", "voucher", "reimburse"}, {"voucher", "reimburse", "-h"}} {
		code, out, _ := cli(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%q: exit %d, out %q", args, code, out)
		}
	}
	_, out, _ := cli(t, nil, "voucher", "reimburse", "--help")
	for _, want := range []string{"--payment-ref REF", "--amount AMOUNT", "--paid-on DATE", "(required)", "hongshan voucher reimburse ID"} {
		if !strings.Contains(out, want) {
			t.Errorf("reimburse help lacks %q:\n%s", want, out)
		}
	}
	// Every command in the root help resolves to a command with help.
	_, root, _ := cli(t, nil, "--help")
	for _, c := range commands() {
		if !strings.Contains(root, "  "+c.name) {
			t.Errorf("root help lacks %s", c.name)
		}
	}
}

func TestTokenFileAndPrecedence(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("GET /v1/whoami", 200, `{"name":"admin","role":"scitech"}`)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"HONGSHAN_TOKEN": "env"}, []string{"whoami", "--token-file", tokenFile}, "Bearer file-token"},
		{map[string]string{"HONGSHAN_TOKEN": "env"}, []string{"--token", "flag", "whoami", "--token-file", tokenFile}, "Bearer flag"},
		{map[string]string{"HONGSHAN_TOKEN": "env"}, []string{"whoami"}, "Bearer env"},
		{map[string]string{"HONGSHAN_TOKEN_FILE": tokenFile}, []string{"whoami"}, "Bearer file-token"},
	}
	for _, tc := range cases {
		tc.env["HONGSHAN_URL"] = url
		code, out, errOut := cli(t, tc.env, tc.args...)
		reqs := f.requests()
		if code != 0 || reqs[len(reqs)-1].auth != tc.want {
			t.Errorf("%v: exit %d (%s), auth %q, want %q", tc.args, code, errOut, reqs[len(reqs)-1].auth, tc.want)
		}
		if !strings.Contains(out, "scitech") {
			t.Errorf("whoami output %q", out)
		}
	}
}

func TestServiceRecordHashesEvidenceLocally(t *testing.T) {
	f, url := newFakeGateway(t)
	var sent voucher.RecordServiceArgs
	f.routes["POST /v1/service-records"] = func(_ *http.Request, body []byte) (int, string) {
		_ = json.Unmarshal(body, &sent)
		return 201, `{"id":"S-1","evidence_sha256":"` + sent.EvidenceSHA256 + `"}`
	}
	evidence := []byte("合同扫描件 contract scan")
	path := filepath.Join(t.TempDir(), "contract.pdf")
	if err := os.WriteFile(path, evidence, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "service", "record",
		"--enterprise-id", "E1", "--contract-ref", "HT-2024-001", "--started-on", "2024-01-15", "--evidence-file", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	sum := sha256.Sum256(evidence)
	want := hex.EncodeToString(sum[:])
	if sent.EvidenceSHA256 != want || sent.ContractRef != "HT-2024-001" || sent.StartedOn != "2024-01-15" {
		t.Errorf("sent %+v, want hash %s", sent, want)
	}
	if !strings.Contains(out, "S-1") || !strings.Contains(out, want) {
		t.Errorf("output %q", out)
	}
	// A given digest is sent lower-cased.
	cli(t, map[string]string{"HONGSHAN_URL": url}, "service", "record", "--enterprise-id", "E1", "--contract-ref", "C",
		"--started-on", "2024-01-15", "--evidence-sha256", strings.ToUpper(want))
	if sent.EvidenceSHA256 != want {
		t.Errorf("digest %q", sent.EvidenceSHA256)
	}
}

func TestPolicySetKeepsUnsetFields(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("GET /v1/policy", 200, `{"version":1,"unit_reward":"5000.00","cap_per_agency":"100000.00","cap_scope":"year","window_from":"2023-03-01","window_to":"2026-02-28","stale_after_days":180}`)
	var sent map[string]any
	f.routes["PUT /v1/policy"] = func(_ *http.Request, body []byte) (int, string) {
		_ = json.Unmarshal(body, &sent)
		return 200, `{"version":2,"unit_reward":"5000.00","cap_per_agency":"150000.00","cap_scope":"year","window_from":"2023-03-01","window_to":"2026-02-28","stale_after_days":180}`
	}
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "policy", "set", "--cap-per-agency", "150000.00")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := map[string]any{"unit_reward": "5000.00", "cap_per_agency": "150000.00", "cap_scope": "year",
		"window_from": "2023-03-01", "window_to": "2026-02-28", "stale_after_days": float64(180)}
	for k, v := range want {
		if sent[k] != v {
			t.Errorf("sent %s=%v, want %v", k, sent[k], v)
		}
	}
	if !strings.Contains(out, "150000.00") || !strings.Contains(out, "Version") {
		t.Errorf("output %q", out)
	}
}

func TestPrincipalAddPrintsTokenOnce(t *testing.T) {
	f, url := newFakeGateway(t)
	var sent map[string]any
	f.routes["POST /v1/principals"] = func(_ *http.Request, body []byte) (int, string) {
		_ = json.Unmarshal(body, &sent)
		return 201, `{"name":"agency-1","role":"agency","agency_id":"` + agencyA + `","token":"hs_secret"}`
	}
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "principal", "add", "agency-1", "--role", "agency", "--agency", agencyA)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if sent["name"] != "agency-1" || sent["role"] != "agency" || sent["agency_id"] != agencyA {
		t.Errorf("sent %v", sent)
	}
	if strings.Count(out, "hs_secret") != 1 || !strings.Contains(errOut, "only this once") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
}

func TestLedgerVerifyFailureExitsOne(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("GET /v1/ledger/verify", 200, `{"ok":false,"height":12,"head_hash":"ab","checked_blocks":7,"first_bad_block":7,"detail":"data hash mismatch"}`)
	code, out, errOut := cli(t, map[string]string{"HONGSHAN_URL": url}, "ledger", "verify")
	if code != exitRejected || !strings.Contains(out, "NO") || !strings.Contains(errOut, "first bad block 7") {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
	f.on("GET /v1/ledger/verify", 200, `{"ok":true,"height":12,"head_hash":"ab","checked_blocks":12,"first_bad_block":null,"detail":""}`)
	code, out, _ = cli(t, map[string]string{"HONGSHAN_URL": url}, "ledger", "verify", "-o", "json")
	if code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Errorf("exit %d out %q", code, out)
	}
}

func TestWritesCarryReasonsAndPayments(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("POST /v1/vouchers/V-1/reimburse", 200, `{"id":"V-1","status":"reimbursed"}`)
	f.on("POST /v1/vouchers/V-1/revoke", 200, `{"id":"V-1","status":"revoked"}`)
	f.on("POST /v1/agencies/"+agencyA+"/suspend", 200, `{"id":"`+agencyA+`","status":"suspended","caps":[{"period":"2024","limit":"100000.00","used":"5000.00","remaining":"95000.00","live_count":1}]}`)
	env := map[string]string{"HONGSHAN_URL": url}
	runs := [][]string{
		{"voucher", "reimburse", "V-1", "--payment-ref", "GK-1", "--amount", "5000.00", "--paid-on", "2024-08-01"},
		{"voucher", "revoke", "V-1", "--reason", "fraud"},
		{"agency", "suspend", agencyA, "--reason", "audit"},
	}
	for _, args := range runs {
		if code, _, errOut := cli(t, env, args...); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errOut)
		}
	}
	reqs := f.requests()
	wants := []string{
		`{"payment_ref":"GK-1","amount":"5000.00","paid_on":"2024-08-01"}`,
		`{"reason":"fraud"}`,
		`{"reason":"audit"}`,
	}
	for i, w := range wants {
		if string(reqs[i].body) != w {
			t.Errorf("request %d body %s, want %s", i, reqs[i].body, w)
		}
	}
	_, out, _ := cli(t, env, "agency", "suspend", agencyA, "--reason", "audit")
	if !strings.Contains(out, "95000.00") || !strings.Contains(out, "REMAINING") {
		t.Errorf("agency output lacks caps:\n%s", out)
	}
}
