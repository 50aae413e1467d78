package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// Service serves the reports and the integrity check over HTTP. Mount its
// handlers behind the gateway's authentication, which stores the
// auth.Principal under CallerKey (or pass WithRoleOf):
//
//	rs := report.New(store, ledger, report.WithErrorWriter(api.WriteError))
//	v1.GET("/reports/reconciliation", rs.Reconciliation)
//	v1.POST("/reports/reconciliation/payments", rs.TreasuryMatch) // body up to DefaultMaxPaymentBytes + 64 KiB
//	v1.GET("/ledger/verify", rs.Verify)
//
// Each handler admits roles finance and auditor only, and runs at most
// a bounded number of reports (and one integrity check) at once: a report
// reads the whole ledger. Reports use a second read transaction of the
// store for the second core (WithParallelView).
type Service struct {
	store   *projection.Store
	backend backend.Backend
	cfg     config
	reports chan struct{}
	verify  chan struct{}
}

// Defaults of the Service.
const (
	// DefaultMaxConcurrent bounds the reports computed at once.
	DefaultMaxConcurrent = 2
	// CallerKey is the gin context key the default role lookup reads: an
	// auth.Principal, a backend.Caller or a voucher.Identity (or a pointer
	// to one), as the gateway's authentication middleware stores it.
	CallerKey = "hongshan.principal"
)

// The gateway's codes this package answers with besides the contract's.
const (
	CodeUnauthenticated              = auth.CodeUnauthenticated
	CodeUnavailable     voucher.Code = "UNAVAILABLE"
)

// errorWriter answers an error as a problem document.
type errorWriter func(c *gin.Context, err error)

// WithErrorWriter answers errors with the gateway's own problem writer, so
// every problem of the API has one shape and goes through one code table.
// Errors passed to it are *voucher.Error with the codes INVALID_ARGUMENT,
// UNAUTHENTICATED, FORBIDDEN, PAYLOAD_TOO_LARGE, UNAVAILABLE or INTERNAL,
// an *http.MaxBytesError, backend.ErrUnavailable, or another error (a
// server fault).
func WithErrorWriter(fn func(c *gin.Context, err error)) Option {
	return func(c *config) { c.writeError = fn }
}

// WithRoleOf tells the Service how to find the authenticated caller's role
// in the gin context; ok is false when the request is unauthenticated. The
// default reads CallerKey.
func WithRoleOf(fn func(c *gin.Context) (role voucher.Role, ok bool)) Option {
	return func(c *config) { c.roleOf = fn }
}

// WithMaxConcurrent bounds the reports computed at once (at least 1).
func WithMaxConcurrent(n int) Option { return func(c *config) { c.maxConcurrent = max(n, 1) } }

// WithPaymentLimits bounds an uploaded payment file's bytes and data rows.
func WithPaymentLimits(maxBytes int64, maxRows int) Option {
	return func(c *config) { c.maxPaymentBytes, c.maxPaymentRows = max(maxBytes, 1), max(maxRows, 1) }
}

// New returns the reports service of a read model and its ledger.
func New(store *projection.Store, b backend.Backend, opts ...Option) *Service {
	cfg := newConfig(opts)
	if cfg.writeError == nil {
		cfg.writeError = writeProblem
	}
	if cfg.roleOf == nil {
		cfg.roleOf = roleFromContext
	}
	return &Service{store: store, backend: b, cfg: cfg,
		reports: make(chan struct{}, cfg.maxConcurrent), verify: make(chan struct{}, 1)}
}

// roleFromContext reads the caller stored under CallerKey.
func roleFromContext(c *gin.Context) (voucher.Role, bool) {
	v, ok := c.Get(CallerKey)
	if !ok {
		return "", false
	}
	switch p := v.(type) {
	case auth.Principal:
		return p.Role, true
	case *auth.Principal:
		return p.Role, p != nil
	case backend.Caller:
		return p.Role, true
	case *backend.Caller:
		return p.Role, p != nil
	case voucher.Identity:
		return p.Role, true
	case *voucher.Identity:
		return p.Role, p != nil
	}
	return "", false
}

// admit checks the caller's role and takes a slot of sem; release gives
// it back. ok is false when the request was answered.
func (s *Service) admit(c *gin.Context, sem chan struct{}, what string) (release func(), ok bool) {
	role, authed := s.cfg.roleOf(c)
	switch {
	case !authed:
		s.cfg.writeError(c, &voucher.Error{Code: CodeUnauthenticated, Message: "a bearer token is required"})
		return nil, false
	case role != voucher.RoleFinance && role != voucher.RoleAuditor:
		s.cfg.writeError(c, &voucher.Error{Code: voucher.CodeForbidden, Message: what + " is for roles finance and auditor, not " + string(role)})
		return nil, false
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	default:
		c.Header("Retry-After", "5")
		s.cfg.writeError(c, &voucher.Error{Code: CodeUnavailable, Message: "as many " + what + "s as the gateway runs at once are running; retry shortly"})
		return nil, false
	}
}

