package auth

import (
	"sync"
	"time"
)

// Throttle slows down repeated failures of one key (a principal's name, a
// client address): after Free failures each further one locks the key for
// a delay that doubles with every failure, up to a maximum. A key is
// forgotten once it has been quiet for the forget period. The table is
// bounded; it is safe for concurrent use.
type Throttle struct {
	free     int
	base     time.Duration
	maxDelay time.Duration
	forget   time.Duration
	maxKeys  int
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	count       int
	last        time.Time
	lockedUntil time.Time
}

// Throttle defaults: five free tries, then 1 s, 2 s, 4 s … up to 15 min.
const (
	DefaultThrottleFree     = 5
	DefaultThrottleBase     = time.Second
	DefaultThrottleMaxDelay = 15 * time.Minute
	DefaultThrottleForget   = time.Hour
	DefaultThrottleMaxKeys  = 10_000
)

// ThrottleOption configures a Throttle.
type ThrottleOption func(*Throttle)

// WithThrottleFree sets how many failures pass before the delays begin.
func WithThrottleFree(n int) ThrottleOption { return func(t *Throttle) { t.free = max(n, 0) } }

// WithThrottleDelays sets the first delay, the maximum delay and how long a
// quiet key is remembered.
func WithThrottleDelays(base, maxDelay, forget time.Duration) ThrottleOption {
	return func(t *Throttle) {
		t.base, t.maxDelay = max(base, time.Millisecond), max(maxDelay, base)
		t.forget = max(forget, t.maxDelay)
	}
}

// WithThrottleMaxKeys bounds the keys remembered.
func WithThrottleMaxKeys(n int) ThrottleOption { return func(t *Throttle) { t.maxKeys = max(n, 1) } }

// WithThrottleClock sets the clock (tests).
func WithThrottleClock(now func() time.Time) ThrottleOption { return func(t *Throttle) { t.now = now } }

// NewThrottle returns a Throttle with the defaults changed by opts.
func NewThrottle(opts ...ThrottleOption) *Throttle {
	t := &Throttle{
		free: DefaultThrottleFree, base: DefaultThrottleBase, maxDelay: DefaultThrottleMaxDelay,
		forget: DefaultThrottleForget, maxKeys: DefaultThrottleMaxKeys, now: time.Now,
		keys: map[string]*failures{},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Wait is how long key must wait before its next try; zero when it may
// try now.
func (t *Throttle) Wait(key string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.keys[key]
	if !ok || !now.Before(f.lockedUntil) {
		return 0
	}
	return f.lockedUntil.Sub(now)
}

// Fail records a failure of key and returns how long it is now locked.
func (t *Throttle) Fail(key string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.keys[key]
	if ok && t.forgotten(f, now) {
		ok = false
	}
	if !ok {
		t.makeRoomLocked(now)
		f = &failures{}
		t.keys[key] = f
	}
	f.count++
	f.last = now
	if over := f.count - t.free; over > 0 {
		delay := t.maxDelay
		if over <= 30 { // beyond, the doubling is past any sane maximum
			delay = min(t.base<<(over-1), t.maxDelay)
		}
		f.lockedUntil = now.Add(delay)
		return delay
	}
	return 0
}

// Reset forgets key's failures (after a success).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, key)
}

// Len is the number of keys remembered.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}

func (t *Throttle) forgotten(f *failures, now time.Time) bool {
	return !now.Before(f.lockedUntil) && now.Sub(f.last) >= t.forget
}

// makeRoomLocked keeps the table under its bound: forgotten keys go
// first, then the one whose last failure is oldest.
func (t *Throttle) makeRoomLocked(now time.Time) {
	if len(t.keys) < t.maxKeys {
		return
	}
	for k, f := range t.keys {
		if t.forgotten(f, now) {
			delete(t.keys, k)
		}
	}
	for len(t.keys) >= t.maxKeys {
		var oldestKey string
		var oldest time.Time
		for k, f := range t.keys {
			if oldestKey == "" || f.last.Before(oldest) {
				oldestKey, oldest = k, f.last
			}
		}
		delete(t.keys, oldestKey)
	}
}
