package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-ID"

const (
	// ctxKeyState holds the request's *reqState, set first by edge.
	ctxKeyState = "hongshan.state"
	ctxKeyCode  = "hongshan.code"
	// ctxKeyWarning notes something odd about a request that still
	// succeeded, for its access log line.
	ctxKeyWarning = "hongshan.warning"
)

// maxRequestIDLen bounds an accepted X-Request-ID.
const maxRequestIDLen = 128

// saneRequestID accepts a client's request id of 1-128 letters, digits and
// "-_.:", so it can go into logs unescaped.
func saneRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte("-_.:", s[i]) < 0 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	var h [24]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}

// reqState is what the middleware chain learns about a request, kept in one
// gin key (one allocation instead of a boxed value per key). Its fields are
// written by the chain in order (edge, authenticate, the body's first
// reader) before the handler runs, so they need no lock; what a handler's
// goroutines may set concurrently (code, error, warning) stays in gin's
// locked keys.
type reqState struct {
	requestID string
	principal auth.Principal
	body      []byte
	bodyRead  bool
}

// stateOf is the request's state, made on first use when edge did not run
// (a handler tested on its own).
func stateOf(c *gin.Context) *reqState {
	if v, ok := c.Get(ctxKeyState); ok {
		if st, ok := v.(*reqState); ok {
			return st
		}
	}
	st := &reqState{}
	c.Set(ctxKeyState, st)
	return st
}

func requestIDOf(c *gin.Context) string { return stateOf(c).requestID }

func principalOf(c *gin.Context) auth.Principal { return stateOf(c).principal }

// ctxKeyPrincipal is the gin key under which the authenticated auth.Principal is
// also kept, for routes mounted from other packages that read it there
// (the reports package's default role lookup).
const ctxKeyPrincipal = "hongshan.principal"

// setPrincipal records the authenticated caller.
func setPrincipal(c *gin.Context, p auth.Principal) {
	stateOf(c).principal = p
	c.Set(ctxKeyPrincipal, p)
}

// headerRequestIDKey is HeaderRequestID in canonical form, so setting it
// skips canonicalisation.
var headerRequestIDKey = http.CanonicalHeaderKey(HeaderRequestID)

// edge runs around every request: the request id, panic recovery, metrics
// and the one access log line (with the fault of a 5xx, logged only here).
func (a *API) edge(c *gin.Context) {
	start := time.Now()
	var rid string
	if vs := c.Request.Header[headerRequestIDKey]; len(vs) > 0 {
		rid = vs[0]
	}
	if !saneRequestID(rid) {
		rid = newRequestID()
	}
	st := &reqState{requestID: rid}
	c.Set(ctxKeyState, st)
	c.Writer.Header()[headerRequestIDKey] = []string{rid}
	var stack []byte
	defer func() {
		if r := recover(); r != nil {
			stack = debug.Stack()
			if !c.Writer.Written() {
				writeError(c, fmt.Errorf("panic: %v", r))
			} else {
				c.Set(ctxKeyError, fmt.Errorf("panic after the answer started: %v", r))
			}
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		a.metrics.observeHTTP(route, c.Request.Method, status, elapsed.Seconds())

		attrs := []slog.Attr{
			slog.String("request_id", rid),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.String("remote", clientIP(c)),
		}
		if p := st.principal; p.Name != "" {
			attrs = append(attrs, slog.String("principal", p.Name))
		}
		if code := c.GetString(ctxKeyCode); code != "" {
			attrs = append(attrs, slog.String("code", code))
		}
		if c.Writer.Header().Get(HeaderReplayed) != "" {
			attrs = append(attrs, slog.Bool("replayed", true))
		}
		level := slog.LevelInfo
		if err, ok := c.Get(ctxKeyError); ok {
			// A fault is an error; an unavailable ledger or a full queue
			// is a warning the operator watches through its rate.
			level = slog.LevelError
			if status == http.StatusServiceUnavailable {
				level = slog.LevelWarn
			}
			attrs = append(attrs, slog.String("error", fmt.Sprint(err)))
		}
		if w := c.GetString(ctxKeyWarning); w != "" && level == slog.LevelInfo {
			level = slog.LevelWarn
			attrs = append(attrs, slog.String("warning", w))
		}
		if stack != nil {
			attrs = append(attrs, slog.String("stack", string(stack)))
		}
		a.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
	}()
	c.Next()
}

// clientIP is gin's ClientIP without its allocations in the common case: no
// proxy is trusted (routes sets none), so a peer address of dotted IPv4 is
// the answer as it stands; anything else asks gin.
func clientIP(c *gin.Context) string {
	host, _, err := net.SplitHostPort(strings.TrimSpace(c.Request.RemoteAddr))
	if err == nil && strings.IndexByte(host, ':') < 0 {
		if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
			return host
		}
	}
	return c.ClientIP()
}

// limitBody bounds the request body; reading past the bound fails with
// *http.MaxBytesError, answered 413.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			writeError(c, &http.MaxBytesError{Limit: n})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// authenticate requires a valid credential (bearer token or session
// cookie, see credential): 401 UNAUTHENTICATED otherwise.
func (a *API) authenticate(c *gin.Context) {
	p, err := a.credential(c)
	if err != nil {
		if voucher.CodeOf(err) == auth.CodeUnauthenticated {
			c.Header("WWW-Authenticate", `Bearer realm="hongshan"`)
		}
		writeError(c, err)
		return
	}
	setPrincipal(c, p)
	c.Next()
}

// requireRole answers 403 FORBIDDEN to a principal whose role is not in
// roles.
func requireRole(roles []voucher.Role) gin.HandlerFunc {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	allowed := strings.Join(names, ", ")
	return func(c *gin.Context) {
		if !slices.Contains(roles, principalOf(c).Role) {
			writeError(c, Errorf(voucher.CodeForbidden, "%s %s is for role %s", c.Request.Method, c.FullPath(), allowed))
			return
		}
		c.Next()
	}
}
