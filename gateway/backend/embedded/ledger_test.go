package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

func TestGenesisAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	info, _ := l.Info(context.Background())
	if info.Height != 1 || len(info.HeadHash) != 64 {
		t.Fatalf("new ledger: %+v, want height 1 and a hash", info)
	}
	blocks := allBlocks(t, l)
	if len(blocks) != 1 || blocks[0].Number != 0 || len(blocks[0].Txs) != 0 || blocks[0].Hash != info.HeadHash {
		t.Fatalf("genesis: %+v", blocks)
	}
	r := put(t, l, "a", "1")
	if r.BlockNumber != 1 || len(r.TxID) != 64 {
		t.Fatalf("receipt %+v", r)
	}
	info, _ = l.Info(context.Background())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	again, _ := l.Info(context.Background())
	if again != info {
		t.Fatalf("after reopen %+v, before %+v", again, info)
	}
	if got := get(t, l, "a"); got != "1" {
		t.Fatalf("a = %q", got)
	}
	if r2 := put(t, l, "b", "2"); r2.BlockNumber != 2 {
		t.Fatalf("next block %d, want 2", r2.BlockNumber)
	}
}

func TestSubmitAndEvaluateRefuseTheOtherKind(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if _, err := l.Submit(ctx, tester, "Get", mustJSON(testArg{K: "a"})); codeOf(err) != voucher.CodeInvalidArgument {
		t.Fatalf("submit of a read-only function: %v", err)
	}
	if _, err := l.Evaluate(ctx, tester, "Put", mustJSON(testArg{K: "a", V: "1"})); codeOf(err) != voucher.CodeInvalidArgument {
		t.Fatalf("evaluate of a write: %v", err)
	}
	big := make([]byte, voucher.MaxArgBytes+1)
	if _, err := l.Submit(ctx, tester, "Put", big); codeOf(err) != voucher.CodeInvalidArgument {
		t.Fatalf("oversized argument: %v", err)
	}
	if info, _ := l.Info(ctx); info.Height != 1 {
		t.Fatalf("refusals wrote blocks: height %d", info.Height)
	}
}

// TestGroupCommitConcurrent: every acknowledged transaction is in exactly one
// block, the one its receipt names, and blocks are numbered without gaps.
func TestGroupCommitConcurrent(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	const n = 200
	receipts := make([]backend.Receipt, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: fmt.Sprintf("k%03d", i), V: fmt.Sprint(i)}))
			if err != nil {
				errs <- err
				return
			}
			receipts[i] = r
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("submit: %v", err)
	}
	blocks := allBlocks(t, l)
	where := map[string]uint64{}
	for i, b := range blocks {
		if b.Number != uint64(i) {
			t.Fatalf("block %d at position %d", b.Number, i)
		}
		for _, tx := range b.Txs {
			if _, dup := where[tx.TxID]; dup {
				t.Fatalf("tx %s in two blocks", tx.TxID)
			}
			if !tx.Valid || len(tx.Event) == 0 {
				t.Fatalf("tx %s: valid %v event %q", tx.TxID, tx.Valid, tx.Event)
			}
			where[tx.TxID] = b.Number
		}
	}
	if len(where) != n {
		t.Fatalf("%d transactions in blocks, want %d", len(where), n)
	}
	for i, r := range receipts {
		if where[r.TxID] != r.BlockNumber {
			t.Fatalf("tx %d (%s): receipt names block %d, found in %d", i, r.TxID, r.BlockNumber, where[r.TxID])
		}
		if got := get(t, l, fmt.Sprintf("k%03d", i)); got != fmt.Sprint(i) {
			t.Fatalf("k%03d = %q", i, got)
		}
	}
	t.Logf("%d transactions in %d blocks", n, len(blocks)-1)
}

// TestQueuedTransactionsShareOneBlock holds the committer inside one
// transaction while others queue, then checks they commit as one block.
func TestQueuedTransactionsShareOneBlock(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	held, release := hold("gate")
	first := make(chan error, 1)
	go func() {
		_, err := l.Submit(context.Background(), tester, "Hold", mustJSON(testArg{K: "gate", V: "x"}))
		first <- err
	}()
	<-held
	const n = 50
	var wg sync.WaitGroup
	blocks := make([]uint64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: fmt.Sprint("q", i), V: "v"}))
			if err != nil {
				t.Errorf("submit: %v", err)
			}
			blocks[i] = r.BlockNumber
		}()
	}
	eventually(t, "50 queued transactions", func() bool { return len(l.queue) == n })
	release()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		if b != 2 {
			t.Fatalf("queued tx %d committed in block %d, want all in block 2", i, b)
		}
	}
}

