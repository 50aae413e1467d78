package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Page size bounds of every listing the gateway answers.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
	// maxCursorLen bounds an opaque cursor taken from a query string.
	maxCursorLen = 1024
)

// readBody returns the request body, read once and kept, bounded by the
// route's limit (limitBody installs the http.MaxBytesReader).
func readBody(c *gin.Context) ([]byte, error) {
	st := stateOf(c)
	if st.bodyRead {
		return st.body, nil
	}
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, Errorf(voucher.CodeInvalidArgument, "reading the request body: %v", err)
	}
	st.body, st.bodyRead = b, true
	rb := &replayBody{}
	rb.Reset(b)
	c.Request.Body = rb
	return b, nil
}

// replayBody serves a body already read to a later reader.
type replayBody struct{ bytes.Reader }

func (*replayBody) Close() error { return nil }

// decodeJSON decodes the body strictly into v: one JSON object, no unknown
// fields, valid UTF-8, Content-Type application/json. An empty body is the
// empty object, so `POST …/redeem` needs no body at all.
func decodeJSON(c *gin.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	} else {
		if err := requireJSONContentType(c.GetHeader("Content-Type")); err != nil {
			return err
		}
		if !utf8.Valid(trimmed) {
			return Errorf(voucher.CodeInvalidArgument, "request body is not valid UTF-8")
		}
		if trimmed[0] != '{' {
			return Errorf(voucher.CodeInvalidArgument, "request body must be one JSON object")
		}
	}
	// Fast path: go-json-experiment with encoding/json's semantics (its v1
	// options) and unknown fields refused accepts exactly what the strict
	// encoding/json decoder below accepts, into the same value. Only a body
	// it refuses goes the slow way, which names the fault as before.
	if jsonv2.Unmarshal(trimmed, v, strictV1) == nil {
		return nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv.Elem().SetZero() // undo what the fast path filled in
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(voucher.CodeInvalidArgument, "request body must hold one JSON object and nothing after it")
	}
	return nil
}

// strictV1 is encoding/json's decoding with DisallowUnknownFields.
var strictV1 = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.RejectUnknownMembers(true))

// requireJSONContentType refuses a body that is not declared JSON. The
// gateway answers 400 INVALID_ARGUMENT (not 415) so that every malformed
// request carries one of the documented codes.
func requireJSONContentType(ct string) error {
	if asciiEqualFold(ct, "application/json") {
		return nil // what mime.ParseMediaType would accept, without its map
	}
	if ct == "" {
		return Errorf(voucher.CodeInvalidArgument, "Content-Type must be application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return Errorf(voucher.CodeInvalidArgument, "Content-Type must be application/json, not %q", clip(ct))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return Errorf(voucher.CodeInvalidArgument, "the JSON body must be UTF-8, not %q", clip(cs))
	}
	return nil
}

// asciiEqualFold compares s to lower, which is lower-case ASCII, ignoring
// ASCII case only (strings.EqualFold also folds some non-ASCII letters).
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// jsonError names what was wrong with a JSON body, and where.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return Errorf(voucher.CodeInvalidArgument, "request body must be one JSON object")
		}
		return Errorf(voucher.CodeInvalidArgument, "field %q must be %s, not a JSON %s",
			typeErr.Field, kindName(typeErr.Type), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Errorf(voucher.CodeInvalidArgument, "malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(voucher.CodeInvalidArgument, "the JSON body ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf(voucher.CodeInvalidArgument, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return Errorf(voucher.CodeInvalidArgument, "invalid JSON body: %v", err)
	}
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "a " + t.Kind().String()
	}
}

// queryOf returns the query parameters, refusing any not in allowed and any
// given twice, so a typo is an error and not a silently ignored filter.
func queryOf(c *gin.Context, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		return nil, Errorf(voucher.CodeInvalidArgument, "malformed query string")
	}
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			return nil, Errorf(voucher.CodeInvalidArgument, "unknown query parameter %q", clip(k))
		}
		if len(vs) > 1 {
			return nil, Errorf(voucher.CodeInvalidArgument, "query parameter %q is given more than once", k)
		}
	}
	return q, nil
}

// pageOf reads limit (1..MaxPageLimit, default DefaultPageLimit) and an
// opaque cursor.
func pageOf(q url.Values) (limit int, cursor string, err error) {
	limit = DefaultPageLimit
	if s := q.Get("limit"); s != "" || q.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageLimit {
			return 0, "", Errorf(voucher.CodeInvalidArgument, "limit must be an integer between 1 and %d", MaxPageLimit)
		}
		limit = n
	}
	cursor = q.Get("cursor")
	if len(cursor) > maxCursorLen {
		return 0, "", Errorf(voucher.CodeInvalidArgument, "cursor is not one this listing returned")
	}
	for i := 0; i < len(cursor); i++ {
		ch := cursor[i]
		if ch <= ' ' || ch > '~' {
			return 0, "", Errorf(voucher.CodeInvalidArgument, "cursor is not one this listing returned")
		}
	}
	return limit, cursor, nil
}

// validatePeriod checks a cap period: a year or "program".
func validatePeriod(p string) error {
	if p == voucher.ProgramPeriod {
		return nil
	}
	if len(p) == 4 && p >= "2000" && p <= "2099" {
		if _, err := strconv.Atoi(p); err == nil {
			return nil
		}
	}
	return Errorf(voucher.CodeInvalidArgument, "period must be a year 2000-2099 or %q", voucher.ProgramPeriod)
}

// agencyIDParam is the {id} of an agency route, checked as a USCC before
// anything is read.
func agencyIDParam(c *gin.Context) (string, error) {
	id := c.Param("id")
	if err := voucher.ValidateUSCC(id); err != nil {
		return "", err
	}
	return id, nil
}

// voucherIDParam is the {id} of a voucher route: 1-64 letters, digits or
// '-', the contract's voucher id shape.
func voucherIDParam(c *gin.Context) (string, error) {
	id := c.Param("id")
	ok := id != "" && len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		ch := id[i]
		ok = isAlnum(ch) || ch == '-'
	}
	if !ok {
		return "", Errorf(voucher.CodeInvalidArgument, "voucher id must be 1-64 letters, digits or '-'")
	}
	return id, nil
}

// clip shortens untrusted input quoted (with %q) in an answer.
func clip(s string) string {
	const maxLen = 40
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "…"
}
