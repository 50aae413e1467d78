// Command hongshan-bench-fabric is `make bench-fabric`: on the Fabric
// network that `make network-up` started, it measures claims through the
// real gateway binary (HTTP, the typed client) and, in the same run, the
// same Claim transaction submitted directly with fabric-sdk-go through the
// gateway's Fabric backend package (no HTTP, no read model, no lanes), and
// prints claims/s, p50 and p99 of both and the ratio gateway ÷ direct.
//
// Both sides get the same load shape: every client owns its own agencies
// and claims their certificates one after the other (the gateway serialises
// one agency's claims anyway; directly, concurrent claims of one agency
// would only measure MVCC retries), each claim a different certificate.
// Setup (agencies, principals or enrolments, certifications, service
// records) is done through the gateway and the backend and not measured.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
	"github.com/hongshan-ledger/hongshan/e2e/internal/harness"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/backend/fabric"
)

// Bounds of the flags.
const (
	maxClaims  = 100_000
	maxClients = 1024
	// claimsPerAgency is how many vouchers fit one agency's cap in one
	// period (100,000.00 ÷ 5,000.00): every claim of the plan is issued.
	claimsPerAgency = 20
	// issuedOn is the certificates' issue date (inside the policy window).
	issuedOn = "2025-05-20"
)

type config struct {
	profile  string
	gateway  string
	claims   int
	clients  int
	rounds   int
	setupPar int
	timeout  time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hongshan-bench-fabric:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root, err := harness.FindRepoRoot()
	if err != nil {
		return err
	}
	var cfg config
	fs := flag.NewFlagSet("hongshan-bench-fabric", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.profile, "profile", filepath.Join(root, "network", ".state", "connection-profile.yaml"), "connection profile of the running network")
	fs.StringVar(&cfg.gateway, "gateway", filepath.Join(root, "bin", "hongshan-gateway"), "gateway binary")
	fs.IntVar(&cfg.claims, "claims", 640, "claims per side and round")
	fs.IntVar(&cfg.clients, "clients", 32, "concurrent clients per side (each owns its agencies)")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds; each measures both sides, alternately first")
	fs.IntVar(&cfg.setupPar, "setup-workers", 16, "concurrent requests during setup")
	fs.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "time limit of the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case cfg.claims < 1 || cfg.claims > maxClaims:
		return fmt.Errorf("--claims must be 1..%d", maxClaims)
	case cfg.clients < 1 || cfg.clients > maxClients, cfg.setupPar < 1 || cfg.setupPar > maxClients:
		return fmt.Errorf("--clients and --setup-workers must be 1..%d", maxClients)
	case cfg.rounds < 1 || cfg.rounds > 10:
		return errors.New("--rounds must be 1..10")
	case cfg.timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	for _, p := range []string{cfg.profile, cfg.gateway} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (run `make build network-up`)", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "hongshan-bench-fabric-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	b := &bench{cfg: cfg, log: stderr, serials: harness.NewSerials(randomBelow(harness.MaxSerial - 10_000_000)),
		certs: harness.NewSerials(randomBelow(1_000_000 - 2*cfg.rounds*cfg.claims))}
	if err := b.open(ctx, root, dir); err != nil {
		return err
	}
	defer b.close()

	var gw, direct []result
	for round := 1; round <= cfg.rounds; round++ {
		// Alternate which side goes first, so a drift in the shared
		// machine's load does not favour one side.
		sides := []string{"gateway", "direct"}
		if round%2 == 0 {
			slices.Reverse(sides)
		}
		for _, side := range sides {
			jobs, err := b.prepare(ctx, side)
			if err != nil {
				return fmt.Errorf("round %d, %s setup: %w", round, side, err)
			}
			fmt.Fprintf(stderr, "round %d: %d claims %s from %d clients …\n", round, len(jobs), side, cfg.clients)
			r := b.fire(ctx, side, jobs)
			if r.failed > 0 {
				return fmt.Errorf("round %d, %s: %d claims failed, e.g. %w", round, side, r.failed, r.firstErr)
			}
			if side == "gateway" {
				gw = append(gw, r)
			} else {
				direct = append(direct, r)
			}
		}
	}
	report(stdout, cfg, networkSettings(root), gw, direct)
	if br, err := b.breakdown(ctx); err == nil {
		fmt.Fprintln(stdout, br)
	} else {
		fmt.Fprintln(stderr, "gateway metrics:", err)
	}
	return nil
}

// breakdown splits the gateway's mean claim time (its own request duration
// histogram) into the ledger submission (its commit duration histogram) and
// the rest (HTTP, authentication, lane, cap pre-check, read-your-writes).
func (b *bench) breakdown(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.gw.URL()+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	mean := func(name, match string) float64 {
		var sum, count float64
		for line := range strings.SplitSeq(string(body), "\n") {
			if !strings.Contains(line, match) {
				continue
			}
			var v float64
			if rest, ok := strings.CutPrefix(line, name+"_sum{"); ok {
				if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
					sum += v
				}
			} else if rest, ok := strings.CutPrefix(line, name+"_count{"); ok {
				if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
					count += v
				}
			}
		}
		if count == 0 {
			return 0
		}
		return 1000 * sum / count
	}
	total := mean("hongshan_http_request_duration_seconds", `route="/v1/claims"`)
	submit := mean("hongshan_ledger_commit_duration_seconds", `fn="Claim"`)
	return fmt.Sprintf("gateway claims, mean over all rounds: %.1f ms per request, of which %.1f ms in the ledger submission (the backend's Submit) and %.1f ms around it",
		total, submit, total-submit), nil
}