// queryParams reads the allowed query parameters, refusing unknown and
// repeated ones.
func queryParams(c *gin.Context, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		return nil, invalid("malformed query string")
	}
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			return nil, invalid("unknown query parameter %q", clipText(k))
		}
		if len(vs) > 1 {
			return nil, invalid("query parameter %q is given more than once", k)
		}
	}
	return q, nil
}

// formatOf reads format=json|csv|xlsx (default json).
func formatOf(q url.Values) (string, error) {
	switch f := q.Get("format"); f {
	case "", FormatJSON:
		return FormatJSON, nil
	case FormatCSV, FormatXLSX:
		return f, nil
	}
	return "", invalid("format must be json, csv or xlsx")
}

// contentTypes of the formats.
var contentTypes = map[string]string{
	FormatJSON: "application/json; charset=utf-8",
	FormatCSV:  "text/csv; charset=utf-8",
	FormatXLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

// Response headers naming what a report was computed from, for clients
// that download CSV or XLSX.
const (
	HeaderDigest   = "X-Hongshan-Report-Digest"
	HeaderHeight   = "X-Hongshan-Block-Height"
	HeaderHeadHash = "X-Hongshan-Head-Hash"
)

// Reconciliation serves GET /v1/reports/reconciliation?period=2024|program|all
// &format=json|csv|xlsx[&table=agencies|exceptions][&as_of=YYYY-MM-DD].
func (s *Service) Reconciliation(c *gin.Context) {
	q, err := queryParams(c, "period", "format", "table", "as_of")
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	format, err := formatOf(q)
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	table := q.Get("table")
	if table != "" && (format != FormatCSV || (table != TableAgencies && table != TableExceptions)) {
		s.cfg.writeError(c, invalid("table is %q or %q, with format csv only", TableAgencies, TableExceptions))
		return
	}
	query := Query{Period: q.Get("period"), AsOf: q.Get("as_of")}
	if query.Period == "" {
		s.cfg.writeError(c, invalid("period is required: a year such as 2024, %q or %q", voucher.ProgramPeriod, PeriodAll))
		return
	}
	if err := CheckPeriod(query.Period); err != nil {
		s.cfg.writeError(c, err)
		return
	}
	release, ok := s.admit(c, s.reports, "report")
	if !ok {
		return
	}
	defer release()
	var rec *Reconciliation
	err = s.store.View(func(snap projection.Snapshot) error {
		var err error
		rec, err = Reconcile(c.Request.Context(), snap, query, s.opts()...)
		return err
	})
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	defer rec.Close()
	s.setHeaders(c, format, rec.Digest, rec.Height, rec.HeadHash,
		contentDisposition("reconciliation", rec.Period, rec.Height, table, format))
	c.Status(http.StatusOK)
	if err := rec.Write(c.Writer, format, table); err != nil {
		_ = c.Error(fmt.Errorf("report: writing the reconciliation: %w", err))
	}
}

// TreasuryMatch serves POST /v1/reports/reconciliation/payments?period=…
// &format=json|csv|xlsx[&table=rows|bad_rows] with the treasury's payment
// export as a text/csv body or a multipart/form-data field "file".
func (s *Service) TreasuryMatch(c *gin.Context) {
	q, err := queryParams(c, "period", "format", "table")
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	format, err := formatOf(q)
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	table := q.Get("table")
	if table != "" && (format != FormatCSV || (table != TableRows && table != TableBadRows)) {
		s.cfg.writeError(c, invalid("table is %q or %q, with format csv only", TableRows, TableBadRows))
		return
	}
	period := q.Get("period")
	if period == "" {
		period = PeriodAll
	}
	if err := CheckPeriod(period); err != nil {
		s.cfg.writeError(c, err)
		return
	}
	release, ok := s.admit(c, s.reports, "report")
	if !ok {
		return
	}
	defer release()
	file, err := s.readPayments(c)
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	var m *Match
	err = s.store.View(func(snap projection.Snapshot) error {
		var err error
		m, err = MatchPayments(c.Request.Context(), snap, period, file, s.opts()...)
		return err
	})
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	defer m.Close()
	s.setHeaders(c, format, m.Digest, m.Height, m.HeadHash,
		contentDisposition("treasury-match", m.Period, m.Height, table, format))
	c.Status(http.StatusOK)
	if err := m.Write(c.Writer, format, table); err != nil {
		_ = c.Error(fmt.Errorf("report: writing the treasury match: %w", err))
	}
}

// maxMultipartOverhead is what a multipart envelope may add to the file.
const maxMultipartOverhead = 64 << 10

// readPayments takes the payment file from the body: text/csv (or
// application/csv, text/plain) as is, or the part named "file" of a
// multipart/form-data upload.
func (s *Service) readPayments(c *gin.Context) (*PaymentFile, error) {
	limit := s.cfg.maxPaymentBytes
	if c.Request.ContentLength > limit+maxMultipartOverhead {
		return nil, tooLarge("the payment file is over the limit of %d bytes", limit)
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, limit+maxMultipartOverhead)
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		return nil, invalid("Content-Type must be text/csv or multipart/form-data")
	}
	var r io.Reader
	switch mt {
	case "text/csv", "application/csv", "text/plain":
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, invalid("the payment file must be UTF-8, not %q", clipText(cs))
		}
		r = body
	case "multipart/form-data":
		part, err := filePart(body, params["boundary"])
		if err != nil {
			return nil, err
		}
		r = part
	default:
		return nil, invalid("Content-Type must be text/csv or multipart/form-data, not %q", clipText(mt))
	}
	pf, err := ParsePayments(r, limit, s.cfg.maxPaymentRows)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge("the payment file is over the limit of %d bytes", limit)
	}
	return pf, err
}

