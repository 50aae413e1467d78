package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/client"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/deliverclient"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/deliverclient/seek"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/service/dispatcher"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// Stream bounds.
const (
	// blockBuffer bounds the blocks waiting for a slow consumer; the peer's
	// deliver stream is paced by it (the SDK's dispatcher blocks rather than
	// drops: consumer timeout 0).
	blockBuffer = 16
	// reconnect backoff of the block stream.
	reconnectMin = 200 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// Blocks streams the channel's blocks with number >= from, in order and
// without gaps, parsed into transactions with their validity and the
// chaincode event of each valid one. It reads the peers' deliver service as
// the service identity, with its own event client so that it controls the
// position: after any failure (peer restarted, stream broken, a gap) it
// closes the client and seeks again from the next block it owes, backing
// off up to 5 s, until ctx ends. The error function reports only what ended
// the stream otherwise (backend closed, a block it cannot parse).
func (b *Backend) Blocks(ctx context.Context, from uint64) (<-chan backend.Block, func() error) {
	out := make(chan backend.Block, blockBuffer)
	s := &streamErr{}
	select {
	case <-b.closed:
		s.set(errClosed)
		close(out)
		return out, s.get
	default:
	}
	b.streams.Add(1)
	go func() {
		defer b.streams.Done()
		defer close(out)
		s.set(b.stream(ctx, from, out))
	}()
	return out, s.get
}

type streamErr struct {
	mu  sync.Mutex
	err error
}

func (s *streamErr) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *streamErr) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stream runs connections one after another until ctx ends.
func (b *Backend) stream(ctx context.Context, next uint64, out chan<- backend.Block) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := reconnectMin
	for {
		before := next
		err := b.streamOnce(ctx, &next, out)
		if ctx.Err() != nil {
			select {
			case <-b.closed:
				return errClosed
			default:
				return nil
			}
		}
		var fatal *fatalStreamError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if next > before {
			wait = reconnectMin // it made progress: not a failing peer
		}
		b.log.Warn("fabric block stream interrupted, reconnecting", "next_block", next, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		wait = min(wait*2, reconnectMax)
	}
}

// fatalStreamError ends the stream for good.
type fatalStreamError struct{ err error }

func (e *fatalStreamError) Error() string { return e.err.Error() }

