package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Principal is an identity of the gateway: a person or system acting in one
// role, and for role agency on behalf of one agency.
type Principal struct {
	Name      string       `json:"name"`
	Role      voucher.Role `json:"role"`
	AgencyID  string       `json:"agency_id,omitempty"`
	CreatedAt string       `json:"created_at,omitempty"`
	Revoked   bool         `json:"revoked,omitempty"`
	RevokedAt string       `json:"revoked_at,omitempty"`
}

// NewPrincipal is what POST /v1/principals needs. Name is 1 to 64 lower-case
// letters, digits, '.', '_' or '-'; AgencyID is required for role agency and
// forbidden otherwise.
type NewPrincipal struct {
	Name     string       `json:"name"`
	Role     voucher.Role `json:"role"`
	AgencyID string       `json:"agency_id,omitempty"`
}

// PrincipalToken is a new principal with its bearer token. The gateway keeps
// only a hash: this is the one time the token is seen.
type PrincipalToken struct {
	Name     string       `json:"name"`
	Role     voucher.Role `json:"role"`
	AgencyID string       `json:"agency_id,omitempty"`
	Token    string       `json:"token"`
}

// Payment is the treasury's payment of a redeemed voucher. AmountCNY must
// equal the voucher's amount; PaymentRef (国库集中支付凭证号) is used once.
type Payment struct {
	PaymentRef string `json:"payment_ref"`
	AmountCNY  string `json:"amount"`
	PaidOn     string `json:"paid_on"`
}

// ListOptions pages a listing. Zero values take the gateway's defaults.
type ListOptions struct {
	Limit  int
	Cursor string
}

// VerifyResult is the outcome of a full ledger integrity check.
type VerifyResult struct {
	OK            bool    `json:"ok"`
	Height        uint64  `json:"height"`
	HeadHash      string  `json:"head_hash"`
	CheckedBlocks uint64  `json:"checked_blocks"`
	FirstBadBlock *uint64 `json:"first_bad_block"`
	Detail        string  `json:"detail"`
}

type reasonBody struct {
	Reason string `json:"reason"`
}

// --- principals -----------------------------------------------------------

// Whoami returns the principal the token belongs to.
func (c *Client) Whoami(ctx context.Context) (Principal, error) {
	var p Principal
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/whoami"}, &p)
	return p, err
}

// CreatePrincipal creates a principal (scitech only) and returns its token.
func (c *Client) CreatePrincipal(ctx context.Context, p NewPrincipal) (PrincipalToken, error) {
	var out PrincipalToken
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/principals", body: p}, &out)
	return out, err
}

// RevokePrincipal revokes a principal's token (scitech only).
func (c *Client) RevokePrincipal(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/principals/" + url.PathEscape(name)}, nil)
}

// ListPrincipals lists the gateway's principals (scitech only).
func (c *Client) ListPrincipals(ctx context.Context) ([]Principal, error) {
	var out listOf[Principal]
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/principals"}, &out)
	return out.items, err
}

// --- agencies -------------------------------------------------------------

// RegisterAgency registers a service agency or incubator (scitech only).
func (c *Client) RegisterAgency(ctx context.Context, a voucher.RegisterAgencyArgs) (voucher.AgencyView, error) {
	var out voucher.AgencyView
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/agencies", body: a}, &out)
	return out, err
}

// GetAgency returns an agency with its cap usage per period. An agency
// principal may read only its own.
func (c *Client) GetAgency(ctx context.Context, id string) (voucher.AgencyView, error) {
	var out voucher.AgencyView
	err := c.do(ctx, request{method: http.MethodGet, path: agencyPath(id)}, &out)
	return out, err
}

// ListAgencies returns one page of agencies, ordered by id.
func (c *Client) ListAgencies(ctx context.Context, o ListOptions) (voucher.Page[voucher.AgencyView], error) {
	var out voucher.Page[voucher.AgencyView]
	q := url.Values{}
	setPage(q, o.Limit, o.Cursor)
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/agencies", query: q}, &out)
	return out, err
}

