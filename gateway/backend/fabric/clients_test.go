package fabric

import (
	"fmt"
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
		v, done, err := c.acquire(key, func() (any, fab.ClientContext, error) {
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
	if _, _, err := c.acquire("x", func() (any, fab.ClientContext, error) { return nil, nil, fmt.Errorf("no wallet") }); err == nil {
		t.Fatal("error swallowed")
	}
	if c.len() != 0 {
		t.Error("failed build cached")
	}
}
