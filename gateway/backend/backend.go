// Package backend is the one seam between the gateway and a ledger. The
// embedded ledger and Fabric both implement Backend; the gateway, its
// projection and its tests know nothing else of either.
package backend

import (
	"context"
	"errors"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Caller is an authenticated principal of the gateway. The backend makes the
// ledger see this caller: the embedded ledger passes it to the contract as
// the identity, Fabric signs with the principal's own enrolled certificate.
type Caller struct {
	Name     string       `json:"name"`
	Role     voucher.Role `json:"role"`
	AgencyID string       `json:"agency_id,omitempty"`
}

// Receipt is the proof that a transaction committed.
type Receipt struct {
	TxID        string
	BlockNumber uint64
	// Payload is the contract's JSON result.
	Payload []byte
}

// Block is a committed block as the projection consumes it.
type Block struct {
	Number uint64
	// Hash identifies the block (embedded: its header hash; Fabric: the
	// header hash as Fabric computes it).
	Hash string
	// Txs are the block's transactions in order; invalid ones are included
	// with Valid false so consumers can count them, and carry no event.
	Txs []Tx
}

// Tx is one transaction in a block.
type Tx struct {
	TxID  string
	Valid bool
	// Event is the contract's event payload (a voucher.Event as JSON), or
	// nil for a transaction that emitted none.
	Event []byte
}

// Info is the ledger's head.
type Info struct {
	Height   uint64 `json:"height"`
	HeadHash string `json:"head_hash"`
}

// VerifyResult is the outcome of a full integrity check.
type VerifyResult struct {
	OK            bool   `json:"ok"`
	Height        uint64 `json:"height"`
	HeadHash      string `json:"head_hash"`
	CheckedBlocks uint64 `json:"checked_blocks"`
	// FirstBadBlock is set when OK is false and a block is to blame.
	FirstBadBlock *uint64 `json:"first_bad_block"`
	Detail        string  `json:"detail"`
}

// Progress reports how far a long operation got.
type Progress func(done, total uint64)

// Backend is a ledger that runs the voucher contract.
type Backend interface {
	// Name is "embedded" or "fabric".
	Name() string
	// Submit runs a state-changing transaction as caller and returns once it
	// is durably committed. A rejection by the contract is a
	// *voucher.Error; ErrUnavailable means the ledger could not be reached.
	Submit(ctx context.Context, caller Caller, fn string, arg []byte) (Receipt, error)
	// Evaluate runs a read-only transaction as caller on the current state.
	Evaluate(ctx context.Context, caller Caller, fn string, arg []byte) ([]byte, error)
	// Blocks streams committed blocks with number >= from, in order, with no
	// gaps, until ctx ends; then it closes the channel. Errors end the stream
	// and are reported by the function returned with it.
	Blocks(ctx context.Context, from uint64) (<-chan Block, func() error)
	// Info returns the ledger's head.
	Info(ctx context.Context) (Info, error)
	// Verify recomputes the ledger's hash chain from genesis to head.
	Verify(ctx context.Context, progress Progress) (VerifyResult, error)
	// Enroll gives a new principal a ledger identity (Fabric: registers and
	// enrolls it at the organisation's CA with its role attributes; the
	// embedded ledger needs nothing). It returns nothing secret.
	Enroll(ctx context.Context, caller Caller) error
	// Close releases the ledger.
	Close() error
}

// ErrUnavailable marks a ledger that could not be reached or timed out; the
// gateway answers 503.
var ErrUnavailable = errors.New("ledger unavailable")