// AllAgencies walks every page of agencies with pages of pageSize (0: the
// gateway's default). It stops at the first error, which it yields.
func (c *Client) AllAgencies(ctx context.Context, pageSize int) iter.Seq2[voucher.AgencyView, error] {
	return walk(func(cursor string) (voucher.Page[voucher.AgencyView], error) {
		return c.ListAgencies(ctx, ListOptions{Limit: pageSize, Cursor: cursor})
	})
}

// GetCap returns an agency's cap usage in period ("2024", or "program" when
// the policy's cap covers the whole programme).
func (c *Client) GetCap(ctx context.Context, agencyID, period string) (voucher.CapUsage, error) {
	var out voucher.CapUsage
	q := url.Values{}
	if period != "" {
		q.Set("period", period)
	}
	err := c.do(ctx, request{method: http.MethodGet, path: agencyPath(agencyID) + "/cap", query: q}, &out)
	return out, err
}

// SuspendAgency stops an agency from claiming (scitech only).
func (c *Client) SuspendAgency(ctx context.Context, id, reason string) (voucher.AgencyView, error) {
	var out voucher.AgencyView
	err := c.do(ctx, request{method: http.MethodPost, path: agencyPath(id) + "/suspend", body: reasonBody{reason}}, &out)
	return out, err
}

// ReinstateAgency lets a suspended agency claim again (scitech only).
func (c *Client) ReinstateAgency(ctx context.Context, id, reason string) (voucher.AgencyView, error) {
	var out voucher.AgencyView
	err := c.do(ctx, request{method: http.MethodPost, path: agencyPath(id) + "/reinstate", body: reasonBody{reason}}, &out)
	return out, err
}

// --- policy ---------------------------------------------------------------

// GetPolicy returns the newest policy version.
func (c *Client) GetPolicy(ctx context.Context) (voucher.Policy, error) {
	var out voucher.Policy
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/policy"}, &out)
	return out, err
}

// SetPolicy installs a new policy version (scitech only). Vouchers already
// issued keep the version they were judged by.
func (c *Client) SetPolicy(ctx context.Context, p voucher.SetPolicyArgs) (voucher.Policy, error) {
	var out voucher.Policy
	err := c.do(ctx, request{method: http.MethodPut, path: "/v1/policy", body: p}, &out)
	return out, err
}

// --- certifications, service records, claims -----------------------------

// RecordCertification records one certificate of the official high-tech
// enterprise recognition list (scitech only).
func (c *Client) RecordCertification(ctx context.Context, a voucher.RecordCertificationArgs) (voucher.Certification, error) {
	var out voucher.Certification
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/certifications", body: a}, &out)
	return out, err
}

// RecordService records the calling agency's service to an enterprise,
// with the SHA-256 of its evidence (agency only).
func (c *Client) RecordService(ctx context.Context, a voucher.RecordServiceArgs) (voucher.ServiceRecord, error) {
	var out voucher.ServiceRecord
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/service-records", body: a}, &out)
	return out, err
}

// Claim asks for the reward for one certified enterprise the calling agency
// served (agency only) and returns the issued voucher.
func (c *Client) Claim(ctx context.Context, a voucher.ClaimArgs) (voucher.Voucher, error) {
	var out voucher.Voucher
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/claims", body: a}, &out)
	return out, err
}

// --- vouchers -------------------------------------------------------------

