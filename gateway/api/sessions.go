package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// Sessions of the web console: a principal signs in with its name and
// password and gets a short-lived session in a cookie; requests carrying
// the cookie are authenticated like a bearer token, and those that change
// anything must also carry the session's CSRF token. Bearer tokens work as
// before and need no CSRF token: a browser never sends them by itself.
const (
	// SessionCookie names the session cookie (HttpOnly, SameSite=Strict,
	// Secure over TLS).
	SessionCookie = "hongshan_session"
	// HeaderCSRFToken carries the session's CSRF token on changes.
	HeaderCSRFToken = "X-CSRF-Token" //nolint:gosec // a header name, not a credential
	// CodeRateLimited answers a sign-in (or password check) tried too
	// often after failures: 429 with Retry-After.
	CodeRateLimited voucher.Code = "RATE_LIMITED"
)

// ctxKeySession holds the session id of a cookie-authenticated request.
const ctxKeySession = "hongshan.session"

// Failures allowed before sign-ins slow down: per principal name, and more
// per client address, which an office behind one NAT shares.
const (
	signInFreePerName = 5
	signInFreePerIP   = 20
)

// consoleAuth is the API's session state.
type consoleAuth struct {
	sessions *auth.Sessions
	byName   *auth.Throttle
	byIP     *auth.Throttle
}

func newConsoleAuth(cfg config) *consoleAuth {
	sopts := append([]auth.SessionOption{auth.WithSessionClock(cfg.now)}, cfg.sessionOpts...)
	return &consoleAuth{
		sessions: auth.NewSessions(sopts...),
		byName:   auth.NewThrottle(auth.WithThrottleClock(cfg.now), auth.WithThrottleFree(signInFreePerName)),
		byIP:     auth.NewThrottle(auth.WithThrottleClock(cfg.now), auth.WithThrottleFree(signInFreePerIP)),
	}
}

// WithSessionOptions tunes the console's sessions (timeouts, bounds).
func WithSessionOptions(opts ...auth.SessionOption) Option {
	return func(c *config) { c.sessionOpts = append(c.sessionOpts, opts...) }
}

// WithSecureCookies marks the session cookie Secure on every answer, not
// only on those over TLS: for a gateway serving plain HTTP behind a proxy
// that terminates TLS.
func WithSecureCookies() Option { return func(c *config) { c.secureCookies = true } }

// secure reports whether the session cookie of r's answer is Secure.
func (a *API) secure(r *http.Request) bool { return r.TLS != nil || a.cfg.secureCookies }

// consoleRoutes adds the routes of sessions, passwords and the
// certification import.
func (a *API) consoleRoutes(v1 *gin.RouterGroup, limit int64) {
	// Signing in needs no credential; its answer sets a cookie, so it is
	// never stored for an Idempotency-Key replay.
	v1.POST("/sessions", limitBody(limit), a.signIn)
	a.handle(v1, http.MethodGet, "/sessions/current", anyRole, a.currentSession, limit, true)
	a.handle(v1, http.MethodDelete, "/sessions/current", anyRole, a.signOut, limit, true)
	a.handle(v1, http.MethodPut, "/principals/:name/password", anyRole, a.setPassword, limit, true)
	a.handle(v1, http.MethodPost, "/certifications/import", sciTech, a.importCertifications, maxImportBytes, true)
}

