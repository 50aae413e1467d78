package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// The gateway's own codes, beside the contract's.
const (
	CodeUnauthenticated                   = auth.CodeUnauthenticated
	CodePayloadTooLarge      voucher.Code = "PAYLOAD_TOO_LARGE"
	CodeIdempotencyKeyReused voucher.Code = "IDEMPOTENCY_KEY_REUSED"
	CodeMethodNotAllowed     voucher.Code = "METHOD_NOT_ALLOWED"
	CodeUnavailable          voucher.Code = "UNAVAILABLE"
)

// codeInfo is how one code is answered over HTTP.
type codeInfo struct {
	status int
	title  string
}

// codeTable is the one place that maps a code to an HTTP status. Every
// problem the gateway answers goes through it.
var codeTable = map[voucher.Code]codeInfo{
	voucher.CodeInvalidArgument:     {http.StatusBadRequest, "Invalid argument"},
	CodeUnauthenticated:             {http.StatusUnauthorized, "Unauthenticated"},
	voucher.CodeForbidden:           {http.StatusForbidden, "Forbidden"},
	voucher.CodeNotFound:            {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed:            {http.StatusMethodNotAllowed, "Method not allowed"},
	voucher.CodeAlreadyExists:       {http.StatusConflict, "Already exists"},
	voucher.CodeAlreadyClaimed:      {http.StatusConflict, "Certificate already claimed"},
	voucher.CodeInvalidState:        {http.StatusConflict, "Invalid state"},
	voucher.CodeDuplicatePaymentRef: {http.StatusConflict, "Duplicate payment reference"},
	CodePayloadTooLarge:             {http.StatusRequestEntityTooLarge, "Payload too large"},
	voucher.CodeCapExceeded:         {http.StatusUnprocessableEntity, "Cap exceeded"},
	voucher.CodeNotCertified:        {http.StatusUnprocessableEntity, "Not certified"},
	voucher.CodeNotEligible:         {http.StatusUnprocessableEntity, "Not eligible"},
	voucher.CodeNoServiceRecord:     {http.StatusUnprocessableEntity, "No service record"},
	voucher.CodeAgencySuspended:     {http.StatusUnprocessableEntity, "Agency suspended"},
	voucher.CodeAmountMismatch:      {http.StatusUnprocessableEntity, "Amount mismatch"},
	CodeIdempotencyKeyReused:        {http.StatusUnprocessableEntity, "Idempotency key reused"},
	CodeRateLimited:                 {http.StatusTooManyRequests, "Too many requests"},
	CodeUnavailable:                 {http.StatusServiceUnavailable, "Unavailable"},
	voucher.CodeInternal:            {http.StatusInternalServerError, "Internal error"},
}

// StatusOf is the HTTP status of a code; unknown codes are server faults.
func StatusOf(code voucher.Code) int {
	if ci, ok := codeTable[code]; ok {
		return ci.status
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem document, the body of every error answer.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id"`
	// Remaining is the agency's remaining cap, with CAP_EXCEEDED only.
	Remaining string `json:"remaining,omitempty"`
	// Details are the machine-readable facts of a contract rejection.
	Details map[string]string `json:"details,omitempty"`
}

// problemType is the stable URI of a code's problem type.
func problemType(code voucher.Code) string {
	return "urn:hongshan:problem:" + strings.ToLower(strings.ReplaceAll(string(code), "_", "-"))
}

// Errorf builds a typed error with a code, for handlers that reject input.
func Errorf(code voucher.Code, format string, args ...any) error {
	return &voucher.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// classify turns any error into the code it is answered with. Anything the
// gateway cannot name is INTERNAL, a server fault.
func classify(err error) *voucher.Error {
	var ve *voucher.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &ve):
		if _, known := codeTable[ve.Code]; known {
			return ve
		}
		return &voucher.Error{Code: voucher.CodeInternal, Message: err.Error()}
	case errors.As(err, &tooLarge):
		return &voucher.Error{Code: CodePayloadTooLarge,
			Message: fmt.Sprintf("request body is over the limit of %d bytes", tooLarge.Limit)}
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &voucher.Error{Code: CodeUnavailable, Message: "the ledger is unavailable or did not answer in time; retry later"}
	default:
		return &voucher.Error{Code: voucher.CodeInternal, Message: err.Error()}
	}
}

// ctxKeyError holds a server fault for the access log line.
const ctxKeyError = "hongshan.error"

// writeError answers err as a problem. A server fault's own message stays in
// the log (once, on the access line), never in the answer.
func writeError(c *gin.Context, err error) {
	ve := classify(err)
	ci := codeTable[ve.Code]
	p := Problem{
		Type:      problemType(ve.Code),
		Title:     ci.title,
		Status:    ci.status,
		Code:      string(ve.Code),
		Detail:    ve.Message,
		Instance:  c.Request.URL.Path,
		RequestID: requestIDOf(c),
		Details:   ve.Details,
	}
	if ci.status >= http.StatusInternalServerError {
		c.Set(ctxKeyError, err)
		p.Details = nil
		if ve.Code == voucher.CodeInternal {
			p.Detail = "internal error; quote request id " + p.RequestID
		}
	}
	if ve.Code == voucher.CodeCapExceeded && ve.Details != nil {
		p.Remaining = ve.Details["remaining"]
	}
	if ve.Code == CodeUnavailable {
		c.Header("Retry-After", "1")
	}
	c.Set(ctxKeyCode, p.Code)
	body, _ := json.Marshal(p)
	c.Data(ci.status, "application/problem+json", body)
	c.Abort()
}