// bench holds both sides: the gateway process with its admin client, and
// the backend opened directly with its service client.
type bench struct {
	cfg     config
	log     io.Writer
	serials *harness.Serials // USCCs and names
	certs   *harness.Serials // certificate numbers

	gw    *harness.Gateway
	hc    *http.Client
	admin *client.Client
	be    *fabric.Backend
}

func (b *bench) open(ctx context.Context, root, dir string) error {
	var err error
	b.gw, err = harness.Start(ctx, harness.Config{
		Bin: b.cfg.gateway, Dir: root, DataDir: filepath.Join(dir, "gateway"), Backend: "fabric",
		Args: []string{"--fabric-config", b.cfg.profile}, LogPath: filepath.Join(dir, "gateway.log"), ReadyTimeout: 3 * time.Minute,
	})
	if err != nil {
		return err
	}
	b.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * maxClients, IdleConnTimeout: time.Minute}}
	token, err := b.gw.AdminToken()
	if err != nil {
		return err
	}
	if b.admin, err = b.client(token); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.be, err = fabric.Open(ctx, fabric.WithProfile(b.cfg.profile), fabric.WithWalletDir(filepath.Join(dir, "direct-wallet")), fabric.WithLogger(quiet))
	return err
}

func (b *bench) close() {
	if b.be != nil {
		_ = b.be.Close()
	}
	if b.gw != nil {
		if err := b.gw.Stop(); err != nil {
			fmt.Fprintln(b.log, "stop gateway:", err)
		}
	}
	if b.hc != nil {
		b.hc.CloseIdleConnections()
	}
}

func (b *bench) client(token string) (*client.Client, error) {
	return client.New(b.gw.URL(), client.WithToken(token), client.WithHTTPClient(b.hc),
		client.WithTimeout(2*time.Minute), client.WithUserAgent("hongshan-bench-fabric"))
}

// job is one claim; claim submits it on its side.
type job struct {
	owner int // the client that fires it
	args  voucher.ClaimArgs
	claim func(context.Context, voucher.ClaimArgs) error
}