// credential authenticates a request by its bearer token or, without an
// Authorization header, by its session cookie; a cookie-authenticated
// change must carry the session's CSRF token (403 FORBIDDEN otherwise).
func (a *API) credential(c *gin.Context) (auth.Principal, error) {
	r := c.Request
	if r.Header.Get("Authorization") != "" {
		return a.principals.AuthenticateRequest(r)
	}
	cookie, err := r.Cookie(SessionCookie)
	if err != nil || cookie.Value == "" {
		return a.principals.AuthenticateRequest(r) // the standard refusal
	}
	sess, ok := a.console.sessions.Lookup(cookie.Value)
	if !ok {
		return auth.Principal{}, Errorf(CodeUnauthenticated, "the session has ended or is unknown: sign in again")
	}
	p, found, err := a.principals.Get(sess.Name)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("session principal %q: %w", sess.Name, err)
	}
	if !found || p.Revoked {
		a.console.sessions.EndAll(sess.Name, "")
		return auth.Principal{}, Errorf(CodeUnauthenticated, "the session has ended or is unknown: sign in again")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !a.console.sessions.CheckCSRF(cookie.Value, r.Header.Get(HeaderCSRFToken)) {
			return auth.Principal{}, &voucher.Error{Code: voucher.CodeForbidden,
				Message: "a change made with a session cookie needs the session's " + HeaderCSRFToken + " header",
				Details: map[string]string{"reason": "csrf"}}
		}
	}
	c.Set(ctxKeySession, cookie.Value)
	return p, nil
}

// sessionAnswer describes a session to its holder, with the CSRF token to
// send on every change.
type sessionAnswer struct {
	Name               string       `json:"name"`
	Role               voucher.Role `json:"role"`
	AgencyID           string       `json:"agency_id,omitempty"`
	CSRFToken          string       `json:"csrf_token"`
	ExpiresAt          time.Time    `json:"expires_at"`
	IdleExpiresAt      time.Time    `json:"idle_expires_at"`
	IdleTimeoutSeconds int          `json:"idle_timeout_seconds"`
}

func (a *API) answerSession(c *gin.Context, status int, id string, p auth.Principal, sess auth.Session) error {
	s := a.console.sessions
	c.Header("Cache-Control", "no-store")
	return writeJSON(c, status, sessionAnswer{
		Name: p.Name, Role: p.Role, AgencyID: p.AgencyID, CSRFToken: s.CSRFToken(id),
		ExpiresAt: sess.ExpiresAt.UTC(), IdleExpiresAt: s.IdleExpiresAt(sess).UTC(),
		IdleTimeoutSeconds: int(s.Idle().Seconds()),
	})
}

type signInBody struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// signIn checks a name and password and opens a session. Failures are
// counted per name and per client address; past the free tries each is
// locked out for a doubling delay (429 RATE_LIMITED with Retry-After).
func (a *API) signIn(c *gin.Context) {
	if err := a.signInErr(c); err != nil {
		writeError(c, err)
	}
}

func (a *API) signInErr(c *gin.Context) error {
	var body signInBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	ca := a.console
	ip := c.ClientIP()
	// Only a well-formed name is a throttle key, so the table's keys stay
	// short; a malformed one fails like a wrong password.
	nameKey := ""
	if auth.ValidateName(body.Name) == nil {
		nameKey = body.Name
	}
	if err := rateLimited(c, max(ca.byIP.Wait(ip), a.nameWait(nameKey))); err != nil {
		return err
	}
	p, err := a.principals.CheckPassword(c.Request.Context(), body.Name, body.Password)
	if auth.IsBadPassword(err) {
		ca.byIP.Fail(ip)
		if nameKey != "" {
			ca.byName.Fail(nameKey)
		}
		return err
	}
	if err != nil {
		return err
	}
	if nameKey != "" {
		ca.byName.Reset(nameKey)
	}
	// A browser signing in again leaves its old session behind: end it.
	if old, err := c.Request.Cookie(SessionCookie); err == nil && old.Value != "" {
		ca.sessions.End(old.Value)
	}
	id, sess, err := ca.sessions.Start(p.Name)
	if err != nil {
		return err
	}
	setPrincipal(c, p) // for the access log line
	// Secure over TLS (or behind a TLS proxy, WithSecureCookies); plain
	// HTTP is served on loopback, where a Secure cookie would not be sent.
	http.SetCookie(c.Writer, &http.Cookie{ //nolint:gosec // Secure is set over TLS, see above
		Name: SessionCookie, Value: id, Path: "/",
		MaxAge:   int(ca.sessions.MaxAge().Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.secure(c.Request),
	})
	return a.answerSession(c, http.StatusCreated, id, p, sess)
}

func (a *API) nameWait(key string) time.Duration {
	if key == "" {
		return 0
	}
	return a.console.byName.Wait(key)
}

// rateLimited is the 429 answer to a locked-out try, with Retry-After in
// whole seconds (rounded up).
func rateLimited(c *gin.Context, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(secs))
	return &voucher.Error{Code: CodeRateLimited,
		Message: fmt.Sprintf("too many failed sign-ins: try again in %d seconds", secs),
		Details: map[string]string{"retry_after_seconds": strconv.Itoa(secs)}}
}

