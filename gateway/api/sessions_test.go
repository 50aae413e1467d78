package api

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// testClock is a settable clock for session expiry and throttling.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// browser sends requests the way the console does: with the session
// cookie and, on changes, the CSRF token; from one client address.
type browser struct {
	h      *harness
	cookie string
	csrf   string
	remote string
	tls    bool
}

func (b *browser) do(method, path string, body any, hdr map[string]string) *httptest.ResponseRecorder {
	b.h.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			b.h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = b.remote
	if b.tls {
		r.TLS = &tls.ConnectionState{}
	}
	if b.cookie != "" {
		r.Header.Set("Cookie", SessionCookie+"="+b.cookie)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.h.api.Handler().ServeHTTP(rec, r)
	return rec
}

// change sends a change with the session's CSRF token.
func (b *browser) change(method, path string, body any) *httptest.ResponseRecorder {
	return b.do(method, path, body, map[string]string{HeaderCSRFToken: b.csrf})
}

// signIn signs in and keeps the session; it returns the answer.
func (b *browser) signIn(name, password string) *httptest.ResponseRecorder {
	rec := b.do("POST", "/v1/sessions", map[string]string{"name": name, "password": password}, nil)
	if rec.Code == http.StatusCreated {
		for _, c := range rec.Result().Cookies() {
			if c.Name == SessionCookie {
				b.cookie = c.Value
			}
		}
		b.csrf = decode[sessionAnswer](b.h.t, rec).CSRFToken
	}
	return rec
}

func sessionCookieOf(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", SessionCookie, rec.Header()["Set-Cookie"])
	return nil
}

// newSessionHarness is the fake harness with a settable clock and
// passwords for admin ("admin-password") and fin ("finance-password").
func newSessionHarness(t *testing.T) (*harness, *testClock) {
	t.Helper()
	clock := &testClock{t: time.Date(2024, 11, 20, 9, 0, 0, 0, time.UTC)}
	h := newHarness(t, WithClock(clock.now))
	ctx := t.Context()
	if err := h.store.SetPassword(ctx, "admin", "admin-password"); err != nil {
		t.Fatal(err)
	}
	if err := h.store.SetPassword(ctx, "fin", "finance-password"); err != nil {
		t.Fatal(err)
	}
	return h, clock
}

func TestSessionSignInCookieAndCSRF(t *testing.T) {
	h, _ := newSessionHarness(t)
	h.seed()
	b := &browser{h: h, remote: "192.0.2.10:40000"}
	rec := b.signIn("admin", "admin-password")
	wantStatus(t, rec, http.StatusCreated)
	ck := sessionCookieOf(t, rec)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure {
		t.Fatalf("cookie over plain HTTP: %+v; want HttpOnly, SameSite=Strict, Path=/, not Secure", ck)
	}
	if ck.MaxAge != int((8 * time.Hour).Seconds()) {
		t.Fatalf("cookie Max-Age %d, want 8 h", ck.MaxAge)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("session answer may be cached")
	}
	ans := decode[sessionAnswer](t, rec)
	if ans.Name != "admin" || ans.Role != voucher.RoleSciTech || ans.CSRFToken == "" || ans.IdleTimeoutSeconds != 1800 {
		t.Fatalf("session answer %+v", ans)
	}
	if strings.Contains(rec.Body.String(), ck.Value) {
		t.Fatal("the session id is in the answer body")
	}

	// The cookie authenticates reads.
	wantStatus(t, b.do("GET", "/v1/whoami", nil, nil), http.StatusOK)
	cur := b.do("GET", "/v1/sessions/current", nil, nil)
	wantStatus(t, cur, http.StatusOK)
	if decode[sessionAnswer](t, cur).CSRFToken != ans.CSRFToken {
		t.Fatal("GET /v1/sessions/current gives another CSRF token")
	}

	// A change by cookie without the CSRF token, or with a wrong one, is
	// refused before it reaches the ledger.
	reg := map[string]string{"id": agencyA, "name": "A", "kind": "incubator"}
	if p := wantProblem(t, b.do("POST", "/v1/agencies", reg, nil), http.StatusForbidden, voucher.CodeForbidden); p.Details["reason"] != "csrf" {
		t.Fatalf("CSRF refusal without details.reason=csrf: %+v", p)
	}
	wantProblem(t, b.do("POST", "/v1/agencies", reg, map[string]string{HeaderCSRFToken: "forged"}), http.StatusForbidden, voucher.CodeForbidden)
	other := &browser{h: h, remote: "192.0.2.11:40000"}
	wantStatus(t, other.signIn("fin", "finance-password"), http.StatusCreated)
	wantProblem(t, b.do("POST", "/v1/agencies", reg, map[string]string{HeaderCSRFToken: other.csrf}), http.StatusForbidden, voucher.CodeForbidden)
	wantProblem(t, b.do("PUT", "/v1/policy", map[string]string{}, nil), http.StatusForbidden, voucher.CodeForbidden)
	wantProblem(t, b.do("DELETE", "/v1/sessions/current", nil, nil), http.StatusForbidden, voucher.CodeForbidden)
	if n := len(h.be.callsOf("")); n != 0 {
		t.Fatalf("%d ledger calls from forged changes", n)
	}
	wantStatus(t, b.change("POST", "/v1/agencies", reg), http.StatusCreated)
	if n := len(h.be.callsOf("RegisterAgency")); n != 1 {
		t.Fatalf("%d RegisterAgency calls, want 1", n)
	}
	// The role still decides: fin's session may not register agencies.
	wantProblem(t, other.change("POST", "/v1/agencies", reg), http.StatusForbidden, voucher.CodeForbidden)

	// Bearer tokens work as before, without a CSRF token, and have no
	// session.
	wantStatus(t, h.do(req{method: "POST", path: "/v1/agencies", as: "admin", body: reg}), http.StatusCreated)
	wantProblem(t, h.do(req{method: "GET", path: "/v1/sessions/current", as: "admin"}), http.StatusNotFound, voucher.CodeNotFound)

	// Over TLS the cookie is Secure.
	tb := &browser{h: h, remote: "192.0.2.12:40000", tls: true}
	if ck := sessionCookieOf(t, tb.signIn("admin", "admin-password")); !ck.Secure {
		t.Fatal("cookie over TLS is not Secure")
	}
}

// TestSecureCookiesBehindAProxy: a gateway behind a TLS proxy sees plain
// HTTP but marks the cookie Secure.
func TestSecureCookiesBehindAProxy(t *testing.T) {
	h := newHarness(t, WithSecureCookies())
	if err := h.store.SetPassword(t.Context(), "fin", "finance-password"); err != nil {
		t.Fatal(err)
	}
	b := &browser{h: h, remote: "192.0.2.13:40000"}
	rec := b.signIn("fin", "finance-password")
	wantStatus(t, rec, http.StatusCreated)
	if ck := sessionCookieOf(t, rec); !ck.Secure || !ck.HttpOnly {
		t.Fatalf("cookie %+v, want Secure and HttpOnly", ck)
	}
	if ck := sessionCookieOf(t, b.change("DELETE", "/v1/sessions/current", nil)); !ck.Secure {
		t.Fatal("the clearing cookie is not Secure")
	}
}

func TestSessionSignOutAndExpiry(t *testing.T) {
	h, clock := newSessionHarness(t)
	b := &browser{h: h, remote: "192.0.2.20:40000"}
	wantStatus(t, b.signIn("fin", "finance-password"), http.StatusCreated)
	old := b.cookie
	rec := b.change("DELETE", "/v1/sessions/current", nil)
	wantStatus(t, rec, http.StatusNoContent)
	if ck := sessionCookieOf(t, rec); ck.Value != "" || ck.MaxAge >= 0 {
		t.Fatalf("sign-out does not clear the cookie: %+v", ck)
	}
	b.cookie = old // a browser that kept it anyway
	wantProblem(t, b.do("GET", "/v1/whoami", nil, nil), http.StatusUnauthorized, CodeUnauthenticated)

	// Idle for 30 minutes: ended.
	wantStatus(t, b.signIn("fin", "finance-password"), http.StatusCreated)
	clock.advance(29 * time.Minute)
	wantStatus(t, b.do("GET", "/v1/whoami", nil, nil), http.StatusOK)
	clock.advance(30 * time.Minute)
	wantProblem(t, b.do("GET", "/v1/whoami", nil, nil), http.StatusUnauthorized, CodeUnauthenticated)

	// In steady use it still ends after 8 hours.
	wantStatus(t, b.signIn("fin", "finance-password"), http.StatusCreated)
	for range 23 { // 23 × 20 min = 7 h 40 min
		clock.advance(20 * time.Minute)
		wantStatus(t, b.do("GET", "/v1/whoami", nil, nil), http.StatusOK)
	}
	clock.advance(20 * time.Minute)
	wantProblem(t, b.do("GET", "/v1/whoami", nil, nil), http.StatusUnauthorized, CodeUnauthenticated)

	// A revoked principal's session ends at once.
	wantStatus(t, b.signIn("fin", "finance-password"), http.StatusCreated)
	if _, err := h.store.Revoke("fin"); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, b.do("GET", "/v1/whoami", nil, nil), http.StatusUnauthorized, CodeUnauthenticated)
	wantProblem(t, b.signIn("fin", "finance-password"), http.StatusUnauthorized, CodeUnauthenticated)
}

