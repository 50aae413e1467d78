// Package api is the gateway's REST API (gin): bearer authentication, roles,
// strict JSON input, problem+json errors from one code table,
// Idempotency-Key on every POST, the cap pre-check in per-agency lanes, and
// read-your-writes (a write is answered only once the read model holds it).
// Writes go to a backend.Backend; reads come from the projection.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// ReadModel is what the API reads: the projection (*projection.Store).
type ReadModel interface {
	// WaitFor blocks until block n is applied or ctx ends.
	WaitFor(ctx context.Context, n uint64) error
	// Head is the applied height (last block number + 1) and its hash.
	Head() (height uint64, hash string)
	Policy() (voucher.Policy, error)
	PolicyFor(issuedOn string) (voucher.Policy, bool, error)
	Agency(id string) (voucher.AgencyView, bool, error)
	Agencies(limit int, cursor string) (voucher.Page[voucher.AgencyView], error)
	Cap(agencyID, period string) (voucher.CapUsage, error)
	Certification(no string) (voucher.Certification, bool, error)
	// ClaimFacts is what the cap pre-check reads, in one snapshot:
	// Certification, Agency, PolicyFor and Cap together.
	ClaimFacts(agencyID, certificateNo string) (projection.ClaimFacts, error)
	Voucher(id string) (voucher.Voucher, bool, error)
	Vouchers(f voucher.ListVouchersArgs) (voucher.Page[voucher.Voucher], error)
	VoucherHistory(id string) ([]voucher.HistoryItem, error)
}

// Deps are the API's collaborators; the caller owns and closes them.
type Deps struct {
	Backend    backend.Backend
	Reads      ReadModel
	Principals *auth.Store
	// DB is the gateway's own bbolt database (gateway.db), where
	// idempotent answers are kept.
	DB *bolt.DB
}

// API is the gateway's HTTP handler.
type API struct {
	be         backend.Backend
	reads      ReadModel
	principals *auth.Store
	idem       *idempotency
	lanes      *lanes
	metrics    *metrics
	gatherer   prometheus.Gatherer
	log        *slog.Logger
	engine     *gin.Engine
	verifySem  chan struct{}
	cfg        config
	console    *consoleAuth
}

type config struct {
	log                *slog.Logger
	registry           *prometheus.Registry
	maxBodyBytes       int64
	commitTimeout      time.Duration
	idemTTL            time.Duration
	idemMaxEntries     int
	laneQueue          int
	extensions         []func(*Router)
	console            http.Handler
	now                func() time.Time
	readyProbeTimeout  time.Duration
	verifyConcurrently int
	sessionOpts        []auth.SessionOption
	secureCookies      bool
}

// Option configures the API.
type Option func(*config)

// WithLogger sets the structured logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithRegistry sets the Prometheus registry served at /metrics (default: a
// fresh one holding only the gateway's series).
func WithRegistry(r *prometheus.Registry) Option { return func(c *config) { c.registry = r } }

// WithMaxBodyBytes bounds request bodies (default 64 KiB); larger ones are
// 413 PAYLOAD_TOO_LARGE.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBodyBytes = max(n, 1) } }

// WithCommitTimeout bounds a write's Submit plus its wait for the read model
// (default 30 s); a ledger that does not answer in time is 503 UNAVAILABLE.
func WithCommitTimeout(d time.Duration) Option { return func(c *config) { c.commitTimeout = d } }

// WithIdempotency sets how long and how many idempotent answers are kept
// (default 24 h, 100,000).
func WithIdempotency(ttl time.Duration, maxEntries int) Option {
	return func(c *config) { c.idemTTL, c.idemMaxEntries = ttl, maxEntries }
}

// WithLaneQueue bounds how many claims of one agency may wait for its lane
// (default 256); beyond it a claim is 503 UNAVAILABLE.
func WithLaneQueue(n int) Option { return func(c *config) { c.laneQueue = n } }

// WithRoutes lets another package (reports) add authenticated routes under
// /v1; see Router.
func WithRoutes(mount func(*Router)) Option {
	return func(c *config) { c.extensions = append(c.extensions, mount) }
}

// WithConsole serves h (the web console) for GET and HEAD requests outside
// /v1 that match no API route.
func WithConsole(h http.Handler) Option { return func(c *config) { c.console = h } }

