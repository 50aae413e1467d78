package report

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
)

// helper is a second read transaction at the report's block height, run
// on another goroutine (the second core): it builds the service record
// table while the report's own transaction builds the certification
// table, then stays open so that the voucher checks can make their point
// reads in it while the report's transaction decodes vouchers. A bbolt
// transaction is used by one goroutine at a time: the helper's goroutine
// is parked while the checks use it.
//
// The report never waits for the helper to begin its transaction: bbolt
// blocks a new read transaction while a writer waits to grow the memory
// map, and the writer waits for the report's own transaction to end. When
// the report needs the helper and it has not begun, the report abandons it
// and works alone; the helper, once it gets its transaction, sees that and
// ends it at once.
type helper struct {
	mu       sync.Mutex
	state    int           // helperPending, helperStarted, helperAbandoned
	ready    chan struct{} // closed once services or err is set, or the helper gives up
	release  chan struct{}
	done     chan error
	once     sync.Once
	stopErr  error
	services *joinTable
	lookup   projection.Lookup
	err      error
}

const (
	helperPending = iota
	helperStarted
	helperAbandoned
)

func startHelper(view ViewFunc, seed maphash.Seed, height uint64, head string) *helper {
	h := &helper{ready: make(chan struct{}), release: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		var readyOnce sync.Once
		ready := func() { readyOnce.Do(func() { close(h.ready) }) }
		err := view(func(snap projection.Snapshot) error {
			defer ready()
			h.mu.Lock()
			if h.state == helperAbandoned {
				h.mu.Unlock()
				return nil
			}
			h.state = helperStarted
			h.mu.Unlock()
			if ht, hh := snap.Head(); ht != height || hh != head {
				return nil // another height: the report works alone
			}
			l, ok := snap.(projection.Lookup)
			if !ok {
				return nil
			}
			svc, err := buildServiceTable(snap, seed)
			if err != nil {
				h.err = err
				return nil
			}
			h.services, h.lookup = svc, l
			ready()
			<-h.release
			return nil
		})
		ready()
		h.done <- err
	}()
	return h
}

// join returns whether the helper has begun its transaction, and then
// waits for its table; otherwise it abandons the helper.
func (h *helper) join() bool {
	h.mu.Lock()
	if h.state == helperPending {
		h.state = helperAbandoned
	}
	started := h.state == helperStarted
	h.mu.Unlock()
	if started {
		<-h.ready
	}
	return started
}

// stop releases the helper's transaction and returns its error; it may be
// called more than once. An abandoned helper is not waited for.
func (h *helper) stop() error {
	h.once.Do(func() {
		close(h.release)
		h.mu.Lock()
		abandoned := h.state != helperStarted
		h.state = helperAbandoned
		h.mu.Unlock()
		if !abandoned {
			h.stopErr = <-h.done
		}
	})
	return h.stopErr
}

// buildJoins builds the certification table in the report's transaction
// and takes the service record table from the helper when there is one.
func (b *builder) buildJoins(seed maphash.Seed, h *helper) error {
	certs, err := buildCertTable(b.snap, seed)
	if err != nil {
		return err
	}
	b.joins = &joins{certs: certs}
	if h != nil && h.join() {
		if h.err != nil {
			return h.err
		}
		b.joins.services = h.services
	}
	if b.joins.services == nil {
		if b.joins.services, err = buildServiceTable(b.snap, seed); err != nil {
			return err
		}
	}
	return nil
}

// Pipeline bounds: vouchers a batch holds, and batches in flight.
const (
	batchVouchers = 256
	batchesLive   = 4
)

var errPipelineStopped = errors.New("report: voucher checks stopped")

// scanPipelined decodes vouchers in the report's transaction on this
// goroutine and checks them on another, batch by batch, with a bounded
// number of batches in flight.
func (b *builder) scanPipelined(ctx context.Context) error {
	batches := make(chan []voucher.Voucher, batchesLive-2)
	free := make(chan []voucher.Voucher, batchesLive)
	for i := 0; i < batchesLive; i++ {
		free <- make([]voucher.Voucher, 0, batchVouchers)
	}
	stop := make(chan struct{})
	var checkErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for batch := range batches {
			if checkErr == nil {
				for i := range batch {
					if err := b.voucher(batch[i]); err != nil {
						checkErr = err
						close(stop)
						break
					}
				}
			}
			clear(batch)
			free <- batch[:0]
		}
	}()
	send := func(batch []voucher.Voucher) error {
		select {
		case batches <- batch:
			return nil
		case <-stop:
			return errPipelineStopped
		}
	}
	cur := <-free
	n := 0
	err := b.snap.ForEachVoucher(func(v voucher.Voucher) error {
		if n++; n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		cur = append(cur, v)
		if len(cur) < batchVouchers {
			return nil
		}
		if err := send(cur); err != nil {
			return err
		}
		select {
		case cur = <-free:
			return nil
		case <-stop:
			return errPipelineStopped
		}
	})
	if err == nil && len(cur) > 0 {
		err = send(cur)
	}
	close(batches)
	wg.Wait()
	if checkErr != nil {
		return checkErr
	}
	return err
}