// sessionOf is the session id of a cookie-authenticated request.
func sessionOf(c *gin.Context) (string, bool) {
	id := c.GetString(ctxKeySession)
	return id, id != ""
}

var errNoSession = Errorf(voucher.CodeNotFound, "this request carries no session (it was authenticated by a bearer token)")

func (a *API) currentSession(c *gin.Context, p auth.Principal) error {
	if _, err := queryOf(c); err != nil {
		return err
	}
	id, ok := sessionOf(c)
	if !ok {
		return errNoSession
	}
	sess, ok := a.console.sessions.Lookup(id)
	if !ok {
		return Errorf(CodeUnauthenticated, "the session has ended: sign in again")
	}
	return a.answerSession(c, http.StatusOK, id, p, sess)
}

// signOut ends the request's session and clears its cookie.
func (a *API) signOut(c *gin.Context, _ auth.Principal) error {
	if _, err := queryOf(c); err != nil {
		return err
	}
	id, ok := sessionOf(c)
	if !ok {
		return errNoSession
	}
	a.console.sessions.End(id)
	http.SetCookie(c.Writer, &http.Cookie{ //nolint:gosec // clears the cookie; Secure over TLS as when set
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.secure(c.Request),
	})
	c.Status(http.StatusNoContent)
	return nil
}

type passwordBody struct {
	CurrentPassword string `json:"current_password,omitempty"`
	NewPassword     string `json:"new_password"`
}

// setPassword sets a principal's console password: scitech may set
// anyone's; any principal may set its own, giving its current password if
// it has one. The principal's other sessions end.
func (a *API) setPassword(c *gin.Context, p auth.Principal) error {
	name := c.Param("name")
	if err := auth.ValidateName(name); err != nil {
		return err
	}
	var body passwordBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	ctx := c.Request.Context()
	if name != p.Name {
		if p.Role != voucher.RoleSciTech {
			return Errorf(voucher.CodeForbidden, "only role scitech may set another principal's password")
		}
		if _, found, err := a.principals.Get(name); err != nil {
			return err
		} else if !found {
			return Errorf(voucher.CodeNotFound, "principal %q not found", name)
		}
	} else {
		has, err := a.principals.HasPassword(name)
		if err != nil {
			return err
		}
		if has {
			if body.CurrentPassword == "" {
				return Errorf(voucher.CodeInvalidArgument, "current_password is required to change your own password")
			}
			if err := rateLimited(c, a.console.byName.Wait(name)); err != nil {
				return err
			}
			if _, err := a.principals.CheckPassword(ctx, name, body.CurrentPassword); err != nil {
				if !auth.IsBadPassword(err) {
					return err
				}
				a.console.byName.Fail(name)
				return &voucher.Error{Code: voucher.CodeForbidden, Message: "the current password is wrong",
					Details: map[string]string{"reason": "current_password"}}
			}
		}
	}
	if err := a.principals.SetPassword(ctx, name, body.NewPassword); err != nil {
		var ve *voucher.Error
		if errors.As(err, &ve) && ve.Code == voucher.CodeInvalidArgument {
			return Errorf(voucher.CodeInvalidArgument, "new_password: %s", ve.Message)
		}
		return err
	}
	keep, _ := sessionOf(c)
	if name != p.Name {
		keep = ""
	}
	a.console.sessions.EndAll(name, keep)
	a.console.byName.Reset(name)
	c.Status(http.StatusNoContent)
	return nil
}
