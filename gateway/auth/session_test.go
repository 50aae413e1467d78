package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2024, 11, 20, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	clock := newFakeClock()
	s := NewSessions(WithSessionClock(clock.now), WithSessionTimeouts(30*time.Minute, 8*time.Hour))
	id, sess, err := s.Start("fin")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Name != "fin" || !sess.ExpiresAt.Equal(clock.now().Add(8*time.Hour)) {
		t.Fatalf("session %+v", sess)
	}
	// Used every 29 minutes, it lives until its absolute end.
	for elapsed := time.Duration(0); elapsed+29*time.Minute < 8*time.Hour; elapsed += 29 * time.Minute {
		clock.advance(29 * time.Minute)
		if _, ok := s.Lookup(id); !ok {
			t.Fatalf("session ended after %v of steady use", elapsed+29*time.Minute)
		}
	}
	clock.advance(29 * time.Minute) // past 8 h
	if _, ok := s.Lookup(id); ok {
		t.Fatal("session outlived its absolute lifetime")
	}
	if s.Len() != 0 {
		t.Fatal("an expired session is still held after its lookup")
	}

	// Left alone for 30 minutes, it ends.
	id, _, _ = s.Start("fin")
	clock.advance(29*time.Minute + 59*time.Second)
	got, ok := s.Lookup(id)
	if !ok {
		t.Fatal("session ended before its idle timeout")
	}
	if want := clock.now().Add(30 * time.Minute); !s.IdleExpiresAt(got).Equal(want) {
		t.Fatalf("IdleExpiresAt = %v, want %v", s.IdleExpiresAt(got), want)
	}
	clock.advance(30 * time.Minute)
	if _, ok := s.Lookup(id); ok {
		t.Fatal("session outlived its idle timeout")
	}
}

func TestSessionEndAndCSRF(t *testing.T) {
	s := NewSessions()
	a, _, _ := s.Start("fin")
	b, _, _ := s.Start("fin")
	c, _, _ := s.Start("aud")
	for _, bad := range []string{"", "x", a + "x", HashToken(a)} {
		if _, ok := s.Lookup(bad); ok {
			t.Fatalf("Lookup(%q) found a session", bad)
		}
	}
	if !s.End(a) || s.End(a) {
		t.Fatal("End does not report whether a session ended")
	}
	if _, ok := s.Lookup(a); ok {
		t.Fatal("ended session still found")
	}
	d, _, _ := s.Start("fin")
	if n := s.EndAll("fin", d); n != 1 {
		t.Fatalf("EndAll ended %d, want 1 (b)", n)
	}
	if _, ok := s.Lookup(b); ok {
		t.Fatal("EndAll kept b")
	}
	if _, ok := s.Lookup(d); !ok {
		t.Fatal("EndAll ended the kept session")
	}
	if _, ok := s.Lookup(c); !ok {
		t.Fatal("EndAll ended another principal's session")
	}

	tok := s.CSRFToken(d)
	if tok == "" || tok == s.CSRFToken(c) || tok != s.CSRFToken(d) {
		t.Fatal("CSRF tokens are not per session and stable")
	}
	if !s.CheckCSRF(d, tok) || s.CheckCSRF(c, tok) || s.CheckCSRF(d, "") || s.CheckCSRF(d, tok[:10]) {
		t.Fatal("CheckCSRF accepts a wrong token or refuses the right one")
	}
	// Another process (another key) does not accept this one's tokens.
	if NewSessions().CheckCSRF(d, tok) {
		t.Fatal("CSRF token valid under another key")
	}
}

func TestSessionLimits(t *testing.T) {
	clock := newFakeClock()
	s := NewSessions(WithSessionClock(clock.now), WithSessionLimits(5, 2))
	var fin []string
	for range 3 {
		id, _, _ := s.Start("fin")
		fin = append(fin, id)
		clock.advance(time.Second)
	}
	// The principal bound (2) ended the least recently used.
	if _, ok := s.Lookup(fin[0]); ok {
		t.Fatal("the oldest session of fin survived its per-principal bound")
	}
	if _, ok := s.Lookup(fin[1]); !ok {
		t.Fatal("a session within the bound ended")
	}
	for i := range 10 {
		if _, _, err := s.Start(fmt.Sprintf("p%d", i)); err != nil {
			t.Fatal(err)
		}
		clock.advance(time.Second)
	}
	if n := s.Len(); n != 5 {
		t.Fatalf("%d sessions held, want the bound 5", n)
	}
}

func TestThrottle(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(WithThrottleClock(clock.now), WithThrottleFree(3),
		WithThrottleDelays(time.Second, 10*time.Second, time.Minute), WithThrottleMaxKeys(3))
	for i := range 3 {
		if d := th.Fail("fin"); d != 0 {
			t.Fatalf("failure %d locked for %v; the first 3 are free", i+1, d)
		}
	}
	if th.Wait("fin") != 0 {
		t.Fatal("locked after the free failures")
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if d := th.Fail("fin"); d != w {
			t.Fatalf("failure %d: locked %v, want %v", i+4, d, w)
		}
		if got := th.Wait("fin"); got != w {
			t.Fatalf("Wait = %v, want %v", got, w)
		}
		clock.advance(w)
		if th.Wait("fin") != 0 {
			t.Fatal("still locked after the delay passed")
		}
	}
	if th.Wait("aud") != 0 {
		t.Fatal("one key's failures lock another")
	}
	th.Reset("fin")
	if th.Fail("fin") != 0 {
		t.Fatal("Reset did not forget the failures")
	}
	// A quiet key is forgotten after the forget period.
	for range 4 {
		th.Fail("aud")
	}
	clock.advance(time.Minute)
	if d := th.Fail("aud"); d != 0 {
		t.Fatalf("a key quiet for the forget period still counts its failures (locked %v)", d)
	}
	// The table stays within its bound.
	for i := range 20 {
		th.Fail(fmt.Sprintf("10.0.0.%d", i))
		clock.advance(time.Millisecond)
	}
	if n := th.Len(); n > 3 {
		t.Fatalf("%d keys remembered, bound 3", n)
	}
}