func TestSignInRateLimited(t *testing.T) {
	h, clock := newSessionHarness(t)
	b := &browser{h: h, remote: "192.0.2.30:40000"}
	for i := range signInFreePerName + 1 {
		rec := b.signIn("fin", "wrong-password")
		if p := wantProblem(t, rec, http.StatusUnauthorized, CodeUnauthenticated); strings.Contains(p.Detail, "fin") {
			t.Fatalf("attempt %d: the refusal names the principal: %q", i+1, p.Detail)
		}
	}
	// Locked for 1 s: even the right password waits, with Retry-After.
	rec := b.signIn("fin", "finance-password")
	p := wantProblem(t, rec, http.StatusTooManyRequests, CodeRateLimited)
	if rec.Header().Get("Retry-After") != "1" || p.Details["retry_after_seconds"] != "1" {
		t.Fatalf("Retry-After %q, details %v; want 1", rec.Header().Get("Retry-After"), p.Details)
	}
	// From another address too: the lock is on the name.
	wantProblem(t, (&browser{h: h, remote: "198.51.100.1:1"}).signIn("fin", "finance-password"), http.StatusTooManyRequests, CodeRateLimited)
	// Unknown names count the same (the answer does not tell them apart).
	clock.advance(time.Second)
	wantProblem(t, b.signIn("fin", "wrong-password"), http.StatusUnauthorized, CodeUnauthenticated)
	if rec := b.signIn("fin", "finance-password"); rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("second lock: status %d, Retry-After %q; want 2 s", rec.Code, rec.Header().Get("Retry-After"))
	}
	clock.advance(2 * time.Second)
	wantStatus(t, b.signIn("fin", "finance-password"), http.StatusCreated)
	// A success clears the name's count.
	wantProblem(t, b.signIn("fin", "wrong-password"), http.StatusUnauthorized, CodeUnauthenticated)

	// One address trying many names is slowed down after signInFreePerIP.
	spray := &browser{h: h, remote: "203.0.113.9:5555"}
	for i := range signInFreePerIP {
		wantProblem(t, spray.signIn("user"+string(rune('a'+i)), "wrong-password"), http.StatusUnauthorized, CodeUnauthenticated)
	}
	wantProblem(t, spray.signIn("admin", "wrong-password"), http.StatusUnauthorized, CodeUnauthenticated)
	wantProblem(t, spray.signIn("admin", "admin-password"), http.StatusTooManyRequests, CodeRateLimited)
	// … while the same name from elsewhere is not.
	wantStatus(t, (&browser{h: h, remote: "192.0.2.31:1"}).signIn("admin", "admin-password"), http.StatusCreated)
}

