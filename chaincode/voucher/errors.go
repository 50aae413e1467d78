package voucher

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Code is a stable, machine-readable reason for a rejection.
type Code string

// The contract's error codes. They never change meaning.
const (
	CodeInvalidArgument     Code = "INVALID_ARGUMENT"
	CodeForbidden           Code = "FORBIDDEN"
	CodeNotFound            Code = "NOT_FOUND"
	CodeAlreadyExists       Code = "ALREADY_EXISTS"
	CodeAlreadyClaimed      Code = "ALREADY_CLAIMED"
	CodeInvalidState        Code = "INVALID_STATE"
	CodeDuplicatePaymentRef Code = "DUPLICATE_PAYMENT_REF"
	CodeCapExceeded         Code = "CAP_EXCEEDED"
	CodeNotCertified        Code = "NOT_CERTIFIED"
	CodeNotEligible         Code = "NOT_ELIGIBLE"
	CodeNoServiceRecord     Code = "NO_SERVICE_RECORD"
	CodeAgencySuspended     Code = "AGENCY_SUSPENDED"
	CodeAmountMismatch      Code = "AMOUNT_MISMATCH"
	// CodeInternal is a ledger failure, never a client's mistake.
	CodeInternal Code = "INTERNAL"
)

// Error is a typed rejection. Details carry machine-readable facts, such as
// the remaining cap with CAP_EXCEEDED.
type Error struct {
	Code    Code              `json:"code"`
	Message string            `json:"message"`
	Details map[string]string `json:"details,omitempty"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// errorf builds a typed error.
func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err: empty for nil, CodeInternal when err
// carries none.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// wirePrefix marks an error message produced by EncodeError, so a client that
// only sees a string (the Fabric SDK) can recover the typed error.
const wirePrefix = "HONGSHAN_ERROR"

// EncodeError renders err for a transport that carries only a message.
func EncodeError(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInternal, Message: err.Error()}
	}
	b, _ := json.Marshal(e)
	return wirePrefix + string(b)
}

// DecodeError finds an error produced by EncodeError inside msg, which may be
// wrapped in other text. ok is false when msg holds none.
func DecodeError(msg string) (e *Error, ok bool) {
	i := strings.Index(msg, wirePrefix+"{")
	if i < 0 {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(msg[i+len(wirePrefix):]))
	var out Error
	if dec.Decode(&out) != nil || out.Code == "" {
		return nil, false
	}
	return &out, true
}
