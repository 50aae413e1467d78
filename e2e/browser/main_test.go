// Package browser proves the web console in a real browser: Debian's
// Chromium, headless, driven by chromedp over the real gateway binary on the
// embedded ledger. Every role signs in and does its job through the pages a
// person would use; screenshots of each role's home page land in
// .artifacts/screenshots/ (git-ignored) for a person to look at.
//
// Environment:
//
//	HONGSHAN_CHROMIUM          the browser (default: chromium, chromium-browser,
//	                           google-chrome on PATH)
//	CI=true                    a missing browser fails the suite instead of skipping it
//	HONGSHAN_E2E_GATEWAY_BIN   a gateway binary to use instead of building one
//	HONGSHAN_E2E_BACKEND       the console test runs on the embedded ledger only;
//	                           with "fabric" it skips (the UI does not depend on it)
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/e2e/internal/harness"
)

var (
	repoRoot     string
	gatewayBin   string
	chromiumPath string
	// skipReason is why the suite does not run here, if it does not.
	skipReason string
	// shotsDir receives the screenshots.
	shotsDir string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func findChromium() string {
	if p := os.Getenv("HONGSHAN_CHROMIUM"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return ""
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func runMain(m *testing.M) int {
	if b := os.Getenv("HONGSHAN_E2E_BACKEND"); b != "" && b != "embedded" {
		skipReason = fmt.Sprintf("the console test runs on the embedded ledger only (HONGSHAN_E2E_BACKEND=%s)", b)
		return m.Run()
	}
	chromiumPath = findChromium()
	if chromiumPath == "" {
		msg := "no Chromium found: apt-get install -y chromium (Debian), or set HONGSHAN_CHROMIUM to the browser"
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "e2e/browser: FAIL:", msg, "— CI=true, so the console test may not be skipped")
			return 1
		}
		skipReason = msg
		return m.Run()
	}
	var err error
	if repoRoot, err = harness.FindRepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/browser:", err)
		return 1
	}
	shotsDir = filepath.Join(repoRoot, ".artifacts", "screenshots")
	if err := os.MkdirAll(shotsDir, 0o750); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/browser:", err)
		return 1
	}
	gatewayBin = os.Getenv("HONGSHAN_E2E_GATEWAY_BIN")
	if gatewayBin == "" {
		dir, err := os.MkdirTemp("", "hongshan-browser-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e/browser:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if gatewayBin, err = harness.BuildGateway(ctx, repoRoot, dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e/browser:", err)
			return 1
		}
	}
	return m.Run()
}

// requireBrowser skips the test, saying why, when the suite cannot run.
func requireBrowser(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip("e2e/browser: " + skipReason)
	}
}
