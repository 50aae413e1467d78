package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
	"github.com/hongshan-ledger/hongshan/e2e/internal/harness"
)

// maxFailuresKept bounds the failure samples kept for the report.
const maxFailuresKept = 5

// loadResult is what the measured claim phase gives.
type loadResult struct {
	agencies  int
	claims    int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	// setupRSSKiB is the peak during setup; peakRSSKiB the peak during
	// the claims (0 when it could not be told apart from setup's).
	setupRSSKiB int64
	peakRSSKiB  int64
	// gatewayCPU is the gateway's user+system CPU time during the claims
	// (0 when it could not be read).
	gatewayCPU time.Duration
	failed     int
	failures   []string
}

func (r loadResult) perSecond() float64 {
	return float64(r.claims-r.failed) / r.elapsed.Seconds()
}

// job is one claim: an agency and one of its certified, served enterprises.
type job struct {
	agency                  int
	enterpriseID, certNo    string
	issuedOn, contractRef   string
	startedOn, evidenceHash string
}

// benchGateway starts the gateway, sets up agencies, certifications and
// service records (not measured), then measures the claims.
func benchGateway(ctx context.Context, cfg config, bin, dir string, log io.Writer) (loadResult, error) {
	gw, err := harness.Start(ctx, harness.Config{
		Bin: bin, DataDir: filepath.Join(dir, "data"), Backend: "embedded",
		LogPath: filepath.Join(dir, "gateway.log"), ReadyTimeout: time.Minute,
	})
	if err != nil {
		return loadResult{}, err
	}
	defer func() {
		if err := gw.Stop(); err != nil {
			fmt.Fprintln(log, "stop gateway:", err)
		}
	}()
	token, err := gw.AdminToken()
	if err != nil {
		return loadResult{}, err
	}
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        2 * max(cfg.clients, cfg.setupWorkers),
		MaxIdleConnsPerHost: max(cfg.clients, cfg.setupWorkers),
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
	defer hc.CloseIdleConnections()
	newClient := func(token string) (*client.Client, error) {
		return client.New(gw.URL(), client.WithToken(token), client.WithHTTPClient(hc),
			client.WithTimeout(time.Minute), client.WithUserAgent("hongshan-bench"))
	}
	admin, err := newClient(token)
	if err != nil {
		return loadResult{}, err
	}

	// Plan: each agency's claims spread over the policy's periods, at most
	// cap ÷ unit reward per period, so every claim is issued.
	policy, err := admin.GetPolicy(ctx)
	if err != nil {
		return loadResult{}, fmt.Errorf("policy: %w", err)
	}
	dates, perPeriod, err := issueDates(policy)
	if err != nil {
		return loadResult{}, err
	}
	perAgency := len(dates) * perPeriod
	agencies := max(cfg.agencies, (cfg.claims+perAgency-1)/perAgency)
	jobs := plan(cfg.claims, agencies, dates)
	fmt.Fprintf(log, "setup: %d agencies, %d certifications and service records over %d periods (%d per agency and period at most) …\n",
		agencies, len(jobs), len(dates), perPeriod)
	setupStart := time.Now()

	ids := make([]string, agencies)
	clients := make([]*client.Client, agencies)
	if err := parallel(ctx, agencies, cfg.setupWorkers, func(i int) error {
		ids[i] = harness.UrumqiUSCC(1 + i)
		if _, err := admin.RegisterAgency(ctx, voucher.RegisterAgencyArgs{ID: ids[i], Name: fmt.Sprintf("基准测试服务机构%04d", i), Kind: voucher.KindServiceAgency}); err != nil {
			return fmt.Errorf("register agency %d: %w", i, err)
		}
		p, err := admin.CreatePrincipal(ctx, client.NewPrincipal{Name: "bench-agency-" + strconv.Itoa(i), Role: voucher.RoleAgency, AgencyID: ids[i]})
		if err != nil {
			return fmt.Errorf("principal of agency %d: %w", i, err)
		}
		clients[i], err = newClient(p.Token)
		return err
	}); err != nil {
		return loadResult{}, err
	}
	if err := parallel(ctx, len(jobs), cfg.setupWorkers, func(i int) error {
		j := jobs[i]
		if _, err := admin.RecordCertification(ctx, voucher.RecordCertificationArgs{
			EnterpriseID: j.enterpriseID, EnterpriseName: "基准企业" + strconv.Itoa(i), CertificateNo: j.certNo, IssuedOn: j.issuedOn, Kind: voucher.CertFirst,
		}); err != nil {
			return fmt.Errorf("certification %s: %w", j.certNo, err)
		}
		if _, err := clients[j.agency].RecordService(ctx, voucher.RecordServiceArgs{
			EnterpriseID: j.enterpriseID, ContractRef: j.contractRef, StartedOn: j.startedOn, EvidenceSHA256: j.evidenceHash,
		}); err != nil {
			return fmt.Errorf("service record %s: %w", j.certNo, err)
		}
		return nil
	}); err != nil {
		return loadResult{}, err
	}
	fmt.Fprintf(log, "setup done in %v; firing %d claims from %d clients …\n", time.Since(setupStart).Round(time.Millisecond), len(jobs), cfg.clients)

	// Measured: the claims, shuffled so consecutive claims hit different
	// agencies as real traffic would.
	setupRSS, err := gw.PeakRSSKiB()
	if err != nil {
		return loadResult{}, err
	}
	if err := gw.ResetPeakRSS(); err != nil {
		fmt.Fprintf(log, "cannot reset the peak RSS (%v): the figure covers setup too\n", err)
	}
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // a fixed, reproducible shuffle
	rng.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	lat := make([]time.Duration, len(jobs))
	var (
		next     atomic.Int64
		failed   atomic.Int64
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	cpu0, cpuErr := gw.CPUTime()
	start := time.Now()
	for range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) || ctx.Err() != nil {
					return
				}
				j := jobs[i]
				t0 := time.Now()
				_, err := clients[j.agency].Claim(ctx, voucher.ClaimArgs{EnterpriseID: j.enterpriseID, CertificateNo: j.certNo})
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if len(failures) < maxFailuresKept {
						failures = append(failures, err.Error())
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return loadResult{}, fmt.Errorf("claims interrupted: %w", err)
	}
	var gatewayCPU time.Duration
	if cpu1, err := gw.CPUTime(); err == nil && cpuErr == nil {
		gatewayCPU = cpu1 - cpu0
	}
	rss, err := gw.PeakRSSKiB()
	if err != nil {
		return loadResult{}, err
	}
	slices.Sort(lat)
	return loadResult{
		agencies: agencies, claims: len(jobs), elapsed: elapsed, latencies: lat, setupRSSKiB: setupRSS, peakRSSKiB: rss, gatewayCPU: gatewayCPU,
		failed: int(failed.Load()), failures: failures,
	}, nil
}

