package embedded

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashDirEnv makes the test binary a crash helper writing to that ledger.
const crashDirEnv = "HONGSHAN_EMBEDDED_CRASH_DIR"

// TestCrashHelper is not a test: run by TestKillNine in a child process, it
// submits transactions from 16 goroutines and prints "ack <txid> <block>
// <key>" for each acknowledged one, until it is killed.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestKillNine")
	}
	l, err := Open(context.Background(), dir, withInvoker(testInvoke, testReadOnly), WithMmapSize(64<<20), WithLogger(quiet))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	for g := range 16 {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("p%d-g%d-%d", os.Getpid(), g, i)
				r, err := l.Submit(context.Background(), tester, "Put", mustJSON(testArg{K: key, V: "v-" + key}))
				if err != nil {
					fmt.Fprintln(os.Stderr, "submit:", err)
					os.Exit(3)
				}
				mu.Lock()
				// One write(2) per line, straight to the pipe: once it
				// returns the parent can read the acknowledgement.
				_, _ = fmt.Fprintf(os.Stdout, "ack %s %d %s\n", r.TxID, r.BlockNumber, key)
				mu.Unlock()
			}
		}()
	}
	<-time.After(time.Minute) // the parent kills us long before
	fmt.Fprintln(os.Stderr, "crash helper was not killed")
	os.Exit(4)
}

// TestKillNine kills a writing process with SIGKILL after N acknowledgements,
// reopens the ledger and checks that every acknowledged transaction is in
// its block with its write, and that the chain verifies. Three rounds on the
// same ledger.
func TestKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	type ack struct {
		block uint64
		key   string
	}
	acked := map[string]ack{}
	for round := range 3 {
		target := 300 + 200*round
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ack" {
				continue
			}
			var block uint64
			if _, err := fmt.Sscan(f[2], &block); err != nil {
				t.Fatalf("ack line %q", sc.Text())
			}
			acked[f[1]] = ack{block: block, key: f[3]}
			n++
			if n == target {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
			}
		}
		_ = cmd.Wait()
		if n < target {
			t.Fatalf("round %d: helper gave %d acks before dying: %s", round, n, stderr.String())
		}

		l := openTest(t, dir)
		where := map[string]uint64{}
		for _, b := range allBlocks(t, l) {
			for _, tx := range b.Txs {
				where[tx.TxID] = b.Number
			}
		}
		for txid, a := range acked {
			if got, ok := where[txid]; !ok || got != a.block {
				t.Fatalf("round %d: acknowledged tx %s (block %d) lost; found in %d (%v)", round, txid, a.block, got, ok)
			}
			if got := get(t, l, a.key); got != "v-"+a.key {
				t.Fatalf("round %d: acknowledged write %s = %q", round, a.key, got)
			}
		}
		res, err := l.Verify(context.Background(), nil)
		if err != nil || !res.OK {
			t.Fatalf("round %d: verify after kill -9: %+v %v", round, res, err)
		}
		t.Logf("round %d: %d acks (%d in all), %d transactions on the ledger, height %d", round, n, len(acked), len(where), res.Height)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