// TestRejectedTransactionMidBatch: a rejection in the middle of a batch
// leaves none of its writes; the others of the batch commit.
func TestRejectedTransactionMidBatch(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	held, release := hold("gate")
	done := make(chan error, 1)
	go func() {
		_, err := l.Submit(context.Background(), tester, "Hold", mustJSON(testArg{K: "gate", V: "x"}))
		done <- err
	}()
	<-held
	type out struct {
		r   backend.Receipt
		err error
	}
	submit := func(fn, k string) <-chan out {
		ch := make(chan out, 1)
		go func() {
			r, err := l.Submit(context.Background(), tester, fn, mustJSON(testArg{K: k, V: "v-" + k}))
			ch <- out{r, err}
		}()
		return ch
	}
	a := submit("Put", "a")
	eventually(t, "a queued", func() bool { return len(l.queue) == 1 })
	b := submit("Fail", "b")
	eventually(t, "b queued", func() bool { return len(l.queue) == 2 })
	p := submit("Panic", "p")
	eventually(t, "p queued", func() bool { return len(l.queue) == 3 })
	c := submit("Put", "c")
	eventually(t, "c queued", func() bool { return len(l.queue) == 4 })
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ra, rb, rp, rc := <-a, <-b, <-p, <-c
	if ra.err != nil || rc.err != nil {
		t.Fatalf("a: %v, c: %v", ra.err, rc.err)
	}
	if codeOf(rb.err) != voucher.CodeInvalidState {
		t.Fatalf("b: %v, want INVALID_STATE", rb.err)
	}
	if codeOf(rp.err) != voucher.CodeInternal {
		t.Fatalf("panic: %v, want INTERNAL", rp.err)
	}
	if ra.r.BlockNumber != 2 || rc.r.BlockNumber != 2 {
		t.Fatalf("a in %d, c in %d, want both in block 2", ra.r.BlockNumber, rc.r.BlockNumber)
	}
	if got := get(t, l, "b"); got != "" {
		t.Fatalf("rejected write visible: b = %q", got)
	}
	if got := get(t, l, "c"); got != "v-c" {
		t.Fatalf("c = %q", got)
	}
	blocks := allBlocks(t, l)
	if len(blocks) != 3 || len(blocks[2].Txs) != 2 {
		t.Fatalf("block 2 holds %d txs, want 2 (a and c)", len(blocks[2].Txs))
	}
	hist, err := l.Evaluate(context.Background(), tester, "History", mustJSON(testArg{K: "b"}))
	if err != nil || string(hist) != "null" {
		t.Fatalf("history of the rejected key: %s %v", hist, err)
	}
	if res, err := l.Verify(context.Background(), nil); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

// TestCapStaysExact: 40 concurrent increments of a counter limited to 20.
func TestCapStaysExact(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[voucher.Code]int{}
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Submit(context.Background(), tester, "Incr", mustJSON(testArg{K: "cap", Limit: 20}))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				codes["OK"]++
			} else {
				codes[codeOf(err)]++
			}
		}()
	}
	wg.Wait()
	if codes["OK"] != 20 || codes[voucher.CodeCapExceeded] != 20 {
		t.Fatalf("outcomes %v, want 20 OK and 20 CAP_EXCEEDED", codes)
	}
	if got := get(t, l, "cap"); got != "20" {
		t.Fatalf("counter %q", got)
	}
}

