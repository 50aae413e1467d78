package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// Session defaults: short-lived, as a browser on a shared office PC may be
// left signed in.
const (
	DefaultSessionIdle   = 30 * time.Minute
	DefaultSessionMaxAge = 8 * time.Hour
	// DefaultMaxSessions bounds the sessions held at once.
	DefaultMaxSessions = 10_000
	// DefaultMaxSessionsPerPrincipal bounds one principal's sessions; a
	// new one beyond it ends that principal's least recently used.
	DefaultMaxSessionsPerPrincipal = 10
)

// Session is a signed-in browser's session as the gateway holds it. It
// never carries the session id; the id's SHA-256 is the key it is kept
// under, so the sessions in memory cannot be replayed from a dump.
type Session struct {
	Name      string
	CreatedAt time.Time
	LastSeen  time.Time
	// ExpiresAt is the absolute end, whatever the activity.
	ExpiresAt time.Time
}

// IdleExpiresAt is when the session ends without further use.
func (s Session) idleExpiresAt(idle time.Duration) time.Time { return s.LastSeen.Add(idle) }

// Sessions holds the web console's sessions in memory: a restart signs
// everyone out, which for 30-minute sessions is the simple and safe choice
// (docs/adr/0006-web-console.md). It is safe for concurrent use.
type Sessions struct {
	idle, maxAge time.Duration
	limit        int
	perPrincipal int
	now          func() time.Time
	// csrfKey derives each session's CSRF token from its id, so the token
	// is never stored and can be shown again to the holder of the cookie.
	csrfKey [32]byte

	mu     sync.Mutex
	byHash map[string]*Session
}

// SessionOption configures Sessions.
type SessionOption func(*Sessions)

// WithSessionTimeouts sets the idle timeout and the absolute lifetime.
func WithSessionTimeouts(idle, maxAge time.Duration) SessionOption {
	return func(s *Sessions) { s.idle, s.maxAge = max(idle, time.Second), max(maxAge, time.Second) }
}

// WithSessionLimits bounds the sessions held at once and per principal.
func WithSessionLimits(total, perPrincipal int) SessionOption {
	return func(s *Sessions) { s.limit, s.perPrincipal = max(total, 1), max(perPrincipal, 1) }
}

// WithSessionClock sets the clock (tests).
func WithSessionClock(now func() time.Time) SessionOption { return func(s *Sessions) { s.now = now } }

// NewSessions returns an empty session table.
func NewSessions(opts ...SessionOption) *Sessions {
	s := &Sessions{
		idle: DefaultSessionIdle, maxAge: DefaultSessionMaxAge,
		limit: DefaultMaxSessions, perPrincipal: DefaultMaxSessionsPerPrincipal,
		now: time.Now, byHash: map[string]*Session{},
	}
	for _, o := range opts {
		o(s)
	}
	if _, err := rand.Read(s.csrfKey[:]); err != nil {
		panic(fmt.Sprintf("auth: session key: %v", err))
	}
	return s
}

// Idle is the idle timeout.
func (s *Sessions) Idle() time.Duration { return s.idle }

// MaxAge is the absolute lifetime.
func (s *Sessions) MaxAge() time.Duration { return s.maxAge }

// Start opens a session for the principal name and returns its id (the
// cookie's value, 32 random bytes in base64url) and the session.
func (s *Sessions) Start(name string) (id string, sess Session, err error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Session{}, fmt.Errorf("session id: %w", err)
	}
	id = base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	sess = Session{Name: name, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.maxAge)}

	s.mu.Lock()
	defer s.mu.Unlock()
	// Make room: drop the expired, then this principal's least recently
	// used beyond its bound, then anyone's least recently used.
	if len(s.byHash) >= s.limit {
		s.sweepLocked(now)
	}
	var mine []string
	for h, o := range s.byHash {
		if o.Name == name {
			mine = append(mine, h)
		}
	}
	for len(mine) >= s.perPrincipal {
		i := s.lruLocked(mine)
		delete(s.byHash, mine[i])
		mine = append(mine[:i], mine[i+1:]...)
	}
	if len(s.byHash) >= s.limit {
		all := make([]string, 0, len(s.byHash))
		for h := range s.byHash {
			all = append(all, h)
		}
		delete(s.byHash, all[s.lruLocked(all)])
	}
	stored := sess
	s.byHash[HashToken(id)] = &stored
	return id, sess, nil
}

// lruLocked is the index in hashes of the least recently seen session.
func (s *Sessions) lruLocked(hashes []string) int {
	oldest := 0
	for i, h := range hashes {
		if s.byHash[h].LastSeen.Before(s.byHash[hashes[oldest]].LastSeen) {
			oldest = i
		}
	}
	return oldest
}

func (s *Sessions) sweepLocked(now time.Time) {
	for h, o := range s.byHash {
		if s.expired(o, now) {
			delete(s.byHash, h)
		}
	}
}

func (s *Sessions) expired(o *Session, now time.Time) bool {
	return !now.Before(o.ExpiresAt) || !now.Before(o.idleExpiresAt(s.idle))
}

// Lookup finds the live session of id and marks it used now; an expired
// one is ended. ok is false for an unknown, malformed or expired id.
func (s *Sessions) Lookup(id string) (sess Session, ok bool) {
	if !wellFormedToken(id) {
		return Session{}, false
	}
	h := HashToken(id)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, found := s.byHash[h]
	if !found {
		return Session{}, false
	}
	if s.expired(o, now) {
		delete(s.byHash, h)
		return Session{}, false
	}
	o.LastSeen = now
	return *o, true
}

// IdleExpiresAt is when sess ends if unused from now on: its last use plus
// the idle timeout, or its absolute end if that comes first.
func (s *Sessions) IdleExpiresAt(sess Session) time.Time {
	t := sess.idleExpiresAt(s.idle)
	if sess.ExpiresAt.Before(t) {
		return sess.ExpiresAt
	}
	return t
}

// End ends the session of id; it reports whether there was one.
func (s *Sessions) End(id string) bool {
	h := HashToken(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, found := s.byHash[h]
	delete(s.byHash, h)
	return found
}

// EndAll ends every session of the principal name except the one of
// keepID (empty: none kept), e.g. after its password changed or it was
// revoked. It returns how many ended.
func (s *Sessions) EndAll(name, keepID string) int {
	keep := ""
	if keepID != "" {
		keep = HashToken(keepID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, o := range s.byHash {
		if o.Name == name && h != keep {
			delete(s.byHash, h)
			n++
		}
	}
	return n
}

// Len is the number of sessions held, expired ones not yet swept included.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byHash)
}

// CSRFToken is the anti-forgery token of the session id: an HMAC of the id
// under a key of this process. The console sends it back as X-CSRF-Token
// with every change; a page on another site knows neither.
func (s *Sessions) CSRFToken(id string) string {
	m := hmac.New(sha256.New, s.csrfKey[:])
	m.Write([]byte("hongshan-csrf\x00"))
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether token is the CSRF token of session id,
// comparing in constant time.
func (s *Sessions) CheckCSRF(id, token string) bool {
	want := s.CSRFToken(id)
	return len(token) == len(want) && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}
