package fabric

import (
	"container/list"
	"context"
	"sync"

	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// clientCache keeps one channel client per principal, least recently used
// first out. A client in use is never closed under its user: eviction skips
// it, and the cache may then briefly hold more than its bound.
type clientCache struct {
	mu    sync.Mutex
	max   int
	byKey map[string]*list.Element
	lru   *list.List // front: most recently used
	// building holds a channel per key being built, closed when done.
	building map[string]chan struct{}
	release  func(fab.ClientContext)
}

// cachedClient is what the cache holds for one principal.
type cachedClient struct {
	key   string
	value any               // the principal's channel client
	ctx   fab.ClientContext // released when evicted (SDK caches per identity)
	inUse int
	// removed: out of the cache while in use; released by its last user.
	removed bool
}

func newClientCache(max int, release func(fab.ClientContext)) *clientCache {
	return &clientCache{max: max, byKey: map[string]*list.Element{}, lru: list.New(), building: map[string]chan struct{}{}, release: release}
}

// clientKey names a principal as the ledger sees it: a principal whose role
// or agency differs is another identity.
func clientKey(c backend.Caller) string {
	return string(c.Role) + "|" + c.AgencyID + "|" + c.Name
}

// acquire returns the cached client for key, or builds one with create, and
// marks it in use until the returned done is called. Only one caller builds
// a given key at a time; the others wait for it (or for ctx). Two clients
// of one identity must never coexist: the SDK keys its caches by identity,
// so releasing a duplicate would close the survivor's caches too.
func (c *clientCache) acquire(ctx context.Context, key string, create func() (any, fab.ClientContext, error)) (value any, done func(), err error) {
	for {
		c.mu.Lock()
		if el, ok := c.byKey[key]; ok {
			cc := el.Value.(*cachedClient)
			cc.inUse++
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return cc.value, c.doneFunc(cc), nil
		}
		building, ok := c.building[key]
		if !ok {
			break // with c.mu held: this caller builds
		}
		c.mu.Unlock()
		select {
		case <-building:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	ready := make(chan struct{})
	c.building[key] = ready
	c.mu.Unlock()

	// Build outside the lock: it may talk to the network.
	v, sdkCtx, err := create()
	c.mu.Lock()
	delete(c.building, key)
	close(ready)
	if err != nil {
		c.mu.Unlock()
		return nil, nil, err
	}
	cc := &cachedClient{key: key, value: v, ctx: sdkCtx, inUse: 1}
	c.byKey[key] = c.lru.PushFront(cc)
	evicted := c.evictLocked()
	c.mu.Unlock()
	c.releaseAll(evicted)
	return v, c.doneFunc(cc), nil
}

func (c *clientCache) doneFunc(cc *cachedClient) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			cc.inUse--
			evicted := c.evictLocked()
			if cc.removed && cc.inUse == 0 {
				evicted = append(evicted, cc)
			}
			c.mu.Unlock()
			c.releaseAll(evicted)
		})
	}
}

// evictLocked removes idle entries from the back while over the bound.
func (c *clientCache) evictLocked() []*cachedClient {
	var out []*cachedClient
	for el := c.lru.Back(); el != nil && c.lru.Len() > c.max; {
		prev := el.Prev()
		cc := el.Value.(*cachedClient)
		if cc.inUse == 0 {
			c.lru.Remove(el)
			delete(c.byKey, cc.key)
			out = append(out, cc)
		}
		el = prev
	}
	return out
}

// remove drops key (after a re-enrolment); a client in use is released
// when its last user is done.
func (c *clientCache) remove(key string) {
	c.mu.Lock()
	el, ok := c.byKey[key]
	var evicted []*cachedClient
	if ok {
		cc := el.Value.(*cachedClient)
		c.lru.Remove(el)
		delete(c.byKey, key)
		if cc.inUse == 0 {
			evicted = append(evicted, cc)
		} else {
			cc.removed = true
		}
	}
	c.mu.Unlock()
	c.releaseAll(evicted)
}

func (c *clientCache) closeAll() {
	c.mu.Lock()
	var all []*cachedClient
	for _, el := range c.byKey {
		all = append(all, el.Value.(*cachedClient))
	}
	c.byKey = map[string]*list.Element{}
	c.lru.Init()
	c.mu.Unlock()
	c.releaseAll(all)
}

func (c *clientCache) releaseAll(ccs []*cachedClient) {
	if c.release == nil {
		return
	}
	for _, cc := range ccs {
		if cc.ctx != nil {
			c.release(cc.ctx)
		}
	}
}

// len is the number of cached clients.
func (c *clientCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
