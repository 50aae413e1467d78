package fabric

import (
	"context"
	"testing"
	"time"
)

func TestPeerHeightsWaitFor(t *testing.T) {
	p := newPeerHeights()
	ctx := context.Background()
	// Nothing followed: nothing to wait for.
	if behind := p.waitFor(ctx, 10, time.Hour); behind != nil {
		t.Fatalf("no peers, behind %v", behind)
	}
	p.set("a:1", 5, true)
	p.set("b:1", 9, true)
	p.set("c:1", 1, false) // its stream is down: not waited for

	done := make(chan []string)
	go func() { done <- p.waitFor(ctx, 10, time.Hour) }()
	p.set("a:1", 10, true)
	select {
	case behind := <-done:
		t.Fatalf("returned while b was behind: %v", behind)
	case <-time.After(20 * time.Millisecond):
	}
	p.set("b:1", 10, true)
	select {
	case behind := <-done:
		if behind != nil {
			t.Errorf("behind %v", behind)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitFor did not see the peers catch up")
	}

	// A peer that never catches up costs at most maxWait, and is named.
	behind := p.waitFor(ctx, 11, 10*time.Millisecond)
	if len(behind) != 2 {
		t.Errorf("behind %v, want a:1 and b:1", behind)
	}
	// Heights never go back; a disconnect only marks the peer not live.
	p.set("a:1", 0, false)
	if got, _ := p.lagging(10); len(got) != 0 {
		t.Errorf("lagging %v", got)
	}
	if p.heights["a:1"] != 10 {
		t.Errorf("height went back to %d", p.heights["a:1"])
	}
}

func TestPeerHeightsWaitLive(t *testing.T) {
	p := newPeerHeights()
	go func() {
		p.set("a", 1, true)
		p.set("b", 1, true)
	}()
	if live := p.waitLive(context.Background(), 2, 5*time.Second); live != 2 {
		t.Errorf("live %d", live)
	}
	if live := p.waitLive(context.Background(), 3, 10*time.Millisecond); live != 2 {
		t.Errorf("bounded wait: live %d", live)
	}
}

func TestTrimScheme(t *testing.T) {
	for in, want := range map[string]string{"grpcs://127.0.0.1:7051": "127.0.0.1:7051", "grpc://h:1": "h:1", "h:1": "h:1"} {
		if got := trimScheme(in); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}
