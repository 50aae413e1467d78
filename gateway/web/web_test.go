package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, p string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, p, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestServesThePageAndItsAssets(t *testing.T) {
	h := Handler()
	rec := get(t, h, "GET", "/", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(rec.Body.String(), `<script type="module" src="/assets/js/app.js">`) {
		t.Fatal("the page does not load the app module")
	}
	for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options", "ETag", "Cache-Control"} {
		if rec.Header().Get(hdr) == "" {
			t.Errorf("GET / lacks %s", hdr)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	if get(t, h, "GET", "/index.html", nil).Body.String() != rec.Body.String() {
		t.Fatal("/index.html is not the page")
	}
	// Revalidation: the same ETag is 304 without a body.
	rec304 := get(t, h, "GET", "/", map[string]string{"If-None-Match": rec.Header().Get("ETag")})
	if rec304.Code != http.StatusNotModified || rec304.Body.Len() != 0 {
		t.Fatalf("If-None-Match: %d, %d bytes", rec304.Code, rec304.Body.Len())
	}

	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	n := 0
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "assets/index.html" {
			return err
		}
		n++
		rec := get(t, h, "GET", "/"+p, nil)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != types[path.Ext(p)] {
			t.Errorf("GET /%s: %d %q", p, rec.Code, rec.Header().Get("Content-Type"))
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("walked %d assets: %v", n, err)
	}

	for _, p := range []string{"/nope", "/assets/", "/assets/js", "/assets/index.html", "/assets/../web.go", "/web.go", "/v2/x"} {
		if rec := get(t, h, "GET", p, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
	if rec := get(t, h, "POST", "/", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", rec.Code)
	}
	if rec := get(t, h, "HEAD", "/assets/app.css", nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func readAssets(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWorksOffline: nothing in the console names another origin (the SVG
// namespace is a name, not a fetch), so it runs on an intranet.
func TestWorksOffline(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for p, body := range readAssets(t) {
		for _, m := range external.FindAllString(body, -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s refers to %s", p, m)
			}
		}
		if strings.Contains(body, "@import") || strings.Contains(body, "@font-face") {
			t.Errorf("%s imports a stylesheet or font", p)
		}
	}
}

// TestModulesResolve: every relative import of every module is an
// embedded file.
func TestModulesResolve(t *testing.T) {
	files := readAssets(t)
	imp := regexp.MustCompile(`(?m)^\s*import\s[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	for p, body := range files {
		if path.Ext(p) != ".js" {
			continue
		}
		for _, m := range imp.FindAllStringSubmatch(body, -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, ".") {
				t.Errorf("%s imports %q: only relative imports of embedded modules", p, spec)
				continue
			}
			if _, ok := files[path.Join(path.Dir(p), spec)]; !ok {
				t.Errorf("%s imports %q, which is not embedded", p, spec)
			}
		}
	}
}

var (
	dictKey = regexp.MustCompile(`(?m)^\s+'([a-zA-Z0-9_.]+)':`)
	usedKey = regexp.MustCompile(`\bt\(\s*'([a-zA-Z0-9_.]+)'`)
	navKey  = regexp.MustCompile(`label: '([a-zA-Z0-9_.]+)'`)
)

// TestTranslations: Chinese and English have the same keys, and every key
// the views name exists.
func TestTranslations(t *testing.T) {
	files := readAssets(t)
	src := files["assets/js/i18n.js"]
	zhAt, enAt := strings.Index(src, "\n  zh: {"), strings.Index(src, "\n  en: {")
	end := strings.Index(src[enAt:], "\n  },\n") + enAt
	if zhAt < 0 || enAt < zhAt || end < enAt {
		t.Fatal("i18n.js: dictionaries zh and en not found")
	}
	keys := func(block string) map[string]bool {
		m := map[string]bool{}
		for _, k := range dictKey.FindAllStringSubmatch(block, -1) {
			if m[k[1]] {
				t.Errorf("key %s twice", k[1])
			}
			m[k[1]] = true
		}
		return m
	}
	zh, en := keys(src[zhAt:enAt]), keys(src[enAt:end])
	if len(zh) < 200 {
		t.Fatalf("only %d Chinese keys found", len(zh))
	}
	var diff []string
	for k := range zh {
		if !en[k] {
			diff = append(diff, "en lacks "+k)
		}
	}
	for k := range en {
		if !zh[k] {
			diff = append(diff, "zh lacks "+k)
		}
	}
	for p, body := range files {
		if path.Ext(p) != ".js" {
			continue
		}
		for _, re := range []*regexp.Regexp{usedKey, navKey} {
			for _, m := range re.FindAllStringSubmatch(body, -1) {
				if !zh[m[1]] {
					diff = append(diff, p+" uses missing key "+m[1])
				}
			}
		}
	}
	// Every error code of the gateway has its sentence.
	for _, code := range []string{"INVALID_ARGUMENT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "METHOD_NOT_ALLOWED",
		"ALREADY_EXISTS", "ALREADY_CLAIMED", "INVALID_STATE", "DUPLICATE_PAYMENT_REF", "PAYLOAD_TOO_LARGE", "CAP_EXCEEDED",
		"NOT_CERTIFIED", "NOT_ELIGIBLE", "NO_SERVICE_RECORD", "AGENCY_SUSPENDED", "AMOUNT_MISMATCH",
		"IDEMPOTENCY_KEY_REUSED", "RATE_LIMITED", "UNAVAILABLE", "INTERNAL"} {
		if !zh["err."+code] {
			diff = append(diff, "no sentence for "+code)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("translations:\n%s", strings.Join(diff, "\n"))
	}
}
