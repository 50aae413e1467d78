package fabric

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/errors/multi"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/errors/status"
	pkgerrors "github.com/pkg/errors"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

func TestRetryDelay(t *testing.T) {
	p := DefaultRetryPolicy()
	if p.MaxAttempts != 5 {
		t.Errorf("default attempts %d", p.MaxAttempts)
	}
	full := []time.Duration{50, 100, 200, 400, 800, 1000, 1000}
	for i, ms := range full {
		want := ms * time.Millisecond
		if got := p.Delay(i+1, 0.999999); got > want || got < want*99/100 {
			t.Errorf("attempt %d, jitter ~1: %s, want ~%s", i+1, got, want)
		}
		if got := p.Delay(i+1, 0); got != want/2 {
			t.Errorf("attempt %d, jitter 0: %s, want %s", i+1, got, want/2)
		}
	}
	// Out-of-range jitter is clamped, huge attempt numbers stay capped.
	if got := p.Delay(1000, 7); got != p.MaxDelay {
		t.Errorf("clamped: %s", got)
	}
	for _, bad := range []RetryPolicy{{MaxAttempts: 0}, {MaxAttempts: MaxRetryAttempts + 1}, {MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Millisecond}} {
		if bad.check() == nil {
			t.Errorf("policy %+v accepted", bad)
		}
	}
}

func TestClassify(t *testing.T) {
	capErr := &voucher.Error{Code: voucher.CodeCapExceeded, Message: "agency has 0.00 left", Details: map[string]string{"remaining": "0.00"}}
	// How the SDK reports a chaincode's shim.Error from two endorsers.
	endorserErr := status.New(status.EndorserServerStatus, 500, voucher.EncodeError(capErr), nil)
	sdkErr := pkgerrors.Wrap(multi.New(
		fmt.Errorf("Transaction processing for endorser [127.0.0.1:27151]: %w", endorserErr),
		fmt.Errorf("Transaction processing for endorser [127.0.0.1:27251]: %w", endorserErr),
	), "endorsement failed")

	mapped, retry := classify(sdkErr)
	var ve *voucher.Error
	if retry || !errors.As(mapped, &ve) || ve.Code != voucher.CodeCapExceeded || ve.Details["remaining"] != "0.00" {
		t.Errorf("chaincode rejection: %v (retry %v)", mapped, retry)
	}

	for _, code := range []peer.TxValidationCode{peer.TxValidationCode_MVCC_READ_CONFLICT, peer.TxValidationCode_PHANTOM_READ_CONFLICT} {
		if _, retry := classify(&invalidTxError{TxID: "t", Code: code}); !retry {
			t.Errorf("%s not retried", code)
		}
	}
	mapped, retry = classify(&invalidTxError{TxID: "t", Code: peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE})
	if retry || isUnavailable(mapped) {
		t.Errorf("policy failure: %v retry=%v", mapped, retry)
	}

	mismatch := status.New(status.ClientStatus, status.EndorsementMismatch.ToInt32(), "ProposalResponsePayloads do not match", nil)
	if mapped, retry := classify(pkgerrors.Wrap(mismatch, "endorsement validation")); !retry || !isUnavailable(mapped) {
		t.Errorf("endorsement mismatch: %v retry=%v", mapped, retry)
	}

	down := status.New(status.EndorserClientStatus, status.ConnectionFailed.ToInt32(), "connection refused", nil)
	if mapped, retry := classify(down); retry || !errors.Is(mapped, backend.ErrUnavailable) {
		t.Errorf("peer down: %v retry=%v", mapped, retry)
	}
	// A chaincode failure that is not the contract's (chaincode server
	// unreachable) is unavailability, not a rejection.
	ccDown := status.New(status.EndorserServerStatus, 500, "error in simulation: failed to execute transaction: could not launch chaincode", nil)
	if mapped, _ := classify(ccDown); !errors.Is(mapped, backend.ErrUnavailable) {
		t.Errorf("chaincode down: %v", mapped)
	}
}

func TestRequestsRefusedBeforeTheNetwork(t *testing.T) {
	b := &Backend{} // no SDK: these must not reach it
	ctx := t.Context()
	caller := backend.Caller{Name: "clerk", Role: voucher.RoleSciTech}
	if _, err := b.Submit(ctx, caller, "GetVoucher", []byte(`{}`)); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Errorf("submitting a read: %v", err)
	}
	if _, err := b.Evaluate(ctx, caller, "Claim", []byte(`{}`)); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Errorf("evaluating a write: %v", err)
	}
	big := make([]byte, voucher.MaxArgBytes+1)
	if _, err := b.Submit(ctx, caller, "RegisterAgency", big); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Errorf("oversized argument: %v", err)
	}
	if _, err := b.Evaluate(ctx, caller, "GetVoucher", big); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Errorf("oversized read argument: %v", err)
	}
}
