package fabric

import (
	"context"
	"fmt"
	"time"

	"github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/channel"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/channel/invoke"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/errors/status"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
	"github.com/hyperledger/fabric-sdk-go/pkg/fabsdk"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// Submit runs a state-changing transaction signed by caller's own identity,
// endorsed by the peers the chaincode's policy needs (both bureaus), and
// returns once the commit event names it valid. MVCC and phantom-read
// conflicts are retried under the retry policy with a new transaction.
func (b *Backend) Submit(ctx context.Context, caller backend.Caller, fn string, arg []byte) (backend.Receipt, error) {
	if voucher.IsReadOnly(fn) {
		return backend.Receipt{}, &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf("%s only reads: evaluate it instead of submitting it", fn)}
	}
	if err := checkArg(arg); err != nil {
		return backend.Receipt{}, err
	}
	client, done, err := b.channelClient(ctx, caller)
	if err != nil {
		return backend.Receipt{}, err
	}
	defer done()
	req := channel.Request{ChaincodeID: b.cfg.chaincode, Fcn: fn, Args: [][]byte{arg}}
	var last error
	for attempt := 1; ; attempt++ {
		receipt, err := b.submitOnce(ctx, client, req)
		if err == nil {
			return receipt, nil
		}
		mapped, retry := classify(err)
		if !retry {
			return backend.Receipt{}, mapped
		}
		last = mapped
		b.conflicts.Add(1)
		if attempt >= b.cfg.retry.MaxAttempts {
			break
		}
		wait := b.cfg.retry.Delay(attempt, jitter())
		b.log.Debug("fabric submit conflict, retrying", "fn", fn, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return backend.Receipt{}, unavailable(fn, ctx.Err())
		}
	}
	return backend.Receipt{}, fmt.Errorf("%w: fabric: %s still conflicting after %d attempts: %w", backend.ErrUnavailable, fn, b.cfg.retry.MaxAttempts, last)
}

// submitOnce endorses, orders and waits for one transaction.
func (b *Backend) submitOnce(ctx context.Context, client *channel.Client, req channel.Request) (backend.Receipt, error) {
	commit := &commitHandler{events: b.commitEvents, heights: b.heights}
	handler := invoke.NewSelectAndEndorseHandler(
		invoke.NewEndorsementValidationHandler(
			invoke.NewSignatureValidationHandler(commit),
		),
	)
	resp, err := client.InvokeHandler(handler, req,
		channel.WithParentContext(ctx),
		channel.WithTimeout(fab.Execute, b.cfg.submitTimeout))
	if err != nil {
		return backend.Receipt{}, err
	}
	if len(commit.lagging) > 0 {
		b.log.Warn("fabric: peers behind a committed block", "block", commit.blockNumber, "peers", commit.lagging, "waited", maxPeerLag)
	}
	return backend.Receipt{TxID: string(resp.TransactionID), BlockNumber: commit.blockNumber, Payload: resp.Payload}, nil
}

// Evaluate runs a read-only transaction as caller on one peer: the
// caller's own bureau's first, then the others. One peer's answer is the
// state at its height; asking several at once would fail whenever they
// stand at different heights.
func (b *Backend) Evaluate(ctx context.Context, caller backend.Caller, fn string, arg []byte) ([]byte, error) {
	if !voucher.IsReadOnly(fn) {
		return nil, &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf("%s is not a read-only function: submit it", fn)}
	}
	if err := checkArg(arg); err != nil {
		return nil, err
	}
	client, done, err := b.channelClient(ctx, caller)
	if err != nil {
		return nil, err
	}
	defer done()
	org, _ := b.orgFor(caller.Role)
	peers := append(append([]string(nil), org.peers...), b.otherPeers(org)...)
	req := channel.Request{ChaincodeID: b.cfg.chaincode, Fcn: fn, Args: [][]byte{arg}}
	var last error
	for _, p := range peers {
		resp, err := client.Query(req,
			channel.WithParentContext(ctx),
			channel.WithTimeout(fab.Query, b.cfg.evaluateTimeout),
			channel.WithTargetEndpoints(p))
		if err == nil {
			return resp.Payload, nil
		}
		mapped, _ := classify(err)
		if !isUnavailable(mapped) || ctx.Err() != nil {
			return nil, mapped
		}
		last = mapped
	}
	if last == nil {
		return nil, unavailable(fn, fmt.Errorf("no peer to ask"))
	}
	return nil, last
}

// checkArg refuses an argument the contract would refuse anyway, before it
// costs a proposal.
func checkArg(arg []byte) error {
	if len(arg) > voucher.MaxArgBytes {
		return &voucher.Error{Code: voucher.CodeInvalidArgument,
			Message: fmt.Sprintf("argument is %d bytes, over the limit of %d", len(arg), voucher.MaxArgBytes)}
	}
	return nil
}

func (b *Backend) otherPeers(org *orgClient) []string {
	if org == b.scitech {
		return b.finance.peers
	}
	return b.scitech.peers
}

// channelClient is caller's channel client, from the cache or built on
// its signing identity (enrolling the caller if the wallet lacks it).
func (b *Backend) channelClient(ctx context.Context, caller backend.Caller) (*channel.Client, func(), error) {
	select {
	case <-b.closed:
		return nil, nil, unavailable("channel client", errClosed)
	default:
	}
	v, done, err := b.clients.acquire(ctx, clientKey(caller), func() (any, fab.ClientContext, error) {
		si, err := b.signingIdentity(ctx, caller)
		if err != nil {
			return nil, nil, err
		}
		client, err := channel.New(b.sdk.ChannelContext(b.cfg.channel, fabsdk.WithIdentity(si)))
		if err != nil {
			return nil, nil, unavailable("channel client for "+caller.Name, err)
		}
		sdkCtx, err := b.sdk.Context(fabsdk.WithIdentity(si))()
		if err != nil {
			return nil, nil, unavailable("context for "+caller.Name, err)
		}
		return client, sdkCtx, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, unavailable("channel client", err)
		}
		return nil, nil, err
	}
	return v.(*channel.Client), done, nil
}

