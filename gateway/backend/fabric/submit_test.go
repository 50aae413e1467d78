package fabric

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
)

// refusingSender refuses the first refusals broadcasts, like orderers
// without a Raft leader, and records every envelope it was given.
type refusingSender struct {
	refusals int
	sent     []*fab.Transaction
}

func (s *refusingSender) SendTransaction(tx *fab.Transaction) (*fab.TransactionResponse, error) {
	s.sent = append(s.sent, tx)
	if len(s.sent) <= s.refusals {
		return nil, errors.New("SERVICE_UNAVAILABLE: no Raft leader")
	}
	return &fab.TransactionResponse{}, nil
}

func TestBroadcastRetriesTheSameEnvelopeUntilAccepted(t *testing.T) {
	s := &refusingSender{refusals: 3}
	tx := &fab.Transaction{}
	if err := broadcast(context.Background(), s, tx, 10*time.Second); err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	if len(s.sent) != 4 {
		t.Fatalf("%d sends, want 3 refused and 1 accepted", len(s.sent))
	}
	for i, got := range s.sent {
		if got != tx {
			t.Fatalf("send %d carried another envelope: a retry must resend the same signed transaction", i)
		}
	}
}

func TestBroadcastGivesUpAfterItsWindow(t *testing.T) {
	s := &refusingSender{refusals: 1 << 30}
	t0 := time.Now()
	err := broadcast(context.Background(), s, &fab.Transaction{}, 500*time.Millisecond)
	if err == nil {
		t.Fatal("broadcast succeeded with every orderer refusing")
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Fatalf("gave up after %v, window 500ms", took)
	}
	if len(s.sent) < 2 {
		t.Fatalf("%d sends in the window: no retry", len(s.sent))
	}
}

func TestBroadcastStopsWithItsContext(t *testing.T) {
	s := &refusingSender{refusals: 1 << 30}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := broadcast(ctx, s, &fab.Transaction{}, time.Minute); err == nil {
		t.Fatal("broadcast succeeded with every orderer refusing")
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Fatalf("returned %v after a 200ms context", took)
	}
}