func TestSetPassword(t *testing.T) {
	h, _ := newSessionHarness(t)
	// A principal created with a password can sign in with it.
	rec := h.do(req{method: "POST", path: "/v1/principals", as: "admin",
		body: map[string]string{"name": "aud2", "role": "auditor", "password": "auditor-password"}})
	wantStatus(t, rec, http.StatusCreated)
	if strings.Contains(rec.Body.String(), "auditor-password") {
		t.Fatal("the password is echoed")
	}
	wantProblem(t, h.do(req{method: "POST", path: "/v1/principals", as: "admin",
		body: map[string]string{"name": "aud3", "role": "auditor", "password": "short"}}), http.StatusBadRequest, voucher.CodeInvalidArgument)
	aud := &browser{h: h, remote: "192.0.2.40:1"}
	wantStatus(t, aud.signIn("aud2", "auditor-password"), http.StatusCreated)
	second := &browser{h: h, remote: "192.0.2.41:1"}
	wantStatus(t, second.signIn("aud2", "auditor-password"), http.StatusCreated)

	// Its own: the current password is required and checked.
	path := "/v1/principals/aud2/password"
	wantProblem(t, aud.change("PUT", path, map[string]string{"new_password": "auditor-password-2"}), http.StatusBadRequest, voucher.CodeInvalidArgument)
	wantProblem(t, aud.change("PUT", path, map[string]string{"current_password": "nope-nope-nope", "new_password": "auditor-password-2"}),
		http.StatusForbidden, voucher.CodeForbidden)
	wantProblem(t, aud.change("PUT", path, map[string]string{"current_password": "auditor-password", "new_password": "short"}),
		http.StatusBadRequest, voucher.CodeInvalidArgument)
	wantStatus(t, aud.change("PUT", path, map[string]string{"current_password": "auditor-password", "new_password": "auditor-password-2"}),
		http.StatusNoContent)
	// This session goes on, the other one ended; the new password works.
	wantStatus(t, aud.do("GET", "/v1/whoami", nil, nil), http.StatusOK)
	wantProblem(t, second.do("GET", "/v1/whoami", nil, nil), http.StatusUnauthorized, CodeUnauthenticated)
	wantProblem(t, second.signIn("aud2", "auditor-password"), http.StatusUnauthorized, CodeUnauthenticated)
	wantStatus(t, second.signIn("aud2", "auditor-password-2"), http.StatusCreated)

	// Another's: scitech only, no current password needed; it ends the
	// target's sessions.
	wantProblem(t, aud.change("PUT", "/v1/principals/fin/password", map[string]string{"new_password": "finance-password-2"}),
		http.StatusForbidden, voucher.CodeForbidden)
	wantStatus(t, h.do(req{method: "PUT", path: path, as: "admin", body: map[string]string{"new_password": "auditor-password-3"}}),
		http.StatusNoContent)
	wantProblem(t, aud.do("GET", "/v1/whoami", nil, nil), http.StatusUnauthorized, CodeUnauthenticated)
	wantProblem(t, h.do(req{method: "PUT", path: "/v1/principals/nobody/password", as: "admin",
		body: map[string]string{"new_password": "whatever-password"}}), http.StatusNotFound, voucher.CodeNotFound)
	// A principal without a password (a bearer-token holder) sets its
	// first one with its token alone.
	wantStatus(t, h.do(req{method: "PUT", path: "/v1/principals/ag-a/password", as: "ag-a",
		body: map[string]string{"new_password": "agency-password"}}), http.StatusNoContent)
	wantStatus(t, (&browser{h: h, remote: "192.0.2.42:1"}).signIn("ag-a", "agency-password"), http.StatusCreated)
}
