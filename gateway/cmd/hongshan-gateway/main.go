// Command hongshan-gateway serves the Hongshan REST API over a ledger: the
// embedded one (bbolt, in-process) or Hyperledger Fabric. It keeps its read
// model (projection.db), its principals and idempotent answers
// (gateway.db) and, on the embedded backend, the ledger itself under the
// data directory. See docs/operations.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/api"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/backend/embedded"
	"github.com/hongshan-ledger/hongshan/gateway/backend/fabric"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
	"github.com/hongshan-ledger/hongshan/gateway/web"
)

// Files and directories inside the data directory.
const (
	ledgerDir      = "ledger"
	walletDir      = "wallet"
	projectionFile = "projection.db"
	gatewayFile    = "gateway.db"
	adminTokenFile = "admin.token"
	adminName      = "admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run starts the gateway and serves until ctx ends (a signal), then shuts
// down gracefully. It returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "hongshan-gateway:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("gateway stopped", "error", err.Error())
		return 1
	}
	return 0
}

// gateway is everything serve opened, closed in reverse order.
type gateway struct {
	be       backend.Backend
	proj     *projection.Store
	db       *bolt.DB
	api      *api.API
	followed chan struct{}
	stop     context.CancelFunc
}

func (g *gateway) close(log *slog.Logger) {
	if g.api != nil {
		g.api.Close()
	}
	if g.stop != nil {
		g.stop()
		<-g.followed
	}
	closeLogged := func(what string, err error) {
		if err != nil {
			log.Error("close failed", "what", what, "error", err.Error())
		}
	}
	if g.proj != nil {
		closeLogged("projection", g.proj.Close())
	}
	if g.db != nil {
		closeLogged("gateway db", g.db.Close())
	}
	if g.be != nil {
		closeLogged("ledger", g.be.Close())
	}
}

func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.dataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	g := &gateway{}
	defer g.close(log)

	be, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	g.be = be
	proj, err := projection.Open(filepath.Join(cfg.dataDir, projectionFile))
	if err != nil {
		return err
	}
	g.proj = proj
	followCtx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
	g.stop, g.followed = stopFollow, make(chan struct{})
	go follow(followCtx, g.proj, g.be, log, g.followed)

	gwPath := filepath.Join(cfg.dataDir, gatewayFile)
	db, err := bolt.Open(gwPath, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", gwPath, err)
	}
	g.db = db
	principals, err := auth.Open(g.db)
	if err != nil {
		return err
	}
	tokenPath := filepath.Join(cfg.dataDir, adminTokenFile)
	created, err := principals.Bootstrap(ctx, auth.NewPrincipal{Name: adminName, Role: voucher.RoleSciTech}, g.be.Enroll,
		func(token string) error { return writeSecret(tokenPath, token+"\n") })
	if err != nil {
		return fmt.Errorf("create the first principal: %w", err)
	}
	if created {
		log.Info("created the first principal; its token is in the file", "principal", adminName, "role", voucher.RoleSciTech, "token_file", tokenPath)
	}

	a, err := newAPI(cfg, g.be, g.proj, principals, g.db, log)
	if err != nil {
		return err
	}
	g.api = a

	srv := &http.Server{
		Handler:           g.api.Handler(),
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    cfg.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	fmt.Fprintf(stdout, "hongshan-gateway serving %s on the %s ledger\nadmin token: %s\n", url, g.be.Name(), tokenPath)
	log.Info("serving", "url", url, "backend", g.be.Name(), "data_dir", cfg.dataDir, "admin_token_file", tokenPath)

	served := make(chan error, 1)
	go func() {
		if cfg.tlsCert != "" {
			served <- srv.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still running at the shutdown deadline; closing them", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("server ended with an error", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}

// newAPI builds the REST API over opened parts, with the reports and the
// web console mounted.
func newAPI(cfg config, be backend.Backend, proj *projection.Store, principals *auth.Store, db *bolt.DB, log *slog.Logger) (*api.API, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	opts := []api.Option{api.WithLogger(log), api.WithRegistry(reg), api.WithMaxBodyBytes(cfg.maxBodyBytes),
		api.WithCommitTimeout(cfg.commitTimeout), api.WithIdempotency(cfg.idemTTL, cfg.idemMaxEntries),
		api.WithLaneQueue(cfg.laneQueue), mountReports(proj, be), api.WithConsole(web.Handler())}
	if cfg.insecureHTTP {
		// Plain HTTP off loopback is allowed only behind a TLS proxy: the
		// browser reaches the console over HTTPS, so its cookie is Secure.
		opts = append(opts, api.WithSecureCookies())
	}
	return api.New(api.Deps{Backend: be, Reads: proj, Principals: principals, DB: db}, opts...)
}

// openBackend opens the configured ledger.
func openBackend(ctx context.Context, cfg config, log *slog.Logger) (backend.Backend, error) {
	switch cfg.backend {
	case "embedded":
		l, err := embedded.Open(ctx, filepath.Join(cfg.dataDir, ledgerDir), embedded.WithLogger(log))
		if err != nil {
			return nil, err
		}
		return l, nil
	case "fabric":
		b, err := fabric.Open(ctx, fabric.WithProfile(cfg.fabricProfile),
			fabric.WithWalletDir(filepath.Join(cfg.dataDir, walletDir)), fabric.WithLogger(log))
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown backend %q", cfg.backend)
}

// follow keeps the read model fed from the ledger until ctx ends,
// restarting a follower that stopped, with a growing pause.
func follow(ctx context.Context, proj *projection.Store, be backend.Backend, log *slog.Logger, done chan<- struct{}) {
	defer close(done)
	const minPause, maxPause = 500 * time.Millisecond, 30 * time.Second
	pause := minPause
	for {
		started := time.Now()
		err := proj.Follow(ctx, be)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			pause = minPause
		}
		log.Error("read model stopped following the ledger; retrying", "error", fmt.Sprint(err), "retry_in", pause.String())
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return
		}
		pause = min(2*pause, maxPause)
	}
}

// writeSecret writes content to path with mode 0600, atomically: a temporary
// file in the same directory, fsync'd, then renamed over path.
func writeSecret(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