// issueDates picks one certificate issue date per period of the policy and
// how many claims fit an agency's cap in one period.
func issueDates(p voucher.Policy) ([]string, int, error) {
	unit, err := decimal.NewFromString(p.UnitRewardCNY)
	if err != nil || !unit.IsPositive() {
		return nil, 0, fmt.Errorf("policy unit reward %q", p.UnitRewardCNY)
	}
	capAmount, err := decimal.NewFromString(p.CapPerAgencyCNY)
	if err != nil {
		return nil, 0, fmt.Errorf("policy cap %q", p.CapPerAgencyCNY)
	}
	perPeriod := int(capAmount.Div(unit).IntPart())
	from, err1 := time.Parse(time.DateOnly, p.WindowFrom)
	to, err2 := time.Parse(time.DateOnly, p.WindowTo)
	if err1 != nil || err2 != nil || to.Before(from) || perPeriod < 1 {
		return nil, 0, fmt.Errorf("policy %+v gives no room to claim", p)
	}
	if p.CapScope == voucher.CapScopeProgram {
		return []string{from.Format(time.DateOnly)}, perPeriod, nil
	}
	var dates []string
	for y := from.Year(); y <= to.Year(); y++ {
		d := time.Date(y, time.June, 15, 0, 0, 0, 0, time.UTC)
		if d.Before(from) {
			d = from
		}
		if d.After(to) {
			d = to
		}
		dates = append(dates, d.Format(time.DateOnly))
	}
	return dates, perPeriod, nil
}

// plan spreads claims over agencies round-robin and, within an agency,
// over the periods' issue dates, so no agency's period exceeds its cap.
func plan(claims, agencies int, dates []string) []job {
	jobs := make([]job, claims)
	for i := range jobs {
		a := i % agencies
		k := i / agencies // the agency's k-th claim
		issued := dates[k%len(dates)]
		d, _ := time.Parse(time.DateOnly, issued)
		eid := harness.UrumqiUSCC(10_000_000 + i)
		jobs[i] = job{
			agency:       a,
			enterpriseID: eid,
			certNo:       harness.CertNo(d.Year(), i),
			issuedOn:     issued,
			contractRef:  "BENCH-" + strconv.Itoa(i),
			startedOn:    d.AddDate(0, -3, 0).Format(time.DateOnly),
			evidenceHash: harness.Evidence("bench", eid),
		}
	}
	return jobs
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the
// first error, after which no new call starts.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		stop     atomic.Bool
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return errors.Join(errors.New("setup interrupted"), err)
	}
	return nil
}
