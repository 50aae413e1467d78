package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"gopkg.in/yaml.v3"

	"github.com/hongshan-ledger/hongshan/gateway/api"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend/embedded"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaultsEnvAndFlags(t *testing.T) {
	c, err := parseConfig(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:8080" || c.dataDir != "./data" || c.backend != "embedded" || c.maxBodyBytes != 64<<10 {
		t.Fatalf("defaults %+v", c)
	}
	c, err = parseConfig(nil, envOf(map[string]string{"HONGSHAN_ADDR": "localhost:9000", "HONGSHAN_DATA_DIR": "/srv/hs",
		"HONGSHAN_COMMIT_TIMEOUT": "5s"}), io.Discard)
	if err != nil || c.addr != "localhost:9000" || c.dataDir != "/srv/hs" || c.commitTimeout != 5*time.Second {
		t.Fatalf("env %+v %v", c, err)
	}
	// Flags win over the environment.
	c, err = parseConfig([]string{"--addr", "[::1]:7000", "--data-dir", "d2"}, envOf(map[string]string{"HONGSHAN_ADDR": "localhost:9000"}), io.Discard)
	if err != nil || c.addr != "[::1]:7000" || c.dataDir != "d2" {
		t.Fatalf("flags %+v %v", c, err)
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:8080"}, nil, "refusing plain HTTP"},
		{[]string{"--addr", ":8080"}, nil, "refusing plain HTTP"},
		{[]string{"--addr", "10.1.2.3:8080"}, nil, "refusing plain HTTP"},
		{nil, map[string]string{"HONGSHAN_ADDR": "192.168.1.5:80"}, "refusing plain HTTP"},
		{[]string{"--tls-cert", "c.pem"}, nil, "go together"},
		{[]string{"--backend", "oracle"}, nil, "want embedded or fabric"},
		{[]string{"--backend", "fabric"}, nil, "--fabric-config"},
		{[]string{"--addr", "nohost"}, nil, "--addr"},
		{[]string{"--max-body-bytes", "0"}, nil, "--max-body-bytes"},
		{[]string{"--shutdown-timeout", "0s"}, nil, "--shutdown-timeout"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{nil, map[string]string{"HONGSHAN_LANE_QUEUE": "many"}, "HONGSHAN_LANE_QUEUE"},
		{[]string{"extra"}, nil, "unexpected arguments"},
	} {
		_, err := parseConfig(c.args, envOf(c.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: err %v, want %q", c.args, c.env, err, c.want)
		}
	}
	for _, args := range [][]string{
		{"--addr", "0.0.0.0:8080", "--insecure-http"},
		{"--addr", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
		{"--addr", "localhost:1"},
	} {
		if _, err := parseConfig(args, noEnv, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "127.9.9.9:80": true, "[::1]:80": true, "localhost:80": true, "LOCALHOST:1": true,
		":80": false, "0.0.0.0:80": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false, "bad": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v", addr, got)
		}
	}
}

// TestNoChaincodeShimLinked: the gateway links fabric-sdk-go, so it must
// never link fabric-chaincode-go/v2 (both register the same protobufs).
func TestNoChaincodeShimLinked(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info")
	}
	seen := false
	for _, m := range info.Deps {
		if strings.Contains(m.Path, "fabric-chaincode-go") || strings.Contains(m.Path, "fabric-protos-go-apiv2") {
			t.Fatalf("the gateway links %s", m.Path)
		}
		seen = seen || strings.Contains(m.Path, "bbolt")
	}
	if !seen {
		t.Fatal("build info lists no dependencies; the check proves nothing")
	}
}

// syncBuffer collects a writer's output for polling.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var servingRE = regexp.MustCompile(`serving (https?://\S+)`)

// gatewayRun is one run() of the gateway in the test process.
type gatewayRun struct {
	url    string
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	exit   chan int
}

func startGateway(t *testing.T, args ...string) *gatewayRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &gatewayRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, exit: make(chan int, 1)}
	go func() { g.exit <- run(ctx, args, noEnv, g.stdout, g.stderr) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(g.stdout.String()); m != nil {
			g.url = m[1]
			return g
		}
		select {
		case code := <-g.exit:
			t.Fatalf("gateway exited %d before serving:\n%s", code, g.stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("gateway did not start:\n%s", g.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop cancels the run (as SIGTERM does) and requires exit code 0.
func (g *gatewayRun) stop(t *testing.T) {
	t.Helper()
	g.cancel()
	select {
	case code := <-g.exit:
		if code != 0 {
			t.Fatalf("exit code %d:\n%s", code, g.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop")
	}
}

func call(t *testing.T, client *http.Client, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestRunBootstrapRestartShutdown starts the gateway on an empty data
// directory, checks the admin token file, writes, restarts, and reads the
// write back with the same token.
func TestRunBootstrapRestartShutdown(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, "--addr", "127.0.0.1:0", "--data-dir", dir)
	tokenPath := filepath.Join(dir, adminTokenFile)
	if !strings.Contains(g.stdout.String(), "admin token: "+tokenPath) {
		t.Fatalf("stdout does not name the token file:\n%s", g.stdout)
	}
	st, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode %v", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(tokenPath)
	token := strings.TrimSpace(string(raw))
	c := http.DefaultClient
	if code, who := call(t, c, "GET", g.url+"/v1/whoami", token, ""); code != 200 || who["name"] != "admin" || who["role"] != "scitech" {
		t.Fatalf("whoami %d %v", code, who)
	}
	if code, _ := call(t, c, "POST", g.url+"/v1/agencies", token, `{"id":"91330100716105852F","name":"红山孵化器","kind":"incubator"}`); code != 201 {
		t.Fatalf("register %d", code)
	}
	if code, _ := call(t, c, "GET", g.url+"/readyz", "", ""); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	g.stop(t)
	logs := g.stderr.String()
	if strings.Contains(logs+g.stdout.String(), token) {
		t.Fatal("the admin token was printed or logged")
	}
	if !strings.Contains(logs, tokenPath) {
		t.Fatal("the log does not name the token file")
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("log line is not JSON: %s", line)
		}
	}

	// Restart: the same token works, the write is there, no new admin.
	g2 := startGateway(t, "--addr", "127.0.0.1:0", "--data-dir", dir)
	defer g2.stop(t)
	raw2, _ := os.ReadFile(tokenPath)
	if string(raw2) != string(raw) {
		t.Fatal("admin.token rewritten on restart")
	}
	if strings.Contains(g2.stderr.String(), "created the first principal") {
		t.Fatal("a second first principal was created")
	}
	code, ag := call(t, c, "GET", g2.url+"/v1/agencies/91330100716105852F", token, "")
	if code != 200 || ag["name"] != "红山孵化器" {
		t.Fatalf("after restart %d %v", code, ag)
	}
}

// TestShutdownDrainsInFlight starts a request, begins the shutdown while
// its body is still on the way, and sees the request answered.
func TestShutdownDrainsInFlight(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, "--addr", "127.0.0.1:0", "--data-dir", dir)
	raw, _ := os.ReadFile(filepath.Join(dir, adminTokenFile))
	token := strings.TrimSpace(string(raw))
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	body := `{"id":"91330100716105852F","name":"A","kind":"incubator"}`
	fmt.Fprintf(conn, "POST /v1/agencies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", token, len(body))
	// The server says 100 Continue when the handler starts reading the
	// body: from then on the request is in flight.
	rd := bufio.NewReader(conn)
	cont, err := http.ReadResponse(rd, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("no 100 Continue: %v %v", cont, err)
	}
	_ = cont.Body.Close()
	g.cancel() // SIGTERM
	deadline := time.Now().Add(5 * time.Second)
	// Shutdown has begun once the listener refuses new connections.
	for {
		c2, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
		if err != nil {
			break
		}
		_ = c2.Close()
		if time.Now().After(deadline) {
			t.Fatal("shutdown did not begin")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("in-flight request dropped: %v\n%s", err, g.stderr)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("in-flight request answered %d", resp.StatusCode)
	}
	select {
	case code := <-g.exit:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop")
	}
}

// TestServeTLS serves HTTPS directly on a non-loopback-capable address.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, pool := selfSigned(t, dir)
	g := startGateway(t, "--addr", "127.0.0.1:0", "--data-dir", dir, "--tls-cert", certPath, "--tls-key", keyPath)
	defer g.stop(t)
	if !strings.HasPrefix(g.url, "https://") {
		t.Fatalf("url %s", g.url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	if code, body := call(t, client, "GET", g.url+"/healthz", "", ""); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz over TLS %d %v", code, body)
	}
}

func TestExitCodes(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--addr", "0.0.0.0:1"}, noEnv, io.Discard, &stderr); code != 2 {
		t.Fatalf("non-loopback plain HTTP: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "refusing plain HTTP") {
		t.Fatalf("stderr %q", stderr.String())
	}
	if code := run(context.Background(), []string{"-h"}, noEnv, io.Discard, io.Discard); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
}

func selfSigned(t *testing.T, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hongshan test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestOpenAPIMatchesTheBinary holds the binary's full route set (reports
// included) and docs/openapi.yaml to each other, both ways.
func TestOpenAPIMatchesTheBinary(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseConfig([]string{"--data-dir", dir}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	led, err := embedded.Open(context.Background(), filepath.Join(dir, ledgerDir), embedded.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = led.Close() }()
	proj, err := projection.Open(filepath.Join(dir, projectionFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proj.Close() }()
	db, err := bolt.Open(filepath.Join(dir, gatewayFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	principals, err := auth.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAPI(cfg, led, proj, principals, db, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &spec); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range spec.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	routed := map[string]bool{}
	for _, r := range a.Routes() {
		routed[r] = true
		if !documented[r] {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("openapi.yaml documents %s, which the binary does not route", op)
		}
	}
	if !routed["POST /v1/reports/reconciliation/payments"] {
		t.Fatal("reports not mounted")
	}
}
