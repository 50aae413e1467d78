// Package e2e proves the whole life of a voucher through the real gateway
// binary over HTTP, with the typed client and the hongshan command line, for
// every role: on the embedded ledger by default, and on Fabric with
// HONGSHAN_E2E_BACKEND=fabric (against the network that `make network-up`
// started). The same test functions run on both backends.
//
// Environment:
//
//	HONGSHAN_E2E_BACKEND         embedded (default) or fabric
//	HONGSHAN_E2E_FABRIC_CONFIG   connection profile (default network/.state/connection-profile.yaml)
//	HONGSHAN_E2E_GATEWAY_BIN     a gateway binary to use instead of building one
//	HONGSHAN_E2E_GATEWAY_ARGS    extra gateway flags, space-separated
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
	"github.com/hongshan-ledger/hongshan/e2e/internal/harness"
)

// The suite's settings, fixed in TestMain.
var (
	repoRoot   string
	gatewayBin string
	cliBin     string // the hongshan command line
	backend    string // "embedded" or "fabric"
	// usccSerials and certSerials start where this run's identifiers are
	// new: at 0 on the embedded ledger (a fresh ledger per test), at a
	// random base on Fabric, whose ledger outlives the run.
	usccSerials *harness.Serials
	certSerials *harness.Serials
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	backend = os.Getenv("HONGSHAN_E2E_BACKEND")
	if backend == "" {
		backend = "embedded"
	}
	if backend != "embedded" && backend != "fabric" {
		fmt.Fprintf(os.Stderr, "e2e: HONGSHAN_E2E_BACKEND must be embedded or fabric, not %q\n", backend)
		return 2
	}
	var err error
	repoRoot, err = harness.FindRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	usccBase, certBase := 1, 1
	if backend == "fabric" {
		usccBase = randomBelow(harness.MaxSerial - 1_000_000)
		certBase = randomBelow(900_000)
	}
	usccSerials, certSerials = harness.NewSerials(usccBase), harness.NewSerials(certBase)

	dir, err := os.MkdirTemp("", "hongshan-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// HONGSHAN_E2E_GATEWAY_BIN reuses a gateway binary already built
	// (e.g. bin/hongshan-gateway); by default the suite builds its own from
	// the tree under test.
	gatewayBin = os.Getenv("HONGSHAN_E2E_GATEWAY_BIN")
	if gatewayBin == "" {
		if gatewayBin, err = harness.BuildGateway(ctx, repoRoot, dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	if cliBin, err = harness.Build(ctx, repoRoot, "./client/cmd/hongshan", filepath.Join(dir, "hongshan")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

func randomBelow(n int) int {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int(binary.LittleEndian.Uint64(b[:]) % uint64(n))
}

// readyTimeout and callTimeout are longer on Fabric, whose commits take
// block-cutting time and whose principals are enrolled at a CA.
func readyTimeout() time.Duration {
	if backend == "fabric" {
		return 3 * time.Minute
	}
	return 30 * time.Second
}

func callTimeout() time.Duration {
	if backend == "fabric" {
		return 2 * time.Minute
	}
	return 20 * time.Second
}

// system is one gateway under test with its admin client.
type system struct {
	gw    *harness.Gateway
	admin *client.Client
	hc    *http.Client
}

// startSystem starts the real gateway binary on a fresh data dir and stops
// it when the test ends, printing the end of its log if the test failed.
func startSystem(t *testing.T) *system {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := harness.Config{
		Bin:          gatewayBin,
		Dir:          repoRoot,
		DataDir:      dataDir,
		Backend:      backend,
		LogPath:      filepath.Join(t.TempDir(), "gateway.log"),
		ReadyTimeout: readyTimeout(),
	}
	if backend == "fabric" {
		profile := os.Getenv("HONGSHAN_E2E_FABRIC_CONFIG")
		if profile == "" {
			profile = filepath.Join(repoRoot, "network", ".state", "connection-profile.yaml")
		}
		if _, err := os.Stat(profile); err != nil {
			t.Fatalf("fabric backend: no connection profile (run `make network-up`): %v", err)
		}
		cfg.Args = append(cfg.Args, "--fabric-config", profile)
	}
	if extra := strings.Fields(os.Getenv("HONGSHAN_E2E_GATEWAY_ARGS")); len(extra) > 0 {
		cfg.Args = append(cfg.Args, extra...)
	}
	gw, err := harness.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		if err := gw.Stop(); err != nil {
			t.Errorf("stop gateway: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway log (end):\n%s", gw.LogTail())
		}
	})
	token, err := gw.AdminToken()
	if err != nil {
		t.Fatal(err)
	}
	s := &system{gw: gw, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Cleanup(s.hc.CloseIdleConnections)
	s.admin = s.client(t, token)
	return s
}

// client is a client of the gateway as the token's principal. It does not
// retry: the suite wants to see every answer as it is.
func (s *system) client(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New(s.gw.URL(), client.WithToken(token), client.WithHTTPClient(s.hc),
		client.WithTimeout(callTimeout()), client.WithUserAgent("hongshan-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// party is a principal with its client.
type party struct {
	name     string
	role     voucher.Role
	agencyID string
	token    string
	c        *client.Client
}

// newParty creates a principal through the admin and returns its client.
// Names carry a serial so they are new on a ledger that outlives the run.
func (s *system) newParty(t *testing.T, prefix string, role voucher.Role, agencyID string) party {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, usccSerials.Next())
	p, err := s.admin.CreatePrincipal(ctx(t), client.NewPrincipal{Name: name, Role: role, AgencyID: agencyID})
	if err != nil {
		t.Fatalf("create principal %s: %v", name, err)
	}
	if p.Token == "" || p.Name != name || p.Role != role || p.AgencyID != agencyID {
		t.Fatalf("create principal %s: answer %+v", name, p)
	}
	return party{name: name, role: role, agencyID: agencyID, token: p.Token, c: s.client(t, p.Token)}
}

// registerAgency registers a new agency (by the given scitech client) and
// returns its id.
func registerAgency(t *testing.T, by *client.Client, name, kind string) string {
	t.Helper()
	id := harness.UrumqiUSCC(usccSerials.Next())
	a, err := by.RegisterAgency(ctx(t), voucher.RegisterAgencyArgs{ID: id, Name: name, Kind: kind})
	if err != nil {
		t.Fatalf("register agency %s: %v", id, err)
	}
	if a.ID != id || a.Name != name || a.Kind != kind || a.Status != voucher.AgencyActive {
		t.Fatalf("register agency: answer %+v", a)
	}
	return id
}

// enterprise is a certified enterprise of the test data.
type enterprise struct {
	id, name, certNo, issuedOn string
}

// newEnterprise makes a new enterprise whose certificate is issued on
// issuedOn (YYYY-MM-DD, whose year becomes the certificate number's).
func newEnterprise(issuedOn string) enterprise {
	n := usccSerials.Next()
	year, err := strconv.Atoi(issuedOn[:4])
	if err != nil {
		panic(fmt.Sprintf("issue date %q", issuedOn))
	}
	return enterprise{
		id:       harness.UrumqiUSCC(n),
		name:     fmt.Sprintf("新疆红山测试科技有限公司%d", n),
		certNo:   harness.CertNo(year, certSerials.Next()),
		issuedOn: issuedOn,
	}
}

// recordCert records e's certificate, checking the answer.
func recordCert(c context.Context, by *client.Client, e enterprise, kind string) error {
	cert, err := by.RecordCertification(c, voucher.RecordCertificationArgs{
		EnterpriseID: e.id, EnterpriseName: e.name, CertificateNo: e.certNo, IssuedOn: e.issuedOn, Kind: kind,
	})
	if err != nil {
		return fmt.Errorf("record certification %s: %w", e.certNo, err)
	}
	if cert.CertificateNo != e.certNo || cert.EnterpriseID != e.id || cert.Kind != kind || cert.IssuedOn != e.issuedOn {
		return fmt.Errorf("record certification %s: answer %+v", e.certNo, cert)
	}
	return nil
}

// recordService records the agency's service to e, started 120 days before
// the certificate, checking the answer.
func recordService(c context.Context, agency party, e enterprise) error {
	issued, err := time.Parse("2006-01-02", e.issuedOn)
	if err != nil {
		return err
	}
	rec, err := agency.c.RecordService(c, voucher.RecordServiceArgs{
		EnterpriseID:   e.id,
		ContractRef:    "HT-" + e.certNo,
		StartedOn:      issued.AddDate(0, 0, -120).Format("2006-01-02"),
		EvidenceSHA256: harness.Evidence(agency.agencyID, e.id),
	})
	if err != nil {
		return fmt.Errorf("record service %s → %s: %w", agency.agencyID, e.id, err)
	}
	if rec.ID == "" || rec.AgencyID != agency.agencyID || rec.EnterpriseID != e.id {
		return fmt.Errorf("record service %s → %s: answer %+v", agency.agencyID, e.id, rec)
	}
	return nil
}

// certify records a certificate of kind for a new enterprise.
func certify(t *testing.T, by *client.Client, issuedOn, kind string) enterprise {
	t.Helper()
	e := newEnterprise(issuedOn)
	ok(t, "certify", recordCert(ctx(t), by, e, kind))
	return e
}

// serve records the agency's service to e.
func serve(t *testing.T, agency party, e enterprise) {
	t.Helper()
	ok(t, "serve", recordService(ctx(t), agency, e))
}

// prepare certifies (first-time) and serves, for each agency, one new
// enterprise per issue date, concurrently, and returns them per agency in
// the order of issueDates.
func prepare(t *testing.T, sci *client.Client, agencies []party, issueDates []string) [][]enterprise {
	t.Helper()
	out := make([][]enterprise, len(agencies))
	type job struct{ agency, k int }
	var jobs []job
	for a := range agencies {
		out[a] = make([]enterprise, len(issueDates))
		for k, d := range issueDates {
			out[a][k] = newEnterprise(d)
			jobs = append(jobs, job{a, k})
		}
	}
	c, cancel := context.WithTimeout(t.Context(), 10*callTimeout())
	defer cancel()
	parallel(t, len(jobs), 16, func(i int) error {
		j := jobs[i]
		e := out[j.agency][j.k]
		if err := recordCert(c, sci, e, voucher.CertFirst); err != nil {
			return err
		}
		return recordService(c, agencies[j.agency], e)
	})
	return out
}

// parallel runs fn(0..n-1) on at most workers goroutines and fails the
// test with the first error, after all have returned.
func parallel(t *testing.T, n, workers int, fn func(i int) error) {
	t.Helper()
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	ok(t, "parallel", firstErr)
}

// claim claims e for the agency and checks the voucher it gets.
func claim(t *testing.T, agency party, e enterprise) voucher.Voucher {
	t.Helper()
	v, err := agency.c.Claim(ctx(t), voucher.ClaimArgs{EnterpriseID: e.id, CertificateNo: e.certNo})
	if err != nil {
		t.Fatalf("claim %s by %s: %v", e.certNo, agency.agencyID, err)
	}
	if v.ID == "" || v.AgencyID != agency.agencyID || v.CertificateNo != e.certNo || v.EnterpriseID != e.id ||
		v.Status != voucher.StatusIssued || v.AmountCNY != "5000.00" || v.Period != e.issuedOn[:4] {
		t.Fatalf("claim %s: voucher %+v", e.certNo, v)
	}
	return v
}

// ctx is a context bounded by the call timeout and the test's deadline.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), callTimeout())
	t.Cleanup(cancel)
	return c
}

// wantCode fails the test unless err is a gateway rejection with one of
// the codes.
func wantCode(t *testing.T, what string, err error, codes ...string) {
	t.Helper()
	_ = rejection(t, what, err, codes...)
}

// rejection is wantCode returning the rejection, for its other fields.
func rejection(t *testing.T, what string, err error, codes ...string) *client.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want %v", what, codes)
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: %v (%T), want a rejection %v", what, err, err, codes)
	}
	for _, c := range codes {
		if ce.Code == c {
			return ce
		}
	}
	t.Fatalf("%s: %v, want %v", what, err, codes)
	return nil
}

// ok fails the test on err.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
