package fabric

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	"github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// Info is the channel's height and head hash, from the highest peer that
// answers.
func (b *Backend) Info(ctx context.Context) (backend.Info, error) {
	resp, err := b.ledger.QueryInfo(ledger.WithParentContext(ctx))
	if err != nil {
		return backend.Info{}, unavailable("query ledger info", err)
	}
	if resp.BCI == nil {
		return backend.Info{}, unavailable("query ledger info", fmt.Errorf("empty answer from %s", resp.Endorser))
	}
	return backend.Info{Height: resp.BCI.Height, HeadHash: hex.EncodeToString(resp.BCI.CurrentBlockHash)}, nil
}

// Verify walks the chain from the genesis (config) block to the head it
// finds when called: each block's number, its data hash against the SHA-256
// of its envelopes, its previous hash against the previous header's hash,
// and finally the last header's hash against the head hash the peer states.
// The ledger client fetches each block from the peers and insists they
// agree on its data. A broken chain is a result with OK false; the error is
// for failing to run the check.
func (b *Backend) Verify(ctx context.Context, progress backend.Progress) (backend.VerifyResult, error) {
	resp, err := b.ledger.QueryInfo(ledger.WithParentContext(ctx))
	if err != nil {
		return backend.VerifyResult{}, unavailable("verify: query ledger info", err)
	}
	if resp.BCI == nil {
		return backend.VerifyResult{}, unavailable("verify: query ledger info", fmt.Errorf("empty answer from %s", resp.Endorser))
	}
	get := func(n uint64) (*common.Block, error) {
		if err := ctx.Err(); err != nil {
			return nil, unavailable("verify", err)
		}
		blk, err := b.ledger.QueryBlock(n, ledger.WithParentContext(ctx))
		if err != nil {
			return nil, unavailable(fmt.Sprintf("verify: query block %d", n), err)
		}
		return blk, nil
	}
	return verifyChain(resp.BCI.Height, resp.BCI.CurrentBlockHash, get, progress)
}

// verifyChain checks blocks 0..height-1 as fetched by get.
func verifyChain(height uint64, headHash []byte, get func(uint64) (*common.Block, error), progress backend.Progress) (backend.VerifyResult, error) {
	res := backend.VerifyResult{Height: height, HeadHash: hex.EncodeToString(headHash)}
	bad := func(n uint64, format string, args ...any) (backend.VerifyResult, error) {
		res.OK = false
		res.FirstBadBlock = &n
		res.Detail = fmt.Sprintf("block %d: ", n) + fmt.Sprintf(format, args...)
		return res, nil
	}
	var prevHash []byte
	for n := uint64(0); n < height; n++ {
		blk, err := get(n)
		if err != nil {
			return backend.VerifyResult{}, err
		}
		if blk == nil || blk.Header == nil {
			return bad(n, "no header")
		}
		if blk.Header.Number != n {
			return bad(n, "header says number %d", blk.Header.Number)
		}
		if want := BlockDataHash(blk.Data); !bytes.Equal(blk.Header.DataHash, want) {
			return bad(n, "data hash %x, the transactions hash to %x", blk.Header.DataHash, want)
		}
		if n > 0 && !bytes.Equal(blk.Header.PreviousHash, prevHash) {
			return bad(n, "previous hash %x, block %d hashes to %x", blk.Header.PreviousHash, n-1, prevHash)
		}
		prevHash = BlockHeaderHash(blk.Header)
		res.CheckedBlocks = n + 1
		if progress != nil {
			progress(n+1, height)
		}
	}
	if height > 0 && !bytes.Equal(prevHash, headHash) {
		return bad(height-1, "hashes to %x but the peer states head hash %x", prevHash, headHash)
	}
	res.OK = true
	res.Detail = fmt.Sprintf("%d blocks chain from the genesis block to the head", height)
	return res, nil
}
