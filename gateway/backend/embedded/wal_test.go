package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/internal/unsynced"
	bolt "go.etcd.io/bbolt"
)

// Tests of the block log: torn tails, replay after a process crash, rebuild
// after an OS crash, migration, tampering, and the pipeline between
// execution and durability.

// logRecords reads a closed ledger's log: each record's offset and payload.
func logRecords(t *testing.T, dir string) (offsets []int64, recs [][]byte, end int64) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, LogFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lr := newLogReader(f, 0)
	for {
		off := lr.off
		rec, err := lr.next()
		if errors.Is(err, io.EOF) {
			return offsets, recs, lr.off
		}
		if err != nil {
			t.Fatalf("log record at %d: %v", off, err)
		}
		offsets, recs = append(offsets, off), append(recs, rec)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustVerify(t *testing.T, l *Ledger) {
	t.Helper()
	res, err := l.Verify(context.Background(), nil)
	if err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

// TestLogHoldsEveryBlock: the log's records are ledger.db's blocks, in
// order, and a clean close leaves no marker.
func TestLogHoldsEveryBlock(t *testing.T) {
	dir := buildLedger(t)
	if _, err := os.Stat(filepath.Join(dir, markerFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after a clean close: %v", err)
	}
	_, recs, _ := logRecords(t, dir)
	if len(recs) != 13 {
		t.Fatalf("%d log records, want 13", len(recs))
	}
	tamper(t, dir, func(tx *bolt.Tx) error {
		for n, rec := range recs {
			if !bytes.Equal(tx.Bucket(bucketBlocks).Get(blockKey(uint64(n))), rec) {
				return fmt.Errorf("block %d differs from its log record", n)
			}
		}
		return nil
	})
}

// TestTornTailIsCutOff: a record cut short and a record with a bad checksum
// at the end of the log (writes that never completed, never acknowledged)
// are cut off at open; the ledger keeps its height and goes on.
func TestTornTailIsCutOff(t *testing.T) {
	base := buildLedger(t)
	_, recs, end := logRecords(t, base)
	last := appendRecord(nil, recs[len(recs)-1])
	badCRC := bytes.Clone(last)
	badCRC[len(badCRC)-1] ^= 1
	for name, tail := range map[string][]byte{
		"short header":    last[:5],
		"short record":    last[:len(last)/2],
		"bad checksum":    badCRC,
		"absurd length":   binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1<<31), 7),
		"garbage":         []byte(strings.Repeat("\xff", 100)),
		"zeros then data": append(make([]byte, 8), last...),
	} {
		t.Run(name, func(t *testing.T) {
			dir := cloneLedger(t, base)
			logPath := filepath.Join(dir, LogFileName)
			appendFile(t, logPath, tail)
			l := openTest(t, dir)
			if info, _ := l.Info(context.Background()); info.Height != 13 {
				t.Fatalf("height %d after a torn tail, want 13", info.Height)
			}
			if got := fileSize(t, logPath); got != end {
				t.Fatalf("log is %d bytes after open, want the torn tail cut at %d", got, end)
			}
			if r := put(t, l, "after", "1"); r.BlockNumber != 13 {
				t.Fatalf("next block %d, want 13", r.BlockNumber)
			}
			mustVerify(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir)
			defer l.Close()
			if got := get(t, l, "after"); got != "1" {
				t.Fatalf("after = %q", got)
			}
			mustVerify(t, l)
		})
	}
}

// TestReplayAfterProcessCrash: ledger.db behind the log (a process killed
// between the log write and ledger.db's commit, or before the kernel wrote
// ledger.db's pages back — here an older copy of ledger.db) catches up by
// replaying the log's newer blocks at open.
func TestReplayAfterProcessCrash(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	put(t, l, "a", "1")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	put(t, l, "a", "2")
	if _, err := l.Submit(context.Background(), tester, "Del", mustJSON(testArg{K: "a"})); err != nil {
		t.Fatal(err)
	}
	put(t, l, "b", "3")
	for range 3 {
		if _, err := l.Submit(context.Background(), tester, "Incr", mustJSON(testArg{K: "n", Limit: 9})); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := l.Info(context.Background())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, markerFileName), append(unsynced.BootID(), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if got, _ := l.Info(context.Background()); got != want {
		t.Fatalf("after replay %+v, want %+v", got, want)
	}
	if a, b, n := get(t, l, "a"), get(t, l, "b"), get(t, l, "n"); a != "" || b != "3" || n != "3" {
		t.Fatalf("after replay a=%q b=%q n=%q", a, b, n)
	}
	mustVerify(t, l)
}

// TestRebuildAfterOSCrash: a marker left by another boot means ledger.db
// (written without fsync) may be torn: it is discarded and rebuilt from the
// log, whatever it holds. A torn record at the log's end is cut off first.
func TestRebuildAfterOSCrash(t *testing.T) {
	base := buildLedger(t)
	ref := openTest(t, cloneLedger(t, base))
	want, _ := ref.Info(context.Background())
	wantK1, wantCounter := get(t, ref, "k1"), get(t, ref, "counter")
	if err := ref.Close(); err != nil {
		t.Fatal(err)
	}
	crash := func(t *testing.T, dir string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, markerFileName), []byte("another-boot\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, FileName), bytes.Repeat([]byte("torn"), 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("whole log", func(t *testing.T) {
		dir := cloneLedger(t, base)
		crash(t, dir)
		l := openTest(t, dir)
		defer l.Close()
		if got, _ := l.Info(context.Background()); got != want {
			t.Fatalf("rebuilt %+v, want %+v", got, want)
		}
		if k1, c := get(t, l, "k1"), get(t, l, "counter"); k1 != wantK1 || c != wantCounter {
			t.Fatalf("rebuilt k1=%q counter=%q, want %q %q", k1, c, wantK1, wantCounter)
		}
		mustVerify(t, l)
		marker, err := os.ReadFile(filepath.Join(dir, markerFileName))
		if err != nil || !bytes.Equal(bytes.TrimSpace(marker), unsynced.BootID()) {
			t.Fatalf("marker %q %v, want this boot's id", marker, err)
		}
	})
	t.Run("torn last record", func(t *testing.T) {
		dir := cloneLedger(t, base)
		offsets, _, _ := logRecords(t, dir)
		logPath := filepath.Join(dir, LogFileName)
		if err := os.Truncate(logPath, offsets[12]+20); err != nil {
			t.Fatal(err)
		}
		crash(t, dir)
		l := openTest(t, dir)
		defer l.Close()
		if got, _ := l.Info(context.Background()); got.Height != 12 {
			t.Fatalf("height %d, want 12 (block 12 torn, never acknowledged)", got.Height)
		}
		if got := fileSize(t, logPath); got != offsets[12] {
			t.Fatalf("log %d bytes, want %d", got, offsets[12])
		}
		mustVerify(t, l)
		if r := put(t, l, "again", "1"); r.BlockNumber != 12 {
			t.Fatalf("next block %d, want 12", r.BlockNumber)
		}
		mustVerify(t, l)
	})
}

// TestLogBehindLedgerIsRefused: short of an OS crash the log is written
// before ledger.db commits, so a log that ends before ledger.db's head lost
// records; the ledger refuses to open rather than guess.
func TestLogBehindLedgerIsRefused(t *testing.T) {
	dir := cloneLedger(t, buildLedger(t))
	offsets, _, _ := logRecords(t, dir)
	if err := os.Truncate(filepath.Join(dir, LogFileName), offsets[10]); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), dir, withInvoker(testInvoke, testReadOnly), WithMmapSize(64<<20), WithLogger(quiet))
	if err == nil || !errors.Is(err, errCorrupt) {
		t.Fatalf("open with the log behind ledger.db: %v", err)
	}
}