// WithClock sets the clock of idempotency expiry, console sessions and
// sign-in throttling (tests).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// New builds the API and starts its idempotency writer; Close stops it.
func New(deps Deps, opts ...Option) (*API, error) {
	if deps.Backend == nil || deps.Reads == nil || deps.Principals == nil || deps.DB == nil {
		return nil, errors.New("api: Backend, Reads, Principals and DB are required")
	}
	cfg := config{
		log:                slog.Default(),
		maxBodyBytes:       64 << 10,
		commitTimeout:      30 * time.Second,
		idemTTL:            24 * time.Hour,
		idemMaxEntries:     100_000,
		laneQueue:          256,
		now:                time.Now,
		readyProbeTimeout:  2 * time.Second,
		verifyConcurrently: 1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.registry == nil {
		cfg.registry = prometheus.NewRegistry()
	}
	a := &API{
		be: deps.Backend, reads: deps.Reads, principals: deps.Principals,
		lanes: newLanes(cfg.laneQueue), gatherer: cfg.registry, log: cfg.log,
		verifySem: make(chan struct{}, cfg.verifyConcurrently), cfg: cfg,
	}
	m, err := newMetrics(cfg.registry, func() float64 { h, _ := a.reads.Head(); return float64(h) })
	if err != nil {
		return nil, fmt.Errorf("api: metrics: %w", err)
	}
	a.metrics = m
	a.console = newConsoleAuth(cfg)
	idem, err := openIdempotency(deps.DB, cfg.idemTTL, cfg.idemMaxEntries, cfg.now, cfg.log)
	if err != nil {
		return nil, err
	}
	a.idem = idem
	a.engine = a.routes()
	return a, nil
}

// Handler is the API as an http.Handler.
func (a *API) Handler() http.Handler { return a.engine }

var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// Routes lists every route as "METHOD /path/{param}", the way OpenAPI
// names them, so tests can hold the routes and the spec to each other.
func (a *API) Routes() []string {
	var out []string
	for _, r := range a.engine.Routes() {
		out = append(out, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
	}
	sort.Strings(out)
	return out
}

// Close stops the idempotency writer after storing what is queued. Call it
// after the HTTP server has drained.
func (a *API) Close() { a.idem.close() }

// Handler handles one authenticated request; a returned error is answered
// as a problem through the code table.
type Handler func(c *gin.Context, p auth.Principal) error

// Router adds authenticated routes under /v1 for other packages. A route
// it adds for GET /ledger/verify replaces the built-in one.
type Router struct {
	a     *API
	g     *gin.RouterGroup
	taken map[string]bool
}

// RouteOption configures one extension route.
type RouteOption func(*routeConfig)

type routeConfig struct {
	maxBodyBytes int64
	idempotent   bool
	writeTimeout time.Duration
}

// WriteTimeout gives one route's answers longer than the server's write
// timeout (a long report or verification).
func WriteTimeout(d time.Duration) RouteOption { return func(r *routeConfig) { r.writeTimeout = d } }

// MaxBodyBytes overrides the body limit for one route (an upload).
func MaxBodyBytes(n int64) RouteOption { return func(r *routeConfig) { r.maxBodyBytes = max(n, 1) } }

// NoIdempotency exempts a POST route that only reads (a report computed
// from an upload) from Idempotency-Key, so its body streams to the handler
// instead of being held for the request fingerprint.
func NoIdempotency() RouteOption { return func(r *routeConfig) { r.idempotent = false } }

// Handle adds method path (relative to /v1, e.g. "/reports/reconciliation")
// for roles, behind the body limit and authentication; a POST honours
// Idempotency-Key. A returned error is answered as a problem.
func (r *Router) Handle(method, path string, roles []voucher.Role, h Handler, opts ...RouteOption) {
	r.HandleFunc(method, path, roles, func(c *gin.Context) {
		if err := h(c, principalOf(c)); err != nil {
			writeError(c, err)
		}
	}, opts...)
}

// HandleFunc is Handle for a handler that writes its own answers (and its
// errors through WriteError); PrincipalOf gives it the caller.
func (r *Router) HandleFunc(method, path string, roles []voucher.Role, h gin.HandlerFunc, opts ...RouteOption) {
	rc := routeConfig{maxBodyBytes: r.a.cfg.maxBodyBytes, idempotent: true}
	for _, o := range opts {
		o(&rc)
	}
	r.taken[method+" "+path] = true
	if rc.writeTimeout > 0 {
		inner := h
		h = func(c *gin.Context) {
			// Unsupported writers (tests' recorders) ignore the deadline.
			_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(rc.writeTimeout))
			inner(c)
		}
	}
	r.a.handleFunc(r.g, method, path, roles, h, rc.maxBodyBytes, rc.idempotent, true)
}

// WriteError answers err as a problem through the gateway's code table.
func WriteError(c *gin.Context, err error) { writeError(c, err) }

// PrincipalOf is the authenticated caller of a request; ok is false before
// authentication.
func PrincipalOf(c *gin.Context) (p auth.Principal, ok bool) {
	p = principalOf(c)
	return p, p.Name != ""
}

// Role sets of the routes.
var (
	anyRole    = []voucher.Role{voucher.RoleSciTech, voucher.RoleFinance, voucher.RoleAuditor, voucher.RoleAgency}
	sciTech    = []voucher.Role{voucher.RoleSciTech}
	finance    = []voucher.Role{voucher.RoleFinance}
	agencyOnly = []voucher.Role{voucher.RoleAgency}
	integrity  = []voucher.Role{voucher.RoleFinance, voucher.RoleAuditor}
)

func (a *API) routes() *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	_ = e.SetTrustedProxies(nil) // the client address is the peer's
	e.Use(a.edge)
	e.NoRoute(a.noRoute)
	e.NoMethod(func(c *gin.Context) {
		writeError(c, Errorf(CodeMethodNotAllowed, "%s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{})))
	e.GET("/openapi.yaml", a.openAPI)

	v1 := e.Group("/v1")
	limit := a.cfg.maxBodyBytes
	a.handle(v1, http.MethodGet, "/whoami", anyRole, a.whoami, limit, true)
	a.handle(v1, http.MethodGet, "/principals", sciTech, a.listPrincipals, limit, true)
	// The answer holds the new token: it is never stored for replay.
	a.handle(v1, http.MethodPost, "/principals", sciTech, a.createPrincipal, limit, false)
	a.handle(v1, http.MethodDelete, "/principals/:name", sciTech, a.revokePrincipal, limit, true)

	a.handle(v1, http.MethodPost, "/agencies", sciTech, a.registerAgency, limit, true)
	a.handle(v1, http.MethodGet, "/agencies", anyRole, a.listAgencies, limit, true)
	a.handle(v1, http.MethodGet, "/agencies/:id", anyRole, a.getAgency, limit, true)
	a.handle(v1, http.MethodGet, "/agencies/:id/cap", anyRole, a.getCap, limit, true)
	a.handle(v1, http.MethodPost, "/agencies/:id/suspend", sciTech, a.agencyAction("SuspendAgency"), limit, true)
	a.handle(v1, http.MethodPost, "/agencies/:id/reinstate", sciTech, a.agencyAction("ReinstateAgency"), limit, true)

	a.handle(v1, http.MethodGet, "/policy", anyRole, a.getPolicy, limit, true)
	a.handle(v1, http.MethodPut, "/policy", sciTech, a.setPolicy, limit, true)

	a.handle(v1, http.MethodPost, "/certifications", sciTech, a.recordCertification, limit, true)
	a.handle(v1, http.MethodPost, "/service-records", agencyOnly, a.recordService, limit, true)
	a.handle(v1, http.MethodPost, "/claims", agencyOnly, a.claim, limit, true)

	a.handle(v1, http.MethodGet, "/vouchers", anyRole, a.listVouchers, limit, true)
	a.handle(v1, http.MethodGet, "/vouchers/:id", anyRole, a.getVoucher, limit, true)
	a.handle(v1, http.MethodGet, "/vouchers/:id/history", anyRole, a.voucherHistory, limit, true)
	a.handle(v1, http.MethodPost, "/vouchers/:id/redeem", agencyOnly, a.redeem, limit, true)
	a.handle(v1, http.MethodPost, "/vouchers/:id/reimburse", finance, a.reimburse, limit, true)
	a.handle(v1, http.MethodPost, "/vouchers/:id/reject", finance, a.voucherReason("Reject"), limit, true)
	a.handle(v1, http.MethodPost, "/vouchers/:id/revoke", sciTech, a.voucherReason("Revoke"), limit, true)
	a.consoleRoutes(v1, limit)

	ext := &Router{a: a, g: v1, taken: map[string]bool{}}
	for _, mount := range a.cfg.extensions {
		mount(ext)
	}
	if !ext.taken[http.MethodGet+" /ledger/verify"] {
		a.handle(v1, http.MethodGet, "/ledger/verify", integrity, a.verify, limit, true)
	}
	return e
}

// handle registers an authenticated route: body limit, authentication, role
// check, Idempotency-Key for POST (keep: store answers for replay), handler.
func (a *API) handle(g *gin.RouterGroup, method, path string, roles []voucher.Role, h Handler, maxBody int64, keep bool) {
	a.handleFunc(g, method, path, roles, func(c *gin.Context) {
		if err := h(c, principalOf(c)); err != nil {
			writeError(c, err)
		}
	}, maxBody, true, keep)
}

func (a *API) handleFunc(g *gin.RouterGroup, method, path string, roles []voucher.Role, h gin.HandlerFunc, maxBody int64, idempotent, keep bool) {
	chain := []gin.HandlerFunc{limitBody(maxBody), a.authenticate}
	if roles != nil {
		chain = append(chain, requireRole(roles))
	}
	if method == http.MethodPost && idempotent {
		chain = append(chain, a.idempotent(keep))
	}
	g.Handle(method, path, append(chain, h)...)
}

func (a *API) noRoute(c *gin.Context) {
	r := c.Request
	if a.cfg.console != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		r.URL.Path != "/v1" && !strings.HasPrefix(r.URL.Path, "/v1/") {
		c.Status(http.StatusOK) // gin preset 404 for unmatched paths; the console decides
		a.cfg.console.ServeHTTP(c.Writer, r)
		return
	}
	writeError(c, Errorf(voucher.CodeNotFound, "no route %s", clip(r.URL.Path)))
}
