package projection

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// fakeBackend serves blocks from a slice. Blocks queues every block from
// `from` on a buffered channel before returning, then either ends the
// stream with streamErr or, when live, waits for the context; more blocks
// can be pushed while live.
type fakeBackend struct {
	backend.Backend // only Blocks is used; the rest would panic

	mu        sync.Mutex
	blocks    []backend.Block
	streamErr error
	live      bool
	froms     []uint64
	push      chan backend.Block
}

func (f *fakeBackend) Blocks(ctx context.Context, from uint64) (<-chan backend.Block, func() error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.froms = append(f.froms, from)
	out := make(chan backend.Block, len(f.blocks)+1)
	for _, b := range f.blocks {
		if b.Number >= from {
			out <- b
		}
	}
	if !f.live {
		err := f.streamErr
		close(out)
		return out, func() error { return err }
	}
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-f.push:
				select {
				case out <- b:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, func() error { return nil }
}

func TestFollowAppliesQueuedBlocksInOneCommit(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	fb := &fakeBackend{blocks: sc.c.blocks}
	err := s.Follow(context.Background(), fb)
	if !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("Follow on a stream that closed without error = %v, want ErrStreamEnded", err)
	}
	if s.Next() != uint64(len(sc.c.blocks)) {
		t.Fatalf("Next = %d, want %d", s.Next(), len(sc.c.blocks))
	}
	if got := s.commits.Load(); got != 1 {
		t.Fatalf("%d queued blocks took %d commits, want 1", len(sc.c.blocks), got)
	}
	if fb.froms[0] != 0 {
		t.Fatalf("Follow on an empty store asked from %d", fb.froms[0])
	}
}

func TestFollowReturnsTheStreamError(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	boom := errors.New("peer gone")
	fb := &fakeBackend{blocks: sc.c.blocks[:3], streamErr: boom}
	if err := s.Follow(context.Background(), fb); !errors.Is(err, boom) {
		t.Fatalf("Follow = %v, want the stream's error", err)
	}
	if s.Next() != 3 {
		t.Fatalf("blocks before the error were not applied: Next = %d", s.Next())
	}
}

func TestFollowResumesAndChecksTheCheckpointHash(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks[:3]...)

	// Resume: asks again for the last applied block, checks it, goes on.
	fb := &fakeBackend{blocks: sc.c.blocks}
	if err := s.Follow(context.Background(), fb); !errors.Is(err, ErrStreamEnded) {
		t.Fatal(err)
	}
	if fb.froms[0] != 2 || s.Next() != 6 {
		t.Fatalf("resume asked from %d, reached %d; want 2 and 6", fb.froms[0], s.Next())
	}

	// Another ledger behind the same read model: refused.
	other := append([]backend.Block(nil), sc.c.blocks...)
	other[5].Hash = "not-h5"
	other = append(other, backend.Block{Number: 6, Hash: "h6"})
	if err := s.Follow(context.Background(), &fakeBackend{blocks: other}); !errors.Is(err, ErrDiverged) {
		t.Fatalf("Follow on another ledger = %v, want ErrDiverged", err)
	}
	if s.Next() != 6 {
		t.Fatalf("a diverged ledger's block was applied: Next = %d", s.Next())
	}
}

func TestFollowLiveUntilTheContextEnds(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	fb := &fakeBackend{blocks: sc.c.blocks[:2], live: true, push: make(chan backend.Block)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Follow(ctx, fb) }()

	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := s.WaitFor(wait, 1); err != nil {
		t.Fatal(err)
	}
	for _, b := range sc.c.blocks[2:] {
		fb.push <- b
		if err := s.WaitFor(wait, b.Number); err != nil {
			t.Fatalf("WaitFor(%d): %v", b.Number, err)
		}
	}
	if _, ok, _ := s.Voucher(sc.va1.ID); !ok {
		t.Fatal("pushed blocks were not applied")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow after cancel = %v, want nil", err)
	}
}

func TestFollowStopsOnAGap(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	holed := append(append([]backend.Block(nil), sc.c.blocks[:2]...), sc.c.blocks[3:]...)
	if err := s.Follow(context.Background(), &fakeBackend{blocks: holed}); !errors.Is(err, ErrGap) {
		t.Fatalf("Follow over a gap = %v, want ErrGap", err)
	}
}

// TestReleasingTheMapKeepsDataIntact releases the memory map after every
// record and every event, with readers and a writer running at once.
func TestReleasingTheMapKeepsDataIntact(t *testing.T) {
	oldMin, oldRecords, oldEvents, oldCommits := releaseMinBytes, releaseEveryRecords, releaseEveryEvents, releaseEveryCommits
	releaseMinBytes, releaseEveryRecords, releaseEveryEvents, releaseEveryCommits = 0, 1, 1, 1
	defer func() {
		releaseMinBytes, releaseEveryRecords, releaseEveryEvents, releaseEveryCommits = oldMin, oldRecords, oldEvents, oldCommits
	}()
	s, _ := openTemp(t)
	want, c := populateChain(t, s)
	done := make(chan error, 1)
	go func() {
		// A writer moving on while the readers scan.
		for i := 0; i < 20; i++ {
			if err := s.Apply(c.block(agencyEvent(agencyID(100+i), "later"))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 5; i++ {
		n := 0
		err := s.View(func(snap Snapshot) error {
			return snap.ForEachVoucher(func(v voucher.Voucher) error {
				if v != want[v.ID] {
					t.Errorf("ForEachVoucher read %+v, stored %+v", v, want[v.ID])
				}
				n++
				return nil
			})
		})
		if err != nil || n != len(want) {
			t.Fatalf("scan %d: %d vouchers, %v", i, n, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkEveryCombination(t, s, want, []int{50})
}
