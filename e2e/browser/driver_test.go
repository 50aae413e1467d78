package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Bounds of the browser test.
const (
	// stepTimeout bounds one step (a click and what it should show).
	stepTimeout = 30 * time.Second
	// downloadTimeout bounds a download reaching the disk.
	downloadTimeout = 30 * time.Second
	// viewportW and viewportH are the office screen the console must fit.
	viewportW, viewportH = 1366, 768
)

// page drives one Chromium tab over the console.
type page struct {
	t         *testing.T
	ctx       context.Context
	base      string
	downloads string

	mu       sync.Mutex
	problems []string // uncaught exceptions, console errors, CSP reports
}

// newPage starts headless Chromium with a fresh profile and one tab. The
// flags keep it off the network: without the background-networking ones,
// Chromium's own connections are refused many at a time on a closed
// network.
func newPage(t *testing.T, base string) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportW, viewportH),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	p := &page{t: t, ctx: ctx, base: base, downloads: t.TempDir()}

	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// Failed fetches (401 after sign-out, 4xx the test provokes) are
			// the browser's network log, not faults of the page.
			if m.Type == chromedp.ConsoleException || (m.Type == chromedp.ConsoleError && !strings.Contains(m.Text, "Failed to load resource")) {
				p.mu.Lock()
				p.problems = append(p.problems, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				p.mu.Unlock()
			}
		}
	}()
	p.do("set the viewport", chromedp.EmulateViewport(viewportW, viewportH))
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: p.downloads}); err != nil {
		t.Fatalf("download behaviour: %v", err)
	}
	return p
}

// do runs actions as one step, bounded by stepTimeout.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail("%s: %v", what, err)
	}
}

// fail ends the test with what the page showed.
func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
	p.screenshot("failure-" + strings.NewReplacer("/", "-", " ", "-").Replace(p.t.Name()))
	p.t.Fatalf(format+"\n--- page text ---\n%s", append(args, text)...)
}

// open loads path of the console.
func (p *page) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.base+path))
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until the expression is truthy.
func (p *page) waitJS(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		p.fail("waiting for %s: %v", what, err)
	}
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitText waits until an element matching css contains text.
func (p *page) waitText(css, text string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("%q in %s", text, css), fmt.Sprintf(
		`[...document.querySelectorAll(%s)].some(e => e.innerText.includes(%s))`, js(css), js(text)))
}

// fill sets an input's value as a person would see it typed (input and
// change events fire).
func (p *page) fill(css, value string) {
	p.t.Helper()
	p.waitJS(css, fmt.Sprintf(`document.querySelector(%s) !== null`, js(css)))
	eval[bool](p, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.value = %s;
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true })()`,
		js(css), js(value)))
}

// click clicks the first element matching css, with the mouse.
func (p *page) click(css string) {
	p.t.Helper()
	p.do("click "+css, chromedp.Click(chromedp.CSS(css)))
}

// clickButton clicks the first visible button or link inside scope whose
// text is label.
func (p *page) clickButton(scope, label string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("button %q", label), fmt.Sprintf(
		`[...document.querySelectorAll(%s + ' button, ' + %s + ' a')].some(b => b.innerText.trim() === %s && b.offsetParent !== null && !b.disabled)`,
		js(scope), js(scope), js(label)))
	eval[bool](p, fmt.Sprintf(
		`(() => { const b = [...document.querySelectorAll(%s + ' button, ' + %s + ' a')].find(b => b.innerText.trim() === %s && b.offsetParent !== null); b.click(); return true })()`,
		js(scope), js(scope), js(label)))
}

// upload puts a file in a file input (change fires).
func (p *page) upload(css, file string) {
	p.t.Helper()
	p.do("upload "+file, chromedp.SetUploadFiles(chromedp.CSS(css), []string{file}))
}

// submit submits the form holding the element css by its submit button.
func (p *page) submit(css string) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => { document.querySelector(%s).closest('form').querySelector('button[type=submit]').click(); return true })()`, js(css)))
}

// screenshot saves the whole page as .artifacts/screenshots/name.png.
func (p *page) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	// From the top, so the sticky header is where a person sees it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.scrollTo(0, 0), true)`)); err != nil {
		p.t.Errorf("screenshot %s: scroll: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(shotsDir, name+".png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p.t.Logf("screenshot: %s", path)
}

// download waits for a file whose name ends with suffix in the download
// folder and returns its content.
func (p *page) download(suffix string) []byte {
	p.t.Helper()
	deadline := time.Now().Add(downloadTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, _ := os.ReadDir(p.downloads)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), suffix) {
				b, err := os.ReadFile(filepath.Join(p.downloads, e.Name()))
				if err != nil {
					p.t.Fatal(err)
				}
				if len(b) > 0 {
					return b
				}
			}
		}
		if time.Now().After(deadline) {
			p.fail("no download ending %s within %v (folder: %v)", suffix, downloadTimeout, entries)
		}
		<-tick.C
	}
}

// checkLabels fails when any visible form control lacks a label.
func (p *page) checkLabels(where string) {
	p.t.Helper()
	unlabelled := eval[[]string](p, `[...document.querySelectorAll('input, select, textarea')]
		.filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
		.map(e => e.outerHTML.slice(0, 120))`)
	if len(unlabelled) > 0 {
		p.t.Errorf("%s: controls without a label: %v", where, unlabelled)
	}
}

// pageProblems are the exceptions and console errors seen so far.
func (p *page) pageProblems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}
