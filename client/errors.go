package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Error is the gateway's rejection of a call (an application/problem+json
// answer). Code is stable and machine-readable (the contract's codes such as
// CAP_EXCEEDED or ALREADY_CLAIMED, plus the gateway's UNAUTHENTICATED,
// FORBIDDEN, IDEMPOTENCY_KEY_REUSED, PAYLOAD_TOO_LARGE, UNAVAILABLE); Detail
// is for people. Remaining is the agency's remaining cap with CAP_EXCEEDED.
type Error struct {
	Status    int
	Code      string
	Detail    string
	RequestID string
	Remaining string
}

func (e *Error) Error() string {
	s := e.Code
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Remaining != "" {
		s += " (remaining " + e.Remaining + ")"
	}
	return s
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// CodeOf returns the code of the *Error in err, or "" when err is not a
// rejection by the gateway (e.g. a connection failure).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsTransport reports whether err means the gateway was not reached or the
// answer was lost, so the call's effect is unknown.
func IsTransport(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

// problem is the wire form of an error answer.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Remaining string `json:"remaining"`
	// Details is accepted too, in case facts travel as the contract's
	// error details.
	Details map[string]string `json:"details"`
}

// decodeError turns a non-success answer into an *Error. Answers that are
// not problem documents (a proxy's HTML page) still get a code, derived
// from the HTTP status, and a short excerpt as detail.
func decodeError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var p problem
	if json.Unmarshal(body, &p) == nil && p.Code != "" {
		e.Code, e.Detail = p.Code, p.Detail
		if e.Detail == "" {
			e.Detail = p.Title
		}
		if p.RequestID != "" {
			e.RequestID = p.RequestID
		}
		e.Remaining = p.Remaining
		if e.Remaining == "" {
			e.Remaining = p.Details["remaining"]
		}
		return e
	}
	e.Code = codeForStatus(resp.StatusCode)
	e.Detail = excerpt(body)
	if e.Detail == "" {
		e.Detail = http.StatusText(resp.StatusCode)
	}
	return e
}

// codeForStatus names a bare HTTP status in the gateway's vocabulary.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusRequestEntityTooLarge:
		return "PAYLOAD_TOO_LARGE"
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return "UNAVAILABLE"
	}
	return fmt.Sprintf("HTTP_%d", status)
}

// excerpt is the start of a non-JSON error body, on one line.
func excerpt(b []byte) string {
	const maxRunes = 200
	s := strings.Join(strings.Fields(string(b)), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes]) + "…"
	}
	return s
}