// prepare registers new agencies for side (one per claimsPerAgency claims,
// at least one per client), their claimants (gateway principals, or
// backend enrolments), certifications and service records, and returns the
// claims, each owned by the client that owns its agency.
func (b *bench) prepare(ctx context.Context, side string) ([]job, error) {
	agencies := max(b.cfg.clients, (b.cfg.claims+claimsPerAgency-1)/claimsPerAgency)
	claimants := make([]func(context.Context, voucher.ClaimArgs) error, agencies)
	serve := make([]func(context.Context, voucher.RecordServiceArgs) error, agencies)
	ids := make([]string, agencies)
	err := parallel(ctx, agencies, b.cfg.setupPar, func(i int) error {
		ids[i] = harness.UrumqiUSCC(b.serials.Next())
		if _, err := b.admin.RegisterAgency(ctx, voucher.RegisterAgencyArgs{ID: ids[i], Name: fmt.Sprintf("Fabric基准服务机构%d", i), Kind: voucher.KindServiceAgency}); err != nil {
			return err
		}
		name := fmt.Sprintf("bench-%s-%d", side, b.serials.Next())
		if side == "gateway" {
			p, err := b.admin.CreatePrincipal(ctx, client.NewPrincipal{Name: name, Role: voucher.RoleAgency, AgencyID: ids[i]})
			if err != nil {
				return err
			}
			c, err := b.client(p.Token)
			if err != nil {
				return err
			}
			claimants[i] = func(ctx context.Context, a voucher.ClaimArgs) error { _, err := c.Claim(ctx, a); return err }
			serve[i] = func(ctx context.Context, a voucher.RecordServiceArgs) error {
				_, err := c.RecordService(ctx, a)
				return err
			}
			return nil
		}
		caller := backend.Caller{Name: name, Role: voucher.RoleAgency, AgencyID: ids[i]}
		if err := b.be.Enroll(ctx, caller); err != nil {
			return err
		}
		claimants[i] = func(ctx context.Context, a voucher.ClaimArgs) error { return b.submit(ctx, caller, "Claim", a) }
		serve[i] = func(ctx context.Context, a voucher.RecordServiceArgs) error {
			return b.submit(ctx, caller, "RecordService", a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	jobs := make([]job, b.cfg.claims)
	err = parallel(ctx, len(jobs), b.cfg.setupPar, func(i int) error {
		agency := i % agencies
		n := b.serials.Next()
		e := voucher.ClaimArgs{EnterpriseID: harness.UrumqiUSCC(n), CertificateNo: harness.CertNo(2025, b.certs.Next())}
		if _, err := b.admin.RecordCertification(ctx, voucher.RecordCertificationArgs{EnterpriseID: e.EnterpriseID,
			EnterpriseName: fmt.Sprintf("新疆红山基准科技有限公司%d", n), CertificateNo: e.CertificateNo, IssuedOn: issuedOn, Kind: voucher.CertFirst}); err != nil {
			return err
		}
		if err := serve[agency](ctx, voucher.RecordServiceArgs{EnterpriseID: e.EnterpriseID, ContractRef: "HT-" + e.CertificateNo,
			StartedOn: "2025-01-10", EvidenceSHA256: harness.Evidence(ids[agency], e.EnterpriseID)}); err != nil {
			return err
		}
		jobs[i] = job{owner: agency % b.cfg.clients, args: e, claim: claimants[agency]}
		return nil
	})
	return jobs, err
}

// submit is the direct side: the backend's Submit as caller.
func (b *bench) submit(ctx context.Context, caller backend.Caller, fn string, arg any) error {
	raw, err := json.Marshal(arg)
	if err != nil {
		return err
	}
	_, err = b.be.Submit(ctx, caller, fn, raw)
	return err
}

// result is one side's measured claims.
type result struct {
	claims    int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	failed    int
	firstErr  error
}

func (r result) perSecond() float64 { return float64(r.claims) / r.elapsed.Seconds() }

// fire runs the claims, each client its own in order, and measures them.
func (b *bench) fire(ctx context.Context, side string, jobs []job) result {
	byOwner := make([][]job, b.cfg.clients)
	for _, j := range jobs {
		byOwner[j.owner] = append(byOwner[j.owner], j)
	}
	var (
		mu  sync.Mutex
		res = result{claims: len(jobs)}
		wg  sync.WaitGroup
	)
	start := time.Now()
	for _, own := range byOwner {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range own {
				t0 := time.Now()
				err := j.claim(ctx, j.args)
				took := time.Since(t0)
				mu.Lock()
				res.latencies = append(res.latencies, took)
				if err != nil {
					res.failed++
					if res.firstErr == nil {
						res.firstErr = fmt.Errorf("%s claim %s: %w", side, j.args.CertificateNo, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// quantile is the q-quantile (0 < q ≤ 1) of sorted latencies, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// total merges rounds: all claims over all elapsed time, all latencies.
func total(rs []result) result {
	var t result
	for _, r := range rs {
		t.claims += r.claims
		t.elapsed += r.elapsed
		t.latencies = append(t.latencies, r.latencies...)
	}
	slices.Sort(t.latencies)
	return t
}

func report(w io.Writer, cfg config, settings string, gw, direct []result) {
	fmt.Fprintf(w, "Fabric: %s; %d claims per side and round, %d clients\n", settings, cfg.claims, cfg.clients)
	fmt.Fprintf(w, "%-8s %5s %10s %10s %10s %10s\n", "side", "round", "claims/s", "p50 ms", "p99 ms", "elapsed s")
	line := func(side, round string, r result) {
		fmt.Fprintf(w, "%-8s %5s %10.1f %10.1f %10.1f %10.2f\n", side, round, r.perSecond(),
			ms(quantile(r.latencies, 0.5)), ms(quantile(r.latencies, 0.99)), r.elapsed.Seconds())
	}
	for i := range gw {
		line("gateway", fmt.Sprint(i+1), gw[i])
		line("direct", fmt.Sprint(i+1), direct[i])
	}
	g, d := total(gw), total(direct)
	line("gateway", "all", g)
	line("direct", "all", d)
	fmt.Fprintf(w, "gateway/direct = %.2f (claims/s over all rounds; target ≥ 0.90)\n", g.perSecond()/d.perSecond())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// networkSettings names the block cutting the network runs with, from
// network/.state/network.env.
func networkSettings(root string) string {
	raw, err := os.ReadFile(filepath.Join(root, "network", ".state", "network.env"))
	if err != nil {
		return "settings unknown"
	}
	var parts []string
	for line := range strings.SplitSeq(string(raw), "\n") {
		for _, k := range []string{"HONGSHAN_BATCH_TIMEOUT", "HONGSHAN_MAX_MESSAGE_COUNT", "HONGSHAN_RAFT_SNAPSHOT_INTERVAL"} {
			if v, ok := strings.CutPrefix(strings.TrimPrefix(line, "export "), k+"="); ok {
				parts = append(parts, strings.TrimPrefix(k, "HONGSHAN_")+"="+strings.Trim(v, `'"`))
			}
		}
	}
	return strings.Join(parts, " ")
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the
// first error; after one, no new call starts.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	jobs := make(chan int)
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
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// randomBelow starts this run's serials where identifiers are new (in
// contiguous ranges from a random base): the network's ledger outlives runs.
func randomBelow(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(max(n, 1))))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return int(v.Int64())
}
