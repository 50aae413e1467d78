package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of the harness.
const (
	// DefaultReadyTimeout bounds a start until /readyz answers 200.
	DefaultReadyTimeout = 60 * time.Second
	// stopTimeout bounds a graceful stop before the process is killed.
	stopTimeout = 30 * time.Second
	// readyPoll is the interval between /readyz probes.
	readyPoll = 50 * time.Millisecond
	// maxLogTail bounds what LogTail returns.
	maxLogTail = 16 << 10
)

// FindRepoRoot walks up from the working directory to the folder holding
// go.mod, so tests and tools find the gateway's sources wherever they run.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: no go.mod above the working directory")
		}
		dir = parent
	}
}

// BuildGateway builds ./gateway/cmd/hongshan-gateway of the repository at
// root into dir and returns the binary's path.
func BuildGateway(ctx context.Context, root, dir string) (string, error) {
	return Build(ctx, root, "./gateway/cmd/hongshan-gateway", filepath.Join(dir, "hongshan-gateway"))
}

// Build builds the package pkg (e.g. "./client/cmd/hongshan") of the
// repository at root into the binary out and returns out.
func Build(ctx context.Context, root, pkg, out string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg) //nolint:gosec // package and output are the caller's constants
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("harness: go build %s: %w\n%s", pkg, err, buf.String())
	}
	return out, nil
}

// Config describes a gateway process.
type Config struct {
	// Bin is the gateway binary.
	Bin string
	// Dir is the working directory (the repository root, so relative
	// defaults such as network/.state resolve).
	Dir string
	// DataDir holds the gateway's data; reuse it to restart.
	DataDir string
	// Backend is "embedded" or "fabric".
	Backend string
	// Args are extra flags.
	Args []string
	// LogPath receives the gateway's stdout and stderr (appended).
	LogPath string
	// ReadyTimeout bounds a start; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Gateway is a running gateway process.
type Gateway struct {
	cfg  Config
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logf   *os.File
}

// Start starts a gateway on a free loopback port and waits until /readyz
// answers 200.
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, addr: addr}
	if err := g.start(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// freeLoopbackAddr asks the kernel for a free port. The port is released
// before the gateway binds it; on the rare collision the start fails fast.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("harness: free port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func (g *Gateway) start(ctx context.Context) error {
	logf, err := os.OpenFile(g.cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("harness: gateway log: %w", err)
	}
	fmt.Fprintf(logf, "\n--- harness: starting gateway on %s at %s ---\n", g.addr, time.Now().UTC().Format(time.RFC3339Nano))
	args := append([]string{"--addr", g.addr, "--data-dir", g.cfg.DataDir, "--backend", g.cfg.Backend}, g.cfg.Args...)
	cmd := exec.Command(g.cfg.Bin, args...) //nolint:gosec // running the gateway under test is this package's job
	cmd.Dir = g.cfg.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = gatewayEnv()
	// The gateway dies with the test process, even one killed by a test
	// timeout before its cleanups ran: no gateway outlives its run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("harness: start gateway: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	g.mu.Lock()
	g.cmd, g.exited, g.logf = cmd, exited, logf
	g.mu.Unlock()
	if err := g.waitReady(ctx); err != nil {
		g.Kill()
		return fmt.Errorf("%w\n%s", err, g.LogTail())
	}
	return nil
}

// gatewayEnv is the test process's environment without the gateway's own
// settings, which the harness passes as flags.
func gatewayEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HONGSHAN_ADDR=") || strings.HasPrefix(kv, "HONGSHAN_DATA_DIR=") || strings.HasPrefix(kv, "HONGSHAN_BACKEND=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitReady polls /readyz until it answers 200, the process exits, or the
// ready timeout passes.
func (g *Gateway) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.ReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	g.mu.Lock()
	exited := g.exited
	g.mu.Unlock()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL()+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("harness: gateway exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("harness: gateway not ready within %v", g.cfg.ReadyTimeout)
		case <-tick.C:
		}
	}
}