// maxParts bounds the parts of a multipart upload looked at.
const maxParts = 16

// filePart finds the part named "file" of a multipart/form-data body.
func filePart(body io.Reader, boundary string) (io.Reader, error) {
	if boundary == "" {
		return nil, invalid("the multipart body has no boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for i := 0; i < maxParts; i++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, invalid("malformed multipart body: %v", err)
		}
		if p.FormName() == "file" {
			return p, nil
		}
	}
	return nil, invalid(`the multipart upload needs the payment file in field "file"`)
}

// setHeaders sets the content type and the provenance headers.
func (s *Service) setHeaders(c *gin.Context, format, digest string, height uint64, head, disposition string) {
	c.Header("Content-Type", contentTypes[format])
	c.Header("Cache-Control", "no-store")
	c.Header(HeaderDigest, digest)
	c.Header(HeaderHeight, strconv.FormatUint(height, 10))
	c.Header(HeaderHeadHash, head)
	if format != FormatJSON {
		c.Header("Content-Disposition", disposition)
	}
}

// opts are the report options the Service was configured with.
func (s *Service) opts() []Option {
	cfg := s.cfg
	return []Option{func(c *config) {
		c.tempDir, c.maxExceptions, c.maxVoucherIDs, c.now = cfg.tempDir, cfg.maxExceptions, cfg.maxVoucherIDs, cfg.now
		c.view = s.store.View
	}}
}

// Verify serves GET /v1/ledger/verify: the ledger's own integrity check
// (embedded: the hash chain and a replay of every block; Fabric: each
// block header's previous and data hash), one at a time.
func (s *Service) Verify(c *gin.Context) {
	if _, err := queryParams(c); err != nil {
		s.cfg.writeError(c, err)
		return
	}
	release, ok := s.admit(c, s.verify, "integrity check")
	if !ok {
		return
	}
	defer release()
	res, err := s.backend.Verify(c.Request.Context(), nil)
	if err != nil {
		s.cfg.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// problem is the RFC 9457 problem document, as the gateway writes it.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id"`
}

// problemStatus maps the codes this package answers with to HTTP.
var problemStatus = map[voucher.Code]struct {
	status int
	title  string
}{
	voucher.CodeInvalidArgument: {http.StatusBadRequest, "Invalid argument"},
	CodeUnauthenticated:         {http.StatusUnauthorized, "Unauthenticated"},
	voucher.CodeForbidden:       {http.StatusForbidden, "Forbidden"},
	CodePayloadTooLarge:         {http.StatusRequestEntityTooLarge, "Payload too large"},
	CodeUnavailable:             {http.StatusServiceUnavailable, "Unavailable"},
	voucher.CodeInternal:        {http.StatusInternalServerError, "Internal error"},
}

// writeProblem is the default error writer, used when the router does not
// pass its own: the same problem+json shape as the gateway's.
func writeProblem(c *gin.Context, err error) {
	code := voucher.CodeInternal
	detail := "internal error"
	var ve *voucher.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ve):
		if _, known := problemStatus[ve.Code]; known {
			code, detail = ve.Code, ve.Message
		}
	case errors.As(err, &mbe):
		code, detail = CodePayloadTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", mbe.Limit)
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code, detail = CodeUnavailable, "the ledger is unavailable or did not answer in time; retry later"
		c.Header("Retry-After", "1")
	}
	ps := problemStatus[code]
	rid := c.Writer.Header().Get("X-Request-Id")
	if rid == "" {
		rid = c.GetHeader("X-Request-Id")
	}
	if code == voucher.CodeInternal {
		_ = c.Error(err)
		detail = "internal error; quote request id " + rid
	}
	body, _ := json.Marshal(problem{
		Type:  "urn:hongshan:problem:" + strings.ToLower(strings.ReplaceAll(string(code), "_", "-")),
		Title: ps.title, Status: ps.status, Code: string(code), Detail: detail,
		Instance: c.Request.URL.Path, RequestID: rid,
	})
	c.Data(ps.status, "application/problem+json", body)
	c.Abort()
}
