package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Password bounds, in characters. The upper bound keeps one hash cheap
// enough to compute; the lower one keeps guessing expensive.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 128
)

// argon2id parameters: RFC 9106's second recommendation scaled to OWASP's
// minimum for a server that hashes on request (19 MiB, 2 passes, 1 lane):
// about 30-60 ms on one core.
const (
	argonTime    = 2
	argonMemKiB  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// hashSlots bounds the password hashes computed at once across the process:
// each takes argonMemKiB of memory and a core for tens of milliseconds, so
// a burst of sign-ins queues instead of exhausting the machine.
var hashSlots = make(chan struct{}, 2)

// dummyHash is verified against when a name is unknown or has no password,
// so the answer takes as long as for a real principal and does not reveal
// which names exist.
var dummyHash = sync.OnceValue(func() string { return mustHash("hongshan-dummy-password") })

// ValidatePassword checks a new password: valid UTF-8 without control
// characters, MinPasswordLen to MaxPasswordLen characters.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "password is not valid UTF-8"}
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: fmt.Sprintf("password must be %d to %d characters, not %d", MinPasswordLen, MaxPasswordLen, n)}
	}
	for _, r := range pw {
		if r < 0x20 || r == 0x7f {
			return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "password contains a control character"}
		}
	}
	return nil
}

// hashPassword returns the argon2id hash of pw in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$key), which names its own parameters so
// they can be raised later without breaking stored hashes.
func hashPassword(ctx context.Context, pw string) (string, error) {
	var salt [argonSaltLen]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	if err := acquireHashSlot(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt[:], argonTime, argonMemKiB, argonThreads, argonKeyLen)
	<-hashSlots
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemKiB, argonTime, argonThreads, enc.EncodeToString(salt[:]), enc.EncodeToString(key)), nil
}

func mustHash(pw string) string {
	h, err := hashPassword(context.Background(), pw)
	if err != nil {
		panic(err)
	}
	return h
}

func acquireHashSlot(ctx context.Context) error {
	select {
	case hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password hash: %w", ctx.Err())
	}
}

// verifyPassword reports whether pw matches the PHC-encoded argon2id hash,
// comparing in constant time. A malformed hash matches nothing.
func verifyPassword(ctx context.Context, encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, nil
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false, nil
	}
	// Refuse parameters that would let a corrupt record exhaust the
	// machine.
	if mem == 0 || mem > 1<<20 || t == 0 || t > 16 || p == 0 || p > 16 {
		return false, nil
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false, nil
	}
	if err := acquireHashSlot(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, p, uint32(len(want))) //nolint:gosec // len(want) ≤ 64, checked above
	<-hashSlots
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// errBadPassword is the one answer to a failed sign-in, whatever failed:
// unknown name, revoked principal, no password set, or a wrong password.
var errBadPassword = &voucher.Error{Code: CodeUnauthenticated, Message: "the name or the password is wrong"}

// IsBadPassword reports whether err is CheckPassword's refusal of the
// credentials (as opposed to a fault).
func IsBadPassword(err error) bool { return errors.Is(err, errBadPassword) }

// CheckPassword returns the active principal name whose password is pw.
// Any mismatch is the same UNAUTHENTICATED error (IsBadPassword), answered
// after the same amount of work.
func (s *Store) CheckPassword(ctx context.Context, name, pw string) (Principal, error) {
	var rec record
	found := false
	if ValidateName(name) == nil && len(pw) <= 4*MaxPasswordLen {
		err := s.db.View(func(tx *bolt.Tx) error {
			raw := tx.Bucket(bucketPrincipals).Get([]byte(name))
			if raw == nil {
				return nil
			}
			found = true
			return json.Unmarshal(raw, &rec)
		})
		if err != nil {
			return Principal{}, fmt.Errorf("auth: lookup %q: %w", name, err)
		}
	}
	usable := found && !rec.Revoked && rec.PasswordHash != ""
	hash := dummyHash()
	if usable {
		hash = rec.PasswordHash
	}
	ok, err := verifyPassword(ctx, hash, pw)
	if err != nil {
		return Principal{}, err
	}
	if !ok || !usable {
		return Principal{}, errBadPassword
	}
	return rec.Principal, nil
}

// HasPassword reports whether the active principal name has a password.
func (s *Store) HasPassword(name string) (bool, error) {
	var has bool
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketPrincipals).Get([]byte(name))
		if raw == nil {
			return &voucher.Error{Code: voucher.CodeNotFound, Message: fmt.Sprintf("principal %q not found", name)}
		}
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		has = rec.PasswordHash != "" && !rec.Revoked
		return nil
	})
	return has, err
}

// SetPassword gives the active principal name a new password, replacing
// any old one. Sessions it holds are the caller's to end.
func (s *Store) SetPassword(ctx context.Context, name, pw string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	hash, err := hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPrincipals)
		raw := b.Get([]byte(name))
		if raw == nil {
			return &voucher.Error{Code: voucher.CodeNotFound, Message: fmt.Sprintf("principal %q not found", name)}
		}
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if rec.Revoked {
			return &voucher.Error{Code: voucher.CodeInvalidState, Message: fmt.Sprintf("principal %q is revoked", name)}
		}
		rec.PasswordHash = hash
		out, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(name), out)
	})
	var ve *voucher.Error
	if err != nil && !errors.As(err, &ve) {
		return fmt.Errorf("auth: set the password of %q: %w", name, err)
	}
	return err
}