// TestMigrateLedgerWithoutLog: a ledger.db of the format before the block
// log gets its log written from its blocks at open.
func TestMigrateLedgerWithoutLog(t *testing.T) {
	dir := cloneLedger(t, buildLedger(t))
	_, want, _ := logRecords(t, dir)
	if err := os.Remove(filepath.Join(dir, LogFileName)); err != nil {
		t.Fatal(err)
	}
	tamper(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaLogEnd) })
	l := openTest(t, dir)
	mustVerify(t, l)
	put(t, l, "after", "1")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, got, _ := logRecords(t, dir)
	if len(got) != len(want)+1 {
		t.Fatalf("%d records after migration and one put, want %d", len(got), len(want)+1)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("migrated record %d differs", i)
		}
	}
	mustVerify(t, openTestClosed(t, dir))
}

func openTestClosed(t *testing.T, dir string) *Ledger {
	t.Helper()
	l := openTest(t, dir)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// TestVerifyNamesTheTamperedLogRecord flips one byte of block k's record in
// blocks.log (payload or frame) and expects Verify to name block k, even
// though ledger.db's copy is intact.
func TestVerifyNamesTheTamperedLogRecord(t *testing.T) {
	base := buildLedger(t)
	offsets, recs, _ := logRecords(t, base)
	for _, k := range []int{1, 6, 12} {
		size := logHeaderSize + len(recs[k])
		for _, off := range []int{0, 4, logHeaderSize, logHeaderSize + headerSize + 3, size / 2, size - 1} {
			dir := cloneLedger(t, base)
			logPath := filepath.Join(dir, LogFileName)
			b, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			b[offsets[k]+int64(off)] ^= 0x20
			if err := os.WriteFile(logPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			res := verifyDir(t, dir)
			if res.OK || res.FirstBadBlock == nil || *res.FirstBadBlock != uint64(k) {
				t.Fatalf("log record of block %d, byte %d flipped: %+v", k, off, res)
			}
			if !strings.Contains(res.Detail, fmt.Sprintf("block %d", k)) {
				t.Fatalf("detail %q does not name block %d", res.Detail, k)
			}
		}
	}
}

// TestPipelineKeepsDurabilityAndTheCap holds the first fdatasync and checks
// that the next blocks execute meanwhile on the state the held block left,
// that nothing of them is visible or answered before the fsync, that all
// are answered once it returns, and that the counter's cap stays exact
// across blocks executed before the ones they read from were durable.
func TestPipelineKeepsDurabilityAndTheCap(t *testing.T) {
	inSync, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l := openTest(t, t.TempDir(), withBeforeSync(func() {
		once.Do(func() {
			close(inSync)
			<-release
		})
	}))
	defer l.Close()
	executed := func() uint64 { // ledger.db's head: executed, perhaps not durable
		var h headRef
		if err := l.db.View(func(tx *bolt.Tx) error {
			var err error
			h, err = decodeHead(tx.Bucket(bucketMeta).Get(metaHead))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return h.number
	}
	type out struct {
		block uint64
		err   error
	}
	incr := func() <-chan out {
		ch := make(chan out, 1)
		go func() {
			r, err := l.Submit(context.Background(), tester, "Incr", mustJSON(testArg{K: "cap", Limit: 3}))
			ch <- out{r.BlockNumber, err}
		}()
		return ch
	}
	first := incr()
	<-inSync
	// Block 1 is in its fdatasync. Block 2 executes and waits for the
	// syncer; block 3 executes too, then the committer waits for room.
	var rest []<-chan out
	for want := uint64(2); want <= 3; want++ {
		rest = append(rest, incr())
		eventually(t, fmt.Sprintf("block %d executed", want), func() bool { return executed() == want })
	}
	if info, _ := l.Info(context.Background()); info.Height != 1 {
		t.Fatalf("height %d before the first fsync, want 1 (genesis only)", info.Height)
	}
	if got := get(t, l, "cap"); got != "" {
		t.Fatalf("Evaluate sees %q before the first fsync", got)
	}
	over := incr() // the fourth increment: over the cap
	for _, ch := range append([]<-chan out{first}, rest...) {
		select {
		case o := <-ch:
			t.Fatalf("answered before its fsync: %+v", o)
		default:
		}
	}
	close(release)
	if o := <-first; o.err != nil || o.block != 1 {
		t.Fatalf("first: %+v", o)
	}
	for i, ch := range rest {
		if o := <-ch; o.err != nil || o.block != uint64(i+2) {
			t.Fatalf("increment %d: %+v", i+2, o)
		}
	}
	if o := <-over; voucher.CodeOf(o.err) != voucher.CodeCapExceeded {
		t.Fatalf("fourth increment: %+v, want CAP_EXCEEDED", o)
	}
	if got := get(t, l, "cap"); got != "3" {
		t.Fatalf("cap = %q", got)
	}
	if info, _ := l.Info(context.Background()); info.Height != 4 {
		t.Fatalf("height %d, want 4", info.Height)
	}
	mustVerify(t, l)
}

// TestBlocksArriveOnlyWhenDurable: a block executed but not yet fsync'd is
// neither streamed nor counted in the height.
func TestBlocksArriveOnlyWhenDurable(t *testing.T) {
	inSync, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l := openTest(t, t.TempDir(), withBeforeSync(func() {
		once.Do(func() {
			close(inSync)
			<-release
		})
	}))
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := l.Blocks(ctx, 1)
	done := make(chan error, 1)
	go func() {
		_, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: "a", V: "1"}))
		done <- err
	}()
	<-inSync
	if info, _ := l.Info(context.Background()); info.Height != 1 {
		t.Fatalf("height %d before the fsync, want 1", info.Height)
	}
	select {
	case b := <-ch:
		t.Fatalf("block %d streamed before its fsync", b.Number)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b := <-ch; b.Number != 1 {
		t.Fatalf("streamed block %d, want 1", b.Number)
	}
}

// TestRebuildOnTheRealContract: after an OS crash the voucher contract's
// transactions (claims over the cap included) replay from the log to the
// same head, and the rebuilt ledger verifies and reads the same.
func TestRebuildOnTheRealContract(t *testing.T) {
	dir := t.TempDir()
	l := openReal(t, dir)
	prepareClaims(t, l, 1, 22)
	var ids []string
	for i := 1; i <= 22; i++ {
		e := 1000 + i
		r, err := submitJSON(t, l, agencyCaller(1), "Claim", voucher.ClaimArgs{EnterpriseID: enterprise(e), CertificateNo: certNo(e)})
		if i <= 20 && err != nil || i > 20 && voucher.CodeOf(err) != voucher.CodeCapExceeded {
			t.Fatalf("claim %d: %v", i, err)
		}
		if err == nil {
			ids = append(ids, r.TxID)
		}
	}
	want, _ := l.Info(context.Background())
	agency, err := l.Evaluate(context.Background(), sciTech, "GetAgency", mustJSON(voucher.IDArgs{ID: makeUSCC(1)}))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, markerFileName), []byte("another-boot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	l = openReal(t, dir)
	defer l.Close()
	if got, _ := l.Info(context.Background()); got != want {
		t.Fatalf("rebuilt %+v, want %+v", got, want)
	}
	again, err := l.Evaluate(context.Background(), sciTech, "GetAgency", mustJSON(voucher.IDArgs{ID: makeUSCC(1)}))
	if err != nil || !bytes.Equal(again, agency) {
		t.Fatalf("agency after rebuild %s (%v), before %s", again, err, agency)
	}
	if len(ids) != 20 {
		t.Fatalf("%d claims issued, want 20", len(ids))
	}
	mustVerify(t, l)
}

// TestFailedLogWriteStopsTheLedger: when the log cannot be written the
// ledger answers ErrUnavailable and refuses every later write until it is
// reopened; the reopened ledger holds everything acknowledged and verifies.
func TestFailedLogWriteStopsTheLedger(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	put(t, l, "a", "1")
	if err := l.log.f.Close(); err != nil { // every later write or fsync of the log fails
		t.Fatal(err)
	}
	for _, k := range []string{"b", "c"} {
		_, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: k, V: "1"}))
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("put %s after the log failed: %v", k, err)
		}
	}
	if info, _ := l.Info(context.Background()); info.Height != 2 {
		t.Fatalf("height %d after failed writes, want 2", info.Height)
	}
	_ = l.Close()
	if _, err := os.Stat(filepath.Join(dir, markerFileName)); err != nil {
		t.Fatalf("marker after closing a failed ledger: %v (it must stay)", err)
	}
	l = openTest(t, dir)
	defer l.Close()
	if got := get(t, l, "a"); got != "1" {
		t.Fatalf("a = %q after reopen", got)
	}
	if got := get(t, l, "b"); got != "" {
		t.Fatalf("b = %q: a failed write was kept", got)
	}
	put(t, l, "d", "1")
	mustVerify(t, l)
}
