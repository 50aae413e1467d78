// Package client is the typed Go client of the Hongshan gateway's REST API
// (v1). Every route has one context-first method whose answer is a domain
// type of chaincode/voucher and whose rejection is an *Error carrying the
// gateway's stable code, so callers branch on codes, never on messages.
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithToken(tok),
//		client.WithIdempotencyKeys(), client.WithRetry(3, 100*time.Millisecond))
//	v, err := c.Claim(ctx, voucher.ClaimArgs{EnterpriseID: eid, CertificateNo: no})
//	if client.IsCode(err, "CAP_EXCEEDED") { ... }
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits on what a response may make the client read or wait for.
const (
	// MaxResponseBytes bounds a successful response body: the largest
	// answer is a page of vouchers, far below this.
	MaxResponseBytes = 8 << 20
	// maxErrorBytes bounds an error body; a problem document is small, and
	// anything longer is cut, never buffered whole.
	maxErrorBytes = 64 << 10
	// MaxRetryAttempts bounds WithRetry whatever it is asked for.
	MaxRetryAttempts = 10
	// maxBackoff bounds the wait between two attempts.
	maxBackoff = 5 * time.Second
	// DefaultTimeout bounds each HTTP attempt unless WithTimeout says
	// otherwise.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent names the client to the gateway's logs.
	DefaultUserAgent = "hongshan-client/1"
)

// Client calls one gateway as one principal.
type Client struct {
	base        *url.URL
	token       string
	httpClient  *http.Client
	timeout     time.Duration
	userAgent   string
	attempts    int
	baseBackoff time.Duration
	autoKeys    bool
}

// Option configures a Client.
type Option func(*Client) error

// WithToken authenticates every request with the principal's bearer token.
func WithToken(token string) Option {
	return func(c *Client) error {
		token = strings.TrimSpace(token)
		if strings.ContainsAny(token, "\r\n") {
			return errors.New("client: token contains a line break")
		}
		c.token = token
		return nil
	}
}

// WithHTTPClient sends requests through hc, e.g. one with a tuned
// transport shared by many Clients (one per principal).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("client: nil http.Client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each HTTP attempt (not the sum of retries; the
// caller's context bounds the whole call). Zero or less means no bound
// beyond the context.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		c.timeout = d
		return nil
	}
}

// WithUserAgent replaces the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if strings.ContainsAny(ua, "\r\n") {
			return errors.New("client: user agent contains a line break")
		}
		c.userAgent = ua
		return nil
	}
}

// WithRetry makes up to attempts tries (at most MaxRetryAttempts) of a call
// that failed to reach the gateway or got 429, 502, 503 or 504, waiting an
// exponentially growing, jittered delay from baseBackoff (capped at 5 s)
// between tries. Only calls that are safe to repeat are retried: GET, HEAD,
// DELETE, and POSTs carrying an Idempotency-Key (see WithIdempotencyKeys
// and ContextWithIdempotencyKey), which the gateway answers once.
func WithRetry(attempts int, baseBackoff time.Duration) Option {
	return func(c *Client) error {
		if attempts < 1 {
			return fmt.Errorf("client: retry attempts %d < 1", attempts)
		}
		c.attempts = min(attempts, MaxRetryAttempts)
		c.baseBackoff = max(baseBackoff, time.Millisecond)
		return nil
	}
}

// WithIdempotencyKeys gives every POST a fresh random Idempotency-Key
// (unless the context already names one), reused on its retries: the
// gateway answers a repeated key with the first answer, so a write whose
// answer was lost is never applied twice.
func WithIdempotencyKeys() Option {
	return func(c *Client) error {
		c.autoKeys = true
		return nil
	}
}

// New returns a client of the gateway at baseURL (e.g.
// "http://127.0.0.1:8080"; a path prefix is kept).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: base URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q has no host", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{
		base:       u,
		httpClient: http.DefaultClient,
		timeout:    DefaultTimeout,
		userAgent:  DefaultUserAgent,
		attempts:   1,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BaseURL is the gateway the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