// commitHandler is the last step of Submit's handler chain: it registers
// for the transaction's status on the shared event service, sends the
// endorsed transaction to the orderer and waits for the commit, keeping the
// block number (the SDK's own commit handler drops it); then it waits,
// briefly, until every followed peer has the block (peers.go).
type commitHandler struct {
	events      fab.EventService
	heights     *peerHeights
	blockNumber uint64
	lagging     []string
}

func (h *commitHandler) Handle(rc *invoke.RequestContext, cc *invoke.ClientContext) {
	txID := string(rc.Response.TransactionID)
	reg, statusCh, err := h.events.RegisterTxStatusEvent(txID)
	if err != nil {
		rc.Error = fmt.Errorf("register for the status of %s: %w", txID, err)
		return
	}
	defer h.events.Unregister(reg)

	tx, err := cc.Transactor.CreateTransaction(fab.TransactionRequest{
		Proposal:          rc.Response.Proposal,
		ProposalResponses: rc.Response.Responses,
	})
	if err != nil {
		rc.Error = fmt.Errorf("create transaction %s: %w", txID, err)
		return
	}
	if err := broadcast(rc.Ctx, cc.Transactor, tx, ordererRetryWindow); err != nil {
		rc.Error = fmt.Errorf("send transaction %s to the orderer: %w", txID, err)
		return
	}
	resend := time.NewTimer(resendAfter)
	defer resend.Stop()
	for resends := 0; ; {
		select {
		case st, ok := <-statusCh:
			if !ok {
				rc.Error = fmt.Errorf("event service closed before %s committed", txID)
				return
			}
			rc.Response.TxValidationCode = st.TxValidationCode
			if st.TxValidationCode != peer.TxValidationCode_VALID {
				rc.Error = &invalidTxError{TxID: txID, Code: st.TxValidationCode, Block: st.BlockNumber}
				return
			}
			h.blockNumber = st.BlockNumber
			if h.heights != nil {
				h.lagging = h.heights.waitFor(rc.Ctx, st.BlockNumber+1, maxPeerLag)
			}
			return
		case <-resend.C:
			// An orderer acknowledged the transaction but no block holds it
			// yet: a raft leader that stopped before cutting its batch
			// loses what it had queued. Send the same envelope again.
			if resends++; resends <= maxResends {
				_ = broadcast(rc.Ctx, cc.Transactor, tx, ordererRetryWindow)
				resend.Reset(resendAfter)
			}
		case <-rc.Ctx.Done():
			rc.Error = fmt.Errorf("no commit event for %s: %w", txID, rc.Ctx.Err())
			return
		}
	}
}

// Orderer faults. A Raft orderer set with one node down keeps ordering,
// but for a few seconds after its leader stops every orderer refuses
// transactions (SERVICE_UNAVAILABLE, "no Raft leader"), and a leader that
// stops takes the transactions it queued but had not yet cut with it. So
// the broadcast is retried for up to ordererRetryWindow, and repeated when
// no commit event came within resendAfter. Both always send the same signed
// envelope: if two copies reach blocks, the peers mark the later one
// DUPLICATE_TXID, so the transaction commits at most once.
const (
	ordererRetryWindow = 15 * time.Second
	ordererRetryMax    = time.Second
	resendAfter        = 8 * time.Second
	maxResends         = 2
)

// txSender is the part of the SDK's transactor that broadcasts.
type txSender interface {
	SendTransaction(tx *fab.Transaction) (*fab.TransactionResponse, error)
}

// broadcast sends tx to an orderer (the SDK tries each in a random order),
// retrying with backoff while all refuse, for at most window.
func broadcast(ctx context.Context, sender txSender, tx *fab.Transaction, window time.Duration) error {
	deadline := time.Now().Add(window)
	wait := 100 * time.Millisecond
	for {
		_, err := sender.SendTransaction(tx)
		if err == nil {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, ordererRetryMax)
	}
}

// invalidTxError is a transaction the peers' validation marked invalid.
type invalidTxError struct {
	TxID  string
	Code  peer.TxValidationCode
	Block uint64
}

func (e *invalidTxError) Error() string {
	return fmt.Sprintf("transaction %s invalidated in block %d: %s", e.TxID, e.Block, e.Code)
}

// retryable reports whether a resubmission may succeed: the transaction
// read state another one changed first.
func (e *invalidTxError) retryable() bool {
	return e.Code == peer.TxValidationCode_MVCC_READ_CONFLICT || e.Code == peer.TxValidationCode_PHANTOM_READ_CONFLICT
}

// classify maps an SDK error to what the gateway understands: the
// contract's rejection as *voucher.Error (decoded from the chaincode's
// message), a conflict worth retrying, a transaction the network refused, or
// backend.ErrUnavailable for everything that means "could not get through".
func classify(err error) (mapped error, retry bool) {
	if ve, ok := voucher.DecodeError(err.Error()); ok {
		return ve, false
	}
	var inv *invalidTxError
	if asInvalid(err, &inv) {
		if inv.retryable() {
			return err, true
		}
		return fmt.Errorf("fabric: %w", err), false
	}
	if s, ok := status.FromError(err); ok && s.Group == status.ClientStatus && s.Code == status.EndorsementMismatch.ToInt32() {
		// The endorsers read different states (one is a block behind).
		return unavailable("endorsement", err), true
	}
	return unavailable("transaction", err), false
}
