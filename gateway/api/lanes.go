package api

import (
	"context"
	"sync"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// lanes serialises work per key (an agency id): one holder at a time per
// key, different keys in parallel. Only keys with a holder or a waiter have
// an entry, so the map is bounded by the requests in flight; each key's
// queue is bounded too. Idle lanes are kept for reuse (at most
// maxIdleLanes), so a claim of an agency with no claim in flight costs no
// new lane, channel or release closure.
type lanes struct {
	maxWaiters int

	mu   sync.Mutex
	m    map[string]*lane
	idle []*lane
}

// maxIdleLanes bounds the lanes kept for reuse.
const maxIdleLanes = 1024

type lane struct {
	key     string        // guarded by lanes.mu
	token   chan struct{} // holds one element while the lane is taken
	refs    int           // holder + waiters; guarded by lanes.mu
	release func()        // made once per lane: frees the token and drops the holder
}

func newLanes(maxWaiters int) *lanes {
	return &lanes{maxWaiters: max(maxWaiters, 1), m: map[string]*lane{}}
}

// acquire waits for key's lane and returns its release. A full queue is
// UNAVAILABLE at once; a cancelled ctx gives up the place in the queue.
func (l *lanes) acquire(ctx context.Context, key string) (release func(), err error) {
	l.mu.Lock()
	ln := l.m[key]
	if ln == nil {
		ln = l.newLane(key)
		l.m[key] = ln
	}
	if ln.refs > l.maxWaiters {
		l.mu.Unlock()
		return nil, Errorf(CodeUnavailable, "too many requests are queued for %s; retry later", key)
	}
	ln.refs++
	l.mu.Unlock()

	select {
	case ln.token <- struct{}{}:
		return ln.release, nil
	case <-ctx.Done():
		l.drop(ln)
		return nil, &voucher.Error{Code: CodeUnavailable, Message: "gave up waiting for this agency's earlier claims: " + ctx.Err().Error()}
	}
}

// newLane takes an idle lane or makes one; l.mu is held.
func (l *lanes) newLane(key string) *lane {
	if n := len(l.idle); n > 0 {
		ln := l.idle[n-1]
		l.idle[n-1] = nil
		l.idle = l.idle[:n-1]
		ln.key = key
		return ln
	}
	ln := &lane{key: key, token: make(chan struct{}, 1)}
	ln.release = func() {
		<-ln.token
		l.drop(ln)
	}
	return ln
}

// drop removes one holder or waiter; the last one retires the lane, whose
// token is then free, so it can serve another key.
func (l *lanes) drop(ln *lane) {
	l.mu.Lock()
	ln.refs--
	if ln.refs == 0 {
		delete(l.m, ln.key)
		if len(l.idle) < maxIdleLanes {
			l.idle = append(l.idle, ln)
		}
	}
	l.mu.Unlock()
}

// size is the number of keys with a holder or waiter (for tests).
func (l *lanes) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
