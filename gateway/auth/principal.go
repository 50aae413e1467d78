// Package auth holds the gateway's principals: who may call it, in which
// role, for which agency. Bearer tokens are random 32-byte secrets shown once
// at creation and stored only as SHA-256 hashes; a bounded in-memory cache
// keeps authentication off the disk on the hot path.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// CodeUnauthenticated is the code of a request without a valid credential.
// It joins the contract's codes in the gateway's error table.
const CodeUnauthenticated voucher.Code = "UNAUTHENTICATED"

// Principal is an identity of the gateway. It never carries the token or its
// hash.
type Principal struct {
	Name      string       `json:"name"`
	Role      voucher.Role `json:"role"`
	AgencyID  string       `json:"agency_id,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	Revoked   bool         `json:"revoked"`
	RevokedAt *time.Time   `json:"revoked_at,omitempty"`
}

// Caller is the principal as the ledger backends see it.
func (p Principal) Caller() backend.Caller {
	return backend.Caller{Name: p.Name, Role: p.Role, AgencyID: p.AgencyID}
}

// NewPrincipal describes a principal to create. Password is optional: a
// principal without one signs in to the web console only after one is set.
type NewPrincipal struct {
	Name     string       `json:"name"`
	Role     voucher.Role `json:"role"`
	AgencyID string       `json:"agency_id,omitempty"`
	Password string       `json:"password,omitempty"`
}

// MaxNameLen bounds a principal's name.
const MaxNameLen = 64

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidateName checks a principal's name: 1 to 64 characters of lower-case
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: fmt.Sprintf("principal name must match %s", nameRE.String())}
	}
	return nil
}

// Validate checks a principal's name, role and agency: an agency principal
// needs a valid USCC agency id, every other role must have none.
func (n NewPrincipal) Validate() error {
	if err := ValidateName(n.Name); err != nil {
		return err
	}
	if !n.Role.Valid() {
		return &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: "role must be one of scitech, finance, auditor, agency"}
	}
	if n.Role == voucher.RoleAgency {
		if n.AgencyID == "" {
			return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "an agency principal needs agency_id"}
		}
		if err := voucher.ValidateUSCC(n.AgencyID); err != nil {
			return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "agency_id: " + err.Error()}
		}
	} else if n.AgencyID != "" {
		return &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: fmt.Sprintf("a %s principal must not have agency_id", n.Role)}
	}
	if n.Password != "" {
		return ValidatePassword(n.Password)
	}
	return nil
}

// tokenBytes is the entropy of a bearer token.
const tokenBytes = 32

// tokenLen is the length of a token in unpadded base64url.
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// newToken returns a fresh bearer token and its hash.
func newToken() (token, hash string, err error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken is the stored form of a token: base64url of its SHA-256.
func HashToken(token string) string { return encodeTokenSum(sumToken(token)) }

// tokenSum is a token's SHA-256, the key of the token cache (a fixed-size
// key: no string is made per request).
type tokenSum [sha256.Size]byte

// sumToken hashes token without copying it to the heap when it has a
// token's length.
func sumToken(token string) tokenSum {
	var buf [64]byte
	if len(token) <= len(buf) {
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(token))
}

func encodeTokenSum(sum tokenSum) string { return base64.RawURLEncoding.EncodeToString(sum[:]) }

// decodeTokenSum is the inverse of encodeTokenSum; ok is false for a string
// that is not one.
func decodeTokenSum(hash string) (sum tokenSum, ok bool) {
	if len(hash) != base64.RawURLEncoding.EncodedLen(len(sum)) {
		return sum, false
	}
	n, err := base64.RawURLEncoding.Decode(sum[:], []byte(hash))
	return sum, err == nil && n == len(sum)
}

// wellFormedToken reports whether s could be a token this package issued,
// so garbage is refused without a lookup.
func wellFormedToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