// ListVouchers returns one page of vouchers matching f. An agency principal
// sees only its own whatever f.AgencyID says.
func (c *Client) ListVouchers(ctx context.Context, f voucher.ListVouchersArgs) (voucher.Page[voucher.Voucher], error) {
	var out voucher.Page[voucher.Voucher]
	q := url.Values{}
	if f.AgencyID != "" {
		q.Set("agency_id", f.AgencyID)
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Period != "" {
		q.Set("period", f.Period)
	}
	setPage(q, f.Limit, f.Cursor)
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/vouchers", query: q}, &out)
	return out, err
}

// AllVouchers walks every page of vouchers matching f from f.Cursor on. It
// stops at the first error, which it yields.
func (c *Client) AllVouchers(ctx context.Context, f voucher.ListVouchersArgs) iter.Seq2[voucher.Voucher, error] {
	return walk(func(cursor string) (voucher.Page[voucher.Voucher], error) {
		g := f
		if cursor != "" {
			g.Cursor = cursor
		}
		return c.ListVouchers(ctx, g)
	})
}

// GetVoucher returns one voucher.
func (c *Client) GetVoucher(ctx context.Context, id string) (voucher.Voucher, error) {
	var out voucher.Voucher
	err := c.do(ctx, request{method: http.MethodGet, path: voucherPath(id)}, &out)
	return out, err
}

// VoucherHistory lists a voucher's steps, oldest first.
func (c *Client) VoucherHistory(ctx context.Context, id string) ([]voucher.HistoryItem, error) {
	var out listOf[voucher.HistoryItem]
	err := c.do(ctx, request{method: http.MethodGet, path: voucherPath(id) + "/history"}, &out)
	return out.items, err
}

// Redeem asks the treasury to pay an issued voucher (owning agency only).
func (c *Client) Redeem(ctx context.Context, id string) (voucher.Voucher, error) {
	var out voucher.Voucher
	err := c.do(ctx, request{method: http.MethodPost, path: voucherPath(id) + "/redeem", body: struct{}{}}, &out)
	return out, err
}

// Reimburse records the treasury's payment of a redeemed voucher (finance
// only).
func (c *Client) Reimburse(ctx context.Context, id string, p Payment) (voucher.Voucher, error) {
	var out voucher.Voucher
	err := c.do(ctx, request{method: http.MethodPost, path: voucherPath(id) + "/reimburse", body: p}, &out)
	return out, err
}

// Reject refuses a voucher that is issued or awaiting payment (finance
// only); its amount no longer counts against the cap.
func (c *Client) Reject(ctx context.Context, id, reason string) (voucher.Voucher, error) {
	var out voucher.Voucher
	err := c.do(ctx, request{method: http.MethodPost, path: voucherPath(id) + "/reject", body: reasonBody{reason}}, &out)
	return out, err
}

// Revoke withdraws an issued voucher (scitech only); its amount no longer
// counts against the cap.
func (c *Client) Revoke(ctx context.Context, id, reason string) (voucher.Voucher, error) {
	var out voucher.Voucher
	err := c.do(ctx, request{method: http.MethodPost, path: voucherPath(id) + "/revoke", body: reasonBody{reason}}, &out)
	return out, err
}

// --- ledger and service ---------------------------------------------------

// Verify recomputes the ledger's hash chain from genesis to head (finance
// and auditor). A broken chain is a result with OK false, not an error.
func (c *Client) Verify(ctx context.Context) (VerifyResult, error) {
	var out VerifyResult
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/ledger/verify"}, &out)
	return out, err
}

// Health returns nil when the gateway process is up (GET /healthz).
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/healthz"}, nil)
}

// Ready returns nil when the gateway serves requests: its ledger and read
// model are open (GET /readyz).
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/readyz"}, nil)
}

// --- helpers --------------------------------------------------------------

func agencyPath(id string) string  { return "/v1/agencies/" + url.PathEscape(id) }
func voucherPath(id string) string { return "/v1/vouchers/" + url.PathEscape(id) }

func setPage(q url.Values, limit int, cursor string) {
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
}

// maxPages bounds a walk over a listing, so a gateway that keeps answering
// with cursors cannot keep a caller looping forever.
const maxPages = 100_000

// errCursorLoop is yielded when the gateway repeats a cursor.
var errCursorLoop = errors.New("client: listing repeated a cursor")

// walk yields every item of every page fetched by page, following cursors.
func walk[T any](page func(cursor string) (voucher.Page[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cursor := ""
		seen := map[string]bool{}
		for range maxPages {
			p, err := page(cursor)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range p.Items {
				if !yield(it, nil) {
					return
				}
			}
			if p.NextCursor == "" {
				return
			}
			if seen[p.NextCursor] {
				yield(zero, errCursorLoop)
				return
			}
			seen[p.NextCursor] = true
			cursor = p.NextCursor
		}
		yield(zero, errors.New("client: listing has more than 100000 pages"))
	}
}

// listOf decodes a list sent either as a bare JSON array or as an object
// with an "items" array, so list routes can grow paging without breaking
// this client.
type listOf[T any] struct{ items []T }

func (l *listOf[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &l.items)
	}
	var p struct {
		Items []T `json:"items"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	l.items = p.Items
	return nil
}