// streamOnce connects a deliver client seeking from *next and forwards
// blocks until the connection fails, a gap appears or ctx ends.
func (b *Backend) streamOnce(ctx context.Context, next *uint64, out chan<- backend.Block) error {
	chCtx, err := b.serviceChCtx()
	if err != nil {
		return fmt.Errorf("channel context: %w", err)
	}
	chCfg, err := chCtx.ChannelService().ChannelConfig()
	if err != nil {
		return fmt.Errorf("channel config: %w", err)
	}
	discovery, err := chCtx.ChannelService().Discovery()
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	ec, err := deliverclient.New(chCtx, chCfg, discovery,
		client.WithBlockEvents(),
		deliverclient.WithSeekType(seek.FromBlock),
		deliverclient.WithBlockNum(*next),
		// This loop reconnects, from the block it owes; the SDK's own
		// reconnect would resume from the last block it dispatched.
		client.WithReconnect(false),
		client.WithMaxConnectAttempts(1),
		// Block the peer's stream rather than drop a block for a slow consumer.
		dispatcher.WithEventConsumerTimeout(0),
	)
	if err != nil {
		return fmt.Errorf("event client: %w", err)
	}
	defer ec.Close()
	if err := ec.Connect(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	reg, events, err := ec.RegisterBlockEvent()
	if err != nil {
		return fmt.Errorf("register for blocks: %w", err)
	}
	defer ec.Unregister(reg)
	b.log.Info("fabric block stream connected", "from_block", *next)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return errors.New("event client closed the stream")
			}
			if ev.Block == nil || ev.Block.Header == nil {
				return errors.New("event without a block")
			}
			n := ev.Block.Header.Number
			switch {
			case n < *next:
				continue // seen already
			case n > *next:
				return fmt.Errorf("gap: got block %d, expected %d", n, *next)
			}
			blk, err := parseBlock(ev.Block, b.cfg.chaincode)
			if err != nil {
				return &fatalStreamError{fmt.Errorf("fabric: block %d: %w", n, err)}
			}
			select {
			case out <- blk:
				*next = n + 1
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// parseBlock turns a Fabric block into the projection's view: each
// transaction's id, its validity from the block metadata's transaction
// filter, and, for valid ones, the event chaincode set.
func parseBlock(blk *common.Block, chaincode string) (backend.Block, error) {
	if blk.Header == nil {
		return backend.Block{}, errors.New("no header")
	}
	out := backend.Block{Number: blk.Header.Number, Hash: hex.EncodeToString(BlockHeaderHash(blk.Header))}
	var data [][]byte
	if blk.Data != nil {
		data = blk.Data.Data
	}
	var filter []byte
	if blk.Metadata != nil && len(blk.Metadata.Metadata) > int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		filter = blk.Metadata.Metadata[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	}
	if len(filter) != len(data) {
		return backend.Block{}, fmt.Errorf("transaction filter has %d entries for %d transactions", len(filter), len(data))
	}
	out.Txs = make([]backend.Tx, 0, len(data))
	for i, envBytes := range data {
		tx, err := parseTx(envBytes, peer.TxValidationCode(filter[i]) == peer.TxValidationCode_VALID, chaincode)
		if err != nil {
			return backend.Block{}, fmt.Errorf("transaction %d: %w", i, err)
		}
		out.Txs = append(out.Txs, tx)
	}
	return out, nil
}

func parseTx(envBytes []byte, valid bool, chaincode string) (backend.Tx, error) {
	env := &common.Envelope{}
	if err := proto.Unmarshal(envBytes, env); err != nil {
		return backend.Tx{}, fmt.Errorf("envelope: %w", err)
	}
	payload := &common.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return backend.Tx{}, fmt.Errorf("payload: %w", err)
	}
	if payload.Header == nil {
		return backend.Tx{}, errors.New("payload without header")
	}
	chdr := &common.ChannelHeader{}
	if err := proto.Unmarshal(payload.Header.ChannelHeader, chdr); err != nil {
		return backend.Tx{}, fmt.Errorf("channel header: %w", err)
	}
	tx := backend.Tx{TxID: chdr.TxId, Valid: valid}
	if !valid || common.HeaderType(chdr.Type) != common.HeaderType_ENDORSER_TRANSACTION {
		return tx, nil // config blocks and invalid transactions carry no event
	}
	ev, err := chaincodeEvent(payload.Data)
	if err != nil {
		return backend.Tx{}, err
	}
	if ev != nil && ev.ChaincodeId == chaincode && ev.EventName != "" {
		tx.Event = ev.Payload
	}
	return tx, nil
}

// chaincodeEvent digs the event out of an endorser transaction: Transaction
// → first action → ChaincodeActionPayload → ProposalResponsePayload →
// ChaincodeAction → ChaincodeEvent. Nil when the transaction set none.
func chaincodeEvent(data []byte) (*peer.ChaincodeEvent, error) {
	tx := &peer.Transaction{}
	if err := proto.Unmarshal(data, tx); err != nil {
		return nil, fmt.Errorf("transaction: %w", err)
	}
	if len(tx.Actions) == 0 {
		return nil, nil
	}
	ccPayload := &peer.ChaincodeActionPayload{}
	if err := proto.Unmarshal(tx.Actions[0].Payload, ccPayload); err != nil {
		return nil, fmt.Errorf("chaincode action payload: %w", err)
	}
	if ccPayload.Action == nil {
		return nil, nil
	}
	prp := &peer.ProposalResponsePayload{}
	if err := proto.Unmarshal(ccPayload.Action.ProposalResponsePayload, prp); err != nil {
		return nil, fmt.Errorf("proposal response payload: %w", err)
	}
	action := &peer.ChaincodeAction{}
	if err := proto.Unmarshal(prp.Extension, action); err != nil {
		return nil, fmt.Errorf("chaincode action: %w", err)
	}
	if len(action.Events) == 0 {
		return nil, nil
	}
	ev := &peer.ChaincodeEvent{}
	if err := proto.Unmarshal(action.Events, ev); err != nil {
		return nil, fmt.Errorf("chaincode event: %w", err)
	}
	return ev, nil
}

// BlockHeaderHash is Fabric's block hash: SHA-256 over the ASN.1 DER
// sequence (number, previous hash, data hash) of the header.
func BlockHeaderHash(h *common.BlockHeader) []byte {
	der, err := asn1.Marshal(struct {
		Number       *big.Int
		PreviousHash []byte
		DataHash     []byte
	}{new(big.Int).SetUint64(h.Number), h.PreviousHash, h.DataHash})
	if err != nil {
		// Marshalling a big.Int and two byte slices cannot fail.
		panic(fmt.Sprintf("fabric: block header DER: %v", err))
	}
	sum := sha256.Sum256(der)
	return sum[:]
}

// BlockDataHash is Fabric's data hash: SHA-256 over the concatenated
// envelopes.
func BlockDataHash(d *common.BlockData) []byte {
	var data [][]byte
	if d != nil {
		data = d.Data
	}
	sum := sha256.Sum256(bytes.Join(data, nil))
	return sum[:]
}