type idempotencyKeyCtx struct{}

// ContextWithIdempotencyKey makes the write called with the returned context
// carry key as its Idempotency-Key: repeating the call with the same key and
// body returns the first answer instead of writing again.
func ContextWithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

// request is one API call before it is sent.
type request struct {
	method string
	path   string // already escaped
	query  url.Values
	body   any // JSON-encoded when not nil
}

// do sends req (retrying as configured) and decodes a JSON answer into out
// when out is not nil.
func (c *Client) do(ctx context.Context, req request, out any) error {
	var body []byte
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return fmt.Errorf("client: encode %s %s: %w", req.method, req.path, err)
		}
		body = b
	}
	key, _ := ctx.Value(idempotencyKeyCtx{}).(string)
	if key == "" && c.autoKeys && req.method == http.MethodPost {
		key = newKey()
	}
	// The gateway honours Idempotency-Key on POST only: a PUT is never
	// retried, as a repeat would install another policy version.
	retryable := req.method == http.MethodGet || req.method == http.MethodHead ||
		req.method == http.MethodDelete || (req.method == http.MethodPost && key != "")
	attempts := 1
	if retryable {
		attempts = c.attempts
	}
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			if err := sleepCtx(ctx, c.backoff(attempt-1)); err != nil {
				return lastErr
			}
		}
		resp, err := c.once(ctx, req, body, key)
		if err == nil {
			if err = c.finish(resp, req, out); err == nil {
				return nil
			}
		}
		lastErr = err
		if ctx.Err() != nil || !shouldRetry(err) {
			return err
		}
	}
	return lastErr
}

// once sends one attempt. A non-nil error means no response was received.
// The attempt's timeout covers reading the body too: it ends when the body
// is closed.
func (c *Client) once(ctx context.Context, req request, body []byte, key string) (*http.Response, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + req.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("client: path %q: %w", u.RawPath, err)
	}
	u.Path = p
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var actx context.Context
	var cancel context.CancelFunc
	if c.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.timeout)
	} else {
		actx, cancel = context.WithCancel(ctx)
	}
	hreq, err := c.newHTTPRequest(actx, req, u.String(), body, key)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := c.httpClient.Do(hreq)
	if err != nil {
		cancel()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the method and URL
		}
		return nil, &TransportError{Method: req.method, URL: u.Redacted(), Err: err}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

func (c *Client) newHTTPRequest(ctx context.Context, req request, u string, body []byte, key string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	hreq.Header.Set("Accept", "application/json, application/problem+json")
	hreq.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.token)
	}
	if key != "" {
		hreq.Header.Set("Idempotency-Key", key)
	}
	return hreq, nil
}

// finish reads and closes resp, decoding success into out or failure into
// an *Error.
func (c *Client) finish(resp *http.Response, req request, out any) error {
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return decodeError(resp, b)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return &TransportError{Method: req.method, URL: resp.Request.URL.Redacted(), Err: err}
	}
	if len(b) > MaxResponseBytes {
		return fmt.Errorf("client: %s %s: response over %d bytes", req.method, req.path, MaxResponseBytes)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", req.method, req.path, err)
	}
	return nil
}

// backoff is the wait before retry n (1-based): exponential, capped,
// with full jitter so many clients do not retry in step.
func (c *Client) backoff(n int) time.Duration {
	d := float64(c.baseBackoff) * math.Pow(2, float64(n-1))
	d = min(d, float64(maxBackoff))
	return time.Duration(d/2 + mrand.Float64()*d/2) //nolint:gosec // jitter needs no cryptographic randomness
}

// shouldRetry reports whether err may be transient: the gateway could not
// be reached, or it said it is overloaded or unavailable.
func shouldRetry(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newKey is a random 128-bit idempotency key.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// cancelOnClose ends an attempt's timeout context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (r *cancelOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.cancel()
	return err
}

// TransportError means the gateway could not be reached or the connection
// broke before an answer was read: nothing is known of the call's effect.
type TransportError struct {
	Method string
	URL    string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Method, e.URL, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }
