package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

var (
	bucketPrincipals = []byte("principals")
	// bucketTokens maps a token hash to the principal's name.
	bucketTokens = []byte("principal_tokens")
)

// record is a principal as stored. Later credentials (a password hash for
// the web console) become new fields here; old records decode unchanged.
type record struct {
	Principal
	TokenHash string `json:"token_hash"`
	// PasswordHash is the argon2id hash of the console password, if any
	// (password.go).
	PasswordHash string `json:"password_hash,omitempty"`
}

// Store keeps principals in a bbolt database (the gateway's own, not the
// ledger). It is safe for concurrent use.
type Store struct {
	db            *bolt.DB
	now           func() time.Time
	cacheMax      int
	maxPrincipals int

	// createMu serialises creations, so a name is checked, enrolled and
	// written by one caller at a time without holding a bbolt write
	// transaction across the (possibly remote) enrolment.
	createMu sync.Mutex

	mu    sync.Mutex
	cache map[tokenSum]Principal // token's SHA-256 → active principal
	// gen counts revocations; a cache fill that raced one is dropped.
	gen uint64
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for created_at and revoked_at.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithCacheSize bounds the token cache (default 10,000 entries).
func WithCacheSize(n int) Option { return func(s *Store) { s.cacheMax = max(n, 1) } }

// WithMaxPrincipals bounds how many principals may exist (default 100,000).
func WithMaxPrincipals(n int) Option { return func(s *Store) { s.maxPrincipals = max(n, 1) } }

// Open uses db for principals, creating its buckets if needed. The caller
// owns db and closes it after the store is no longer used.
func Open(db *bolt.DB, opts ...Option) (*Store, error) {
	s := &Store{
		db:            db,
		now:           time.Now,
		cacheMax:      10_000,
		maxPrincipals: 100_000,
		cache:         map[tokenSum]Principal{},
	}
	for _, o := range opts {
		o(s)
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPrincipals, bucketTokens} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: open buckets: %w", err)
	}
	return s, nil
}

// errUnauthenticated is the single answer to any bad credential, so a
// caller learns nothing about which part was wrong.
var errUnauthenticated = &voucher.Error{Code: CodeUnauthenticated, Message: "a valid bearer token is required"}

// AuthenticateRequest finds the principal behind r's credentials: today an
// `Authorization: Bearer <token>` header (sessions join here later).
func (s *Store) AuthenticateRequest(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, errUnauthenticated
	}
	return s.Authenticate(strings.TrimSpace(token))
}

// Authenticate finds the active principal holding token.
func (s *Store) Authenticate(token string) (Principal, error) {
	if !wellFormedToken(token) {
		return Principal{}, errUnauthenticated
	}
	sum := sumToken(token)
	s.mu.Lock()
	p, ok := s.cache[sum]
	gen := s.gen
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	hash := encodeTokenSum(sum)
	var rec record
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		name := tx.Bucket(bucketTokens).Get([]byte(hash))
		if name == nil {
			return nil
		}
		raw := tx.Bucket(bucketPrincipals).Get(name)
		if raw == nil {
			return nil
		}
		found = true
		return json.Unmarshal(raw, &rec)
	})
	if err != nil {
		return Principal{}, fmt.Errorf("auth: lookup: %w", err)
	}
	if !found || rec.Revoked || rec.TokenHash != hash {
		return Principal{}, errUnauthenticated
	}
	s.mu.Lock()
	if s.gen == gen {
		if len(s.cache) >= s.cacheMax {
			for k := range s.cache { // evict an arbitrary entry
				delete(s.cache, k)
				break
			}
		}
		s.cache[sum] = rec.Principal
	}
	s.mu.Unlock()
	return rec.Principal, nil
}

// EnrollFunc gives a new principal its ledger identity (backend.Backend's
// Enroll).
type EnrollFunc func(ctx context.Context, caller backend.Caller) error

// Create validates np, enrolls it with the ledger, stores it and returns it
// with its bearer token, which is never shown again. A name is never reused,
// even after revocation.
func (s *Store) Create(ctx context.Context, np NewPrincipal, enroll EnrollFunc) (Principal, string, error) {
	return s.create(ctx, np, enroll, false, nil)
}

// Bootstrap creates np only when the store holds no principal at all, and
// hands its token to keep (which writes it where the operator finds it)
// before storing it: if keep fails nothing is stored, so no principal
// exists whose token was lost. created is false when the store was not
// empty.
func (s *Store) Bootstrap(ctx context.Context, np NewPrincipal, enroll EnrollFunc, keep func(token string) error) (created bool, err error) {
	_, _, err = s.create(ctx, np, enroll, true, keep)
	if errors.Is(err, errNotEmpty) {
		return false, nil
	}
	return err == nil, err
}

var errNotEmpty = errors.New("auth: store is not empty")

func (s *Store) create(ctx context.Context, np NewPrincipal, enroll EnrollFunc, onlyIfEmpty bool, keep func(string) error) (Principal, string, error) {
	if err := np.Validate(); err != nil {
		return Principal{}, "", err
	}
	var passwordHash string
	if np.Password != "" {
		h, err := hashPassword(ctx, np.Password)
		if err != nil {
			return Principal{}, "", err
		}
		passwordHash = h
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	var exists bool
	var count int
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPrincipals)
		exists = b.Get([]byte(np.Name)) != nil
		count = b.Stats().KeyN
		return nil
	})
	if err != nil {
		return Principal{}, "", fmt.Errorf("auth: create: %w", err)
	}
	if onlyIfEmpty && count > 0 {
		return Principal{}, "", errNotEmpty
	}
	if exists {
		return Principal{}, "", &voucher.Error{Code: voucher.CodeAlreadyExists,
			Message: fmt.Sprintf("principal %q already exists", np.Name)}
	}
	if count >= s.maxPrincipals {
		return Principal{}, "", &voucher.Error{Code: voucher.CodeInvalidState,
			Message: fmt.Sprintf("the gateway holds its maximum of %d principals", s.maxPrincipals)}
	}
	p := Principal{Name: np.Name, Role: np.Role, AgencyID: np.AgencyID, CreatedAt: s.now().UTC().Truncate(time.Second)}
	if enroll != nil {
		if err := enroll(ctx, p.Caller()); err != nil {
			return Principal{}, "", fmt.Errorf("auth: enroll %q: %w", np.Name, err)
		}
	}
	token, hash, err := newToken()
	if err != nil {
		return Principal{}, "", err
	}
	raw, err := json.Marshal(record{Principal: p, TokenHash: hash, PasswordHash: passwordHash})
	if err != nil {
		return Principal{}, "", err
	}
	if keep != nil {
		if err := keep(token); err != nil {
			return Principal{}, "", fmt.Errorf("auth: keep the token of %q: %w", np.Name, err)
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPrincipals).Put([]byte(p.Name), raw); err != nil {
			return err
		}
		return tx.Bucket(bucketTokens).Put([]byte(hash), []byte(p.Name))
	})
	if err != nil {
		return Principal{}, "", fmt.Errorf("auth: store %q: %w", np.Name, err)
	}
	return p, token, nil
}

// Revoke ends a principal's access at once; its record stays for the audit
// trail and its name is not reused.
func (s *Store) Revoke(name string) (Principal, error) {
	if err := ValidateName(name); err != nil {
		return Principal{}, err
	}
	var rec record
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPrincipals)
		raw := b.Get([]byte(name))
		if raw == nil {
			return &voucher.Error{Code: voucher.CodeNotFound, Message: fmt.Sprintf("principal %q not found", name)}
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if rec.Revoked {
			return nil
		}
		now := s.now().UTC().Truncate(time.Second)
		rec.Revoked, rec.RevokedAt = true, &now
		out, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(name), out); err != nil {
			return err
		}
		return tx.Bucket(bucketTokens).Delete([]byte(rec.TokenHash))
	})
	if err != nil {
		var ve *voucher.Error
		if errors.As(err, &ve) {
			return Principal{}, ve
		}
		return Principal{}, fmt.Errorf("auth: revoke %q: %w", name, err)
	}
	s.mu.Lock()
	if sum, ok := decodeTokenSum(rec.TokenHash); ok {
		delete(s.cache, sum)
	}
	s.gen++
	s.mu.Unlock()
	return rec.Principal, nil
}

// Get returns one principal; ok is false when unknown.
func (s *Store) Get(name string) (p Principal, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketPrincipals).Get([]byte(name))
		if raw == nil {
			return nil
		}
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		p, ok = rec.Principal, true
		return nil
	})
	return p, ok, err
}

// List pages principals by name, starting after cursor (a name); next is
// empty on the last page.
func (s *Store) List(limit int, cursor string) (items []Principal, next string, err error) {
	if limit < 1 {
		limit = 1
	}
	items = []Principal{}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPrincipals).Cursor()
		k, v := c.First()
		if cursor != "" {
			k, v = c.Seek([]byte(cursor))
			if k != nil && bytes.Equal(k, []byte(cursor)) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(items) == limit {
				next = items[len(items)-1].Name
				return nil
			}
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			items = append(items, rec.Principal)
		}
		return nil
	})
	return items, next, err
}

// Count is the number of principals, revoked ones included.
func (s *Store) Count() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketPrincipals).Stats().KeyN
		return nil
	})
	return n, err
}
