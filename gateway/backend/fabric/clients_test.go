package fabric

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
)

// fakeCtx stands for an SDK client context in cache tests: only its
// identity matters, as the release callback's argument.
type fakeCtx struct {
	fab.ClientContext
	name string
}

func TestClientCacheBoundAndInUse(t *testing.T) {
	var mu sync.Mutex
	var released []string
	c := newClientCache(2, func(ctx fab.ClientContext) {
		mu.Lock()
		released = append(released, ctx.(*fakeCtx).name)
		mu.Unlock()
	})
	builds := 0
	get := func(key string) func() {
		t.Helper()
		v, done, err := c.acquire(context.Background(), key, func() (any, fab.ClientContext, error) {
			builds++
			return "client-" + key, &fakeCtx{name: key}, nil
		})
		if err != nil || v != "client-"+key {
			t.Fatalf("acquire %s: %v %v", key, v, err)
		}
		return done
	}

	get("a")()
	get("b")()
	get("a")() // a is now most recently used
	if builds != 2 {
		t.Fatalf("cache hit rebuilt: %d builds", builds)
	}
	get("c")() // evicts b, the least recently used
	if c.len() != 2 || len(released) != 1 || released[0] != "b" {
		t.Fatalf("after c: len %d released %v", c.len(), released)
	}

	// A client in use survives eviction until its user is done.
	doneA := get("a")
	get("d")() // over the bound: c is idle and goes, a is in use and stays
	get("e")() // d goes; a still in use
	if c.len() != 2 {
		t.Errorf("len %d with one in use", c.len())
	}
	doneA()
	doneA() // done is idempotent
	if c.len() > 2 {
		t.Errorf("len %d after release", c.len())
	}

	// remove while in use: released by the last user, exactly once.
	doneE := get("e")
	c.remove("no-such-key")
	c.remove("e")
	before := len(released)
	doneE()
	if len(released) != before+1 || released[len(released)-1] != "e" {
		t.Errorf("removed in-use client: released %v", released)
	}
	c.closeAll()
	if c.len() != 0 {
		t.Errorf("closeAll left %d", c.len())
	}
}

func TestClientCacheBuildError(t *testing.T) {
	c := newClientCache(1, nil)
	if _, _, err := c.acquire(context.Background(), "x", func() (any, fab.ClientContext, error) { return nil, nil, fmt.Errorf("no wallet") }); err == nil {
		t.Fatal("error swallowed")
	}
	if c.len() != 0 {
		t.Error("failed build cached")
	}
}

// TestClientCacheBuildsOnce: concurrent first requests of one principal
// build one client, and nothing is released (a released duplicate would
// close the shared SDK caches of that identity).
func TestClientCacheBuildsOnce(t *testing.T) {
	var mu sync.Mutex
	builds, releases := 0, 0
	c := newClientCache(4, func(fab.ClientContext) { mu.Lock(); releases++; mu.Unlock() })
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, done, err := c.acquire(context.Background(), "alice", func() (any, fab.ClientContext, error) {
				mu.Lock()
				builds++
				mu.Unlock()
				<-gate // hold the build so the others pile up behind it
				return "client", &fakeCtx{name: "alice"}, nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			done()
		}()
	}
	close(gate)
	wg.Wait()
	if builds != 1 || releases != 0 || c.len() != 1 {
		t.Errorf("builds %d, releases %d, cached %d", builds, releases, c.len())
	}

	// A waiter gives up with its context; a failed build lets the next try.
	block := make(chan struct{})
	go func() {
		_, _, _ = c.acquire(context.Background(), "bob", func() (any, fab.ClientContext, error) {
			<-block
			return nil, nil, fmt.Errorf("CA down")
		})
	}()
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error)
	go func() {
		for {
			c.mu.Lock()
			_, building := c.building["bob"]
			c.mu.Unlock()
			if building {
				break
			}
			runtime.Gosched()
		}
		_, _, err := c.acquire(ctx, "bob", func() (any, fab.ClientContext, error) { return "bob", nil, nil })
		waiting <- err
	}()
	cancel()
	if err := <-waiting; err == nil {
		// It may have won after the failed build only if block was closed: it was not.
		t.Error("waiter ignored its context")
	}
	close(block)
	v, done, err := c.acquire(context.Background(), "bob", func() (any, fab.ClientContext, error) { return "bob", nil, nil })
	if err != nil || v != "bob" {
		t.Errorf("after a failed build: %v %v", v, err)
	} else {
		done()
	}
}
