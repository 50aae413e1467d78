package harness

import (
	"testing"
	"time"
)

func TestStatCPUTime(t *testing.T) {
	// A command name with spaces and a parenthesis; utime 1234, stime 66.
	line := []byte("4242 (hongshan (gw) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 66 0 0 20 0 8 0 5000 1000000 2000 18446744073709551615\n")
	got, err := statCPUTime(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 13 * time.Second; got != want {
		t.Fatalf("CPU time %v, want %v", got, want)
	}
	for _, bad := range []string{"", "4242 no parenthesis", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 12x4 66 0"} {
		if _, err := statCPUTime([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
