// Command hongshan-bench is the load generator of `make bench`: it starts
// the real gateway binary on the embedded ledger in a temp dir, registers
// agencies, certifications and service records through the API (setup, not
// measured), then fires claims from concurrent HTTP clients (keep-alive,
// loopback) and prints claims/s, p50 and p99 latency and the gateway's peak
// RSS. In the same run it measures the baseline, bbolt's own DB.Batch
// putting records of about one claim's block size from as many goroutines
// with fsync, and prints the ratio claims/s ÷ DB.Batch writes/s.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hongshan-ledger/hongshan/e2e/internal/harness"
)

// Bounds of the flags.
const (
	maxClaims   = 1_000_000 // certificate serials are unique per year below this
	maxWorkers  = 4096
	maxRecord   = 1 << 20
	maxAgencies = 1_000_000
)

// config is the bench's flags.
type config struct {
	gateway        string
	claims         int
	agencies       int
	clients        int
	setupWorkers   int
	baselineWrites int
	recordBytes    int
	keep           bool
	timeout        time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hongshan-bench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("hongshan-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.gateway, "gateway", "", "gateway binary (default: bin/hongshan-gateway of the repository, built if missing)")
	fs.IntVar(&cfg.claims, "claims", 50_000, "claims to fire")
	fs.IntVar(&cfg.agencies, "agencies", 500, "agencies, at least; raised so each agency's claims fit its caps")
	fs.IntVar(&cfg.clients, "clients", 64, "concurrent HTTP clients firing claims")
	fs.IntVar(&cfg.setupWorkers, "setup-workers", 64, "concurrent HTTP clients during setup")
	fs.IntVar(&cfg.baselineWrites, "baseline-writes", 20_000, "records the bbolt DB.Batch baseline puts")
	fs.IntVar(&cfg.recordBytes, "record-bytes", 1024, "bytes per baseline record (about one claim's block record)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (gateway data and log) for inspection")
	fs.DurationVar(&cfg.timeout, "timeout", 20*time.Minute, "time limit of the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "hongshan-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintf(stderr, "temp dir kept: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin, err := gatewayBinary(ctx, cfg.gateway, dir, stderr)
	if err != nil {
		return err
	}

	load, err := benchGateway(ctx, cfg, bin, dir, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "baseline: bbolt DB.Batch, %d goroutines, %d writes of %d bytes …\n", cfg.clients, cfg.baselineWrites, cfg.recordBytes)
	base, err := batchBaseline(ctx, filepath.Join(dir, "baseline.db"), cfg.baselineWrites, cfg.clients, cfg.recordBytes)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	report(stdout, cfg, load, base)
	if load.failed > 0 {
		return fmt.Errorf("%d claims failed: %v", load.failed, load.failures)
	}
	return nil
}

func (c config) check() error {
	switch {
	case c.claims < 1 || c.claims > maxClaims:
		return fmt.Errorf("--claims must be 1..%d", maxClaims)
	case c.agencies < 1 || c.agencies > maxAgencies:
		return fmt.Errorf("--agencies must be 1..%d", maxAgencies)
	case c.clients < 1 || c.clients > maxWorkers, c.setupWorkers < 1 || c.setupWorkers > maxWorkers:
		return fmt.Errorf("--clients and --setup-workers must be 1..%d", maxWorkers)
	case c.baselineWrites < 1 || c.baselineWrites > maxClaims:
		return fmt.Errorf("--baseline-writes must be 1..%d", maxClaims)
	case c.recordBytes < 1 || c.recordBytes > maxRecord:
		return fmt.Errorf("--record-bytes must be 1..%d", maxRecord)
	case c.timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
}

// gatewayBinary is the binary to bench: the flag's, else the repository's
// bin/hongshan-gateway (what `make build` made), else one built now.
func gatewayBinary(ctx context.Context, flagPath, dir string, log io.Writer) (string, error) {
	if flagPath != "" {
		if _, err := os.Stat(flagPath); err != nil {
			return "", fmt.Errorf("--gateway: %w", err)
		}
		return flagPath, nil
	}
	root, err := harness.FindRepoRoot()
	if err != nil {
		return "", err
	}
	if p := filepath.Join(root, "bin", "hongshan-gateway"); fileExists(p) {
		return p, nil
	}
	fmt.Fprintln(log, "building the gateway …")
	return harness.BuildGateway(ctx, root, dir)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