// URL is the gateway's base URL.
func (g *Gateway) URL() string { return "http://" + g.addr }

// LogPath is the file that receives the gateway's output, across restarts.
func (g *Gateway) LogPath() string { return g.cfg.LogPath }

// DataDir is the gateway's data directory.
func (g *Gateway) DataDir() string { return g.cfg.DataDir }

// PID is the running process's id (0 when stopped).
func (g *Gateway) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil || g.cmd.Process == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// AdminToken reads <data-dir>/admin.token, which the gateway writes on its
// first start.
func (g *Gateway) AdminToken() (string, error) {
	b, err := os.ReadFile(filepath.Join(g.cfg.DataDir, "admin.token"))
	if err != nil {
		return "", fmt.Errorf("harness: admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Stop sends SIGTERM and waits for a graceful exit, killing the process
// if it does not exit in time. It returns an error if the kill was needed.
func (g *Gateway) Stop() error {
	return g.signal(syscall.SIGTERM, stopTimeout)
}

// Kill sends SIGKILL (kill -9) and waits until the process is gone.
func (g *Gateway) Kill() {
	_ = g.signal(syscall.SIGKILL, stopTimeout)
}

func (g *Gateway) signal(sig syscall.Signal, wait time.Duration) error {
	g.mu.Lock()
	cmd, exited, logf := g.cmd, g.exited, g.logf
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil {
		return nil
	}
	defer logf.Close()
	_ = cmd.Process.Signal(sig)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("harness: gateway did not exit within %v of %v; killed", wait, sig)
	}
}

// Restart starts the gateway again on the same address and data dir, after
// Stop or Kill.
func (g *Gateway) Restart(ctx context.Context) error {
	if g.PID() != 0 {
		return errors.New("harness: restart of a running gateway")
	}
	return g.start(ctx)
}

// LogTail is the end of the gateway's log, for failure reports.
func (g *Gateway) LogTail() string {
	f, err := os.Open(g.cfg.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxLogTail {
		_, _ = f.Seek(-maxLogTail, io.SeekEnd)
	}
	b, _ := io.ReadAll(io.LimitReader(f, maxLogTail))
	return string(b)
}

// ResetPeakRSS restarts the process's peak RSS measure (writes 5 to
// /proc/<pid>/clear_refs, Linux), so a later PeakRSSKiB covers only what
// happens from now on.
func (g *Gateway) ResetPeakRSS() error {
	pid := g.PID()
	if pid == 0 {
		return errors.New("harness: gateway not running")
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// clockTicksPerSecond is Linux's USER_HZ, the unit of /proc/<pid>/stat's
// CPU times (100 on every architecture Go supports).
const clockTicksPerSecond = 100

// CPUTime reads the process's user+system CPU time so far from
// /proc/<pid>/stat (Linux), to 10 ms.
func (g *Gateway) CPUTime() (time.Duration, error) {
	pid := g.PID()
	if pid == 0 {
		return 0, errors.New("harness: gateway not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPUTime(b)
}

// statCPUTime is utime+stime of a /proc/<pid>/stat line.
func statCPUTime(b []byte) (time.Duration, error) {
	// The command name, in parentheses, may hold spaces: fields start after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("harness: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("harness: short /proc stat")
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15 of stat(5)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("harness: /proc stat CPU time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// PeakRSSKiB reads the process's peak resident set size (VmHWM) from
// /proc/<pid>/status.
func (g *Gateway) PeakRSSKiB() (int64, error) {
	pid := g.PID()
	if pid == 0 {
		return 0, errors.New("harness: gateway not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib); err != nil {
				return 0, fmt.Errorf("harness: VmHWM %q: %w", rest, err)
			}
			return kib, nil
		}
	}
	return 0, errors.New("harness: no VmHWM in /proc status")
}