// TestTimestampsComeFromTheLedger: the contract's clock is the timestamp the
// ledger records, strictly increasing along the chain.
func TestTimestampsComeFromTheLedger(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	before := time.Now().UTC()
	var last time.Time
	for range 5 {
		if _, err := l.Submit(context.Background(), tester, "Incr", mustJSON(testArg{K: "n", Limit: 100})); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range allBlocks(t, l)[1:] {
		for _, tx := range b.Txs {
			ts, err := time.Parse(time.RFC3339Nano, string(tx.Event))
			if err != nil {
				t.Fatalf("event %q: %v", tx.Event, err)
			}
			if ts.Before(before.Add(-time.Second)) || !ts.After(last) {
				t.Fatalf("timestamp %v after %v, test began %v", ts, last, before)
			}
			last = ts
		}
	}
	hist, err := l.Evaluate(context.Background(), tester, "History", mustJSON(testArg{K: "n"}))
	if err != nil {
		t.Fatal(err)
	}
	var entries []voucher.HistoryEntry
	if err := json.Unmarshal(hist, &entries); err != nil || len(entries) != 5 {
		t.Fatalf("history %s: %v", hist, err)
	}
	if !entries[4].Timestamp.Equal(last) || string(entries[4].Value) != "5" {
		t.Fatalf("newest history entry %+v, want value 5 at %v", entries[4], last)
	}
}

func TestBlocksCatchUpThenLive(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	var txids []string
	for i := range 5 {
		txids = append(txids, put(t, l, fmt.Sprint("k", i), "v").TxID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, errf := l.Blocks(ctx, 2)
	for want := uint64(2); want <= 5; want++ {
		b := <-ch
		if b.Number != want || len(b.Txs) != 1 || b.Txs[0].TxID != txids[want-1] {
			t.Fatalf("caught-up block %+v, want number %d", b, want)
		}
	}
	for i := 5; i < 8; i++ {
		r := put(t, l, fmt.Sprint("k", i), "v")
		b := <-ch
		if b.Number != r.BlockNumber || b.Txs[0].TxID != r.TxID {
			t.Fatalf("live block %+v, want %d with %s", b, r.BlockNumber, r.TxID)
		}
		var ev testArg
		if err := json.Unmarshal(b.Txs[0].Event, &ev); err != nil || ev.K != fmt.Sprint("k", i) {
			t.Fatalf("event %q: %v", b.Txs[0].Event, err)
		}
	}
	cancel()
	for range ch {
	}
	if err := errf(); err != nil {
		t.Fatalf("stream ended by its context reports %v", err)
	}
}

// TestLiveBlocksEqualStoredBlocks: blocks streamed live (from memory) are
// the blocks read back from disk after a restart.
func TestLiveBlocksEqualStoredBlocks(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := l.Blocks(ctx, 1)
	var live []backend.Block
	for i := range 3 * recentBlocks {
		put(t, l, fmt.Sprint("k", i), "v")
		live = append(live, <-ch)
	}
	cancel()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	stored := allBlocks(t, l)[1:]
	if !reflect.DeepEqual(live, stored) {
		t.Fatalf("live blocks differ from stored ones:\n%+v\n%+v", live[0], stored[0])
	}
}

func TestCloseEndsStreamsAndRefusesWork(t *testing.T) {
	l := openTest(t, t.TempDir())
	ch, errf := l.Blocks(context.Background(), 0)
	if b := <-ch; b.Number != 0 {
		t.Fatalf("first block %d", b.Number)
	}
	put(t, l, "a", "1")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for range ch {
	}
	if err := errf(); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("stream after close: %v", err)
	}
	if _, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: "b", V: "1"})); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("submit after close: %v", err)
	}
	if _, err := l.Evaluate(context.Background(), tester, "Get", mustJSON(testArg{K: "a"})); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("evaluate after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestCloseCommitsQueued: transactions queued when Close begins commit.
func TestCloseCommitsQueued(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	held, release := hold("gate")
	results := make(chan error, 11)
	go func() {
		_, err := l.Submit(context.Background(), tester, "Hold", mustJSON(testArg{K: "gate", V: "x"}))
		results <- err
	}()
	<-held
	for i := range 10 {
		go func() {
			_, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: fmt.Sprint("c", i), V: "v"}))
			results <- err
		}()
	}
	eventually(t, "10 queued", func() bool { return len(l.queue) == 10 })
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	eventually(t, "close begun", func() bool {
		l.closeMu.RLock()
		defer l.closeMu.RUnlock()
		return l.closed
	})
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range 11 {
		if err := <-results; err != nil {
			t.Fatalf("queued submit: %v", err)
		}
	}
	l = openTest(t, dir)
	defer l.Close()
	if got := get(t, l, "c9"); got != "v" {
		t.Fatalf("c9 = %q after reopen", got)
	}
}

// TestAbandonedSubmit: a transaction whose context ended while queued is
// skipped and reported unavailable.
func TestAbandonedSubmit(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	held, release := hold("gate")
	go func() { _, _ = l.Submit(context.Background(), tester, "Hold", mustJSON(testArg{K: "gate", V: "x"})) }()
	<-held
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Submit(ctx, tester, "Put", mustJSON(testArg{K: "gone", V: "v"}))
		errc <- err
	}()
	eventually(t, "queued", func() bool { return len(l.queue) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned submit: %v", err)
	}
	release()
	put(t, l, "after", "v")
	if got := get(t, l, "gone"); got != "" {
		t.Fatalf("abandoned transaction committed: %q", got)
	}
}

func TestCommitObserver(t *testing.T) {
	var mu sync.Mutex
	var seen []CommitStats
	l := openTest(t, t.TempDir(), WithCommitObserver(func(s CommitStats) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}))
	defer l.Close()
	put(t, l, "a", "1")
	if _, err := l.Submit(context.Background(), tester, "Fail", mustJSON(testArg{K: "b", V: "1"})); err == nil {
		t.Fatal("Fail committed")
	}
	put(t, l, "c", "1")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Block != 1 || seen[1].Block != 2 || seen[1].Txs != 1 || seen[0].Elapsed <= 0 || seen[0].Sync <= 0 {
		t.Fatalf("observed %+v", seen)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Option{WithMaxBatch(0), WithMaxBatch(1 << 20), WithQueueLen(0), WithMmapSize(-1), WithContract(nil)} {
		if _, err := Open(context.Background(), t.TempDir(), o); err == nil {
			t.Fatal("bad option accepted")
		}
	}
}
