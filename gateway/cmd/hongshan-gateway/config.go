package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// defaultFabricProfile is where network/ scripts leave the connection
// profile of the local Fabric network.
const defaultFabricProfile = "network/.state/connection-profile.yaml"

// config is everything the gateway is started with.
type config struct {
	addr          string
	dataDir       string
	backend       string
	fabricProfile string
	tlsCert       string
	tlsKey        string
	insecureHTTP  bool
	logLevel      slog.Level

	maxBodyBytes      int64
	maxHeaderBytes    int
	commitTimeout     time.Duration
	shutdownTimeout   time.Duration
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	idemTTL           time.Duration
	idemMaxEntries    int
	laneQueue         int
}

// parseConfig reads flags, each defaulting to its HONGSHAN_* environment
// variable, then to a built-in default.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("hongshan-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var errs []error
	envInt := func(name string, def int64) int64 {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not an integer", name, v))
			return def
		}
		return n
	}
	envDur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a duration", name, v))
			return def
		}
		return d
	}
	envBool := func(name string) bool {
		v := getenv(name)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a boolean", name, v))
		}
		return b
	}

	fs.StringVar(&c.addr, "addr", env("HONGSHAN_ADDR", "127.0.0.1:8080"), "listen address HOST:PORT (env HONGSHAN_ADDR)")
	fs.StringVar(&c.dataDir, "data-dir", env("HONGSHAN_DATA_DIR", "./data"), "data directory (env HONGSHAN_DATA_DIR)")
	fs.StringVar(&c.backend, "backend", env("HONGSHAN_BACKEND", "embedded"), "ledger: embedded or fabric (env HONGSHAN_BACKEND)")
	fs.StringVar(&c.fabricProfile, "fabric-config", env("HONGSHAN_FABRIC_CONFIG", ""),
		"Fabric connection profile (env HONGSHAN_FABRIC_CONFIG; default "+defaultFabricProfile+" if present)")
	fs.StringVar(&c.tlsCert, "tls-cert", env("HONGSHAN_TLS_CERT", ""), "TLS certificate chain, PEM (env HONGSHAN_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", env("HONGSHAN_TLS_KEY", ""), "TLS private key, PEM (env HONGSHAN_TLS_KEY)")
	fs.BoolVar(&c.insecureHTTP, "insecure-http", envBool("HONGSHAN_INSECURE_HTTP"),
		"allow plain HTTP on a non-loopback address (env HONGSHAN_INSECURE_HTTP)")
	logLevel := fs.String("log-level", env("HONGSHAN_LOG_LEVEL", "info"), "debug, info, warn or error (env HONGSHAN_LOG_LEVEL)")

	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", envInt("HONGSHAN_MAX_BODY_BYTES", 64<<10), "request body limit in bytes")
	maxHeader := fs.Int64("max-header-bytes", envInt("HONGSHAN_MAX_HEADER_BYTES", 32<<10), "request header limit in bytes")
	fs.DurationVar(&c.commitTimeout, "commit-timeout", envDur("HONGSHAN_COMMIT_TIMEOUT", 30*time.Second), "bound of one ledger write")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", envDur("HONGSHAN_SHUTDOWN_TIMEOUT", 15*time.Second),
		"how long in-flight requests may finish after SIGTERM")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", envDur("HONGSHAN_READ_HEADER_TIMEOUT", 10*time.Second), "HTTP read header timeout")
	fs.DurationVar(&c.readTimeout, "read-timeout", envDur("HONGSHAN_READ_TIMEOUT", 30*time.Second), "HTTP read timeout (whole request)")
	fs.DurationVar(&c.writeTimeout, "write-timeout", envDur("HONGSHAN_WRITE_TIMEOUT", 60*time.Second), "HTTP write timeout (ledger verification extends its own)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", envDur("HONGSHAN_IDLE_TIMEOUT", 120*time.Second), "HTTP keep-alive idle timeout")
	fs.DurationVar(&c.idemTTL, "idempotency-ttl", envDur("HONGSHAN_IDEMPOTENCY_TTL", 24*time.Hour), "how long Idempotency-Key answers are kept")
	idemMax := fs.Int64("idempotency-max-entries", envInt("HONGSHAN_IDEMPOTENCY_MAX_ENTRIES", 100_000), "how many Idempotency-Key answers are kept")
	laneQueue := fs.Int64("lane-queue", envInt("HONGSHAN_LANE_QUEUE", 256), "claims of one agency that may wait for its lane")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if err := c.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel))
	}
	c.maxHeaderBytes, c.idemMaxEntries, c.laneQueue = int(*maxHeader), int(*idemMax), int(*laneQueue)
	if c.fabricProfile == "" && c.backend == "fabric" {
		if _, err := os.Stat(defaultFabricProfile); err == nil {
			c.fabricProfile = defaultFabricProfile
		}
	}
	errs = append(errs, c.check())
	return c, errors.Join(errs...)
}

// check refuses settings the gateway must not run with.
func (c config) check() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: %w", c.addr, err))
	}
	if c.dataDir == "" {
		errs = append(errs, errors.New("--data-dir is empty"))
	}
	switch c.backend {
	case "embedded":
	case "fabric":
		if c.fabricProfile == "" {
			errs = append(errs, fmt.Errorf("--backend fabric needs --fabric-config (no %s found)", defaultFabricProfile))
		}
	default:
		errs = append(errs, fmt.Errorf("--backend %q: want embedded or fabric", c.backend))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.tlsCert == "" && !c.insecureHTTP && !loopback(c.addr) {
		errs = append(errs, fmt.Errorf("refusing plain HTTP on %s, which is not a loopback address: give --tls-cert/--tls-key, or --insecure-http behind a TLS proxy", c.addr))
	}
	for name, v := range map[string]int64{
		"--max-body-bytes": c.maxBodyBytes, "--max-header-bytes": int64(c.maxHeaderBytes),
		"--idempotency-max-entries": int64(c.idemMaxEntries), "--lane-queue": int64(c.laneQueue),
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	for name, d := range map[string]time.Duration{
		"--commit-timeout": c.commitTimeout, "--shutdown-timeout": c.shutdownTimeout,
		"--read-header-timeout": c.readHeaderTimeout, "--read-timeout": c.readTimeout,
		"--write-timeout": c.writeTimeout, "--idle-timeout": c.idleTimeout, "--idempotency-ttl": c.idemTTL,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	return errors.Join(errs...)
}

// loopback reports whether addr listens only on the loopback interface.
// An empty host (all interfaces) is not loopback.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
