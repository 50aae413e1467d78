package api

import (
	"context"
	"sync"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// lanes serialises work per key (an agency id): one holder at a time per
// key, different keys in parallel. Only keys with a holder or a waiter have
// an entry, so the map is bounded by the requests in flight; each key's
// queue is bounded too.
type lanes struct {
	maxWaiters int

	mu sync.Mutex
	m  map[string]*lane
}

type lane struct {
	token chan struct{} // holds one element while the lane is taken
	refs  int           // holder + waiters
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
		ln = &lane{token: make(chan struct{}, 1)}
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
		return func() {
			<-ln.token
			l.drop(key, ln)
		}, nil
	case <-ctx.Done():
		l.drop(key, ln)
		return nil, &voucher.Error{Code: CodeUnavailable, Message: "gave up waiting for this agency's earlier claims: " + ctx.Err().Error()}
	}
}

func (l *lanes) drop(key string, ln *lane) {
	l.mu.Lock()
	ln.refs--
	if ln.refs == 0 {
		delete(l.m, key)
	}
	l.mu.Unlock()
}

// size is the number of keys with a holder or waiter (for tests).
func (l *lanes) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
