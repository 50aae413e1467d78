package fabric

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-protos-go/peer"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelope builds a transaction envelope the way a peer commits it.
func envelope(t *testing.T, typ common.HeaderType, txID string, event *peer.ChaincodeEvent) []byte {
	t.Helper()
	var data []byte
	if typ == common.HeaderType_ENDORSER_TRANSACTION {
		action := &peer.ChaincodeAction{Response: &peer.Response{Status: 200}}
		if event != nil {
			action.Events = mustMarshal(t, event)
		}
		prp := &peer.ProposalResponsePayload{ProposalHash: []byte("h"), Extension: mustMarshal(t, action)}
		ccap := &peer.ChaincodeActionPayload{Action: &peer.ChaincodeEndorsedAction{ProposalResponsePayload: mustMarshal(t, prp)}}
		data = mustMarshal(t, &peer.Transaction{Actions: []*peer.TransactionAction{{Payload: mustMarshal(t, ccap)}}})
	} else {
		data = []byte("config")
	}
	payload := &common.Payload{
		Header: &common.Header{ChannelHeader: mustMarshal(t, &common.ChannelHeader{Type: int32(typ), TxId: txID, ChannelId: "hongshan"})},
		Data:   data,
	}
	return mustMarshal(t, &common.Envelope{Payload: mustMarshal(t, payload), Signature: []byte("sig")})
}

// makeBlock assembles a block with a correct data hash, linked to prev.
func makeBlock(n uint64, prev *common.BlockHeader, envs [][]byte, filter []byte) *common.Block {
	blk := &common.Block{
		Header:   &common.BlockHeader{Number: n},
		Data:     &common.BlockData{Data: envs},
		Metadata: &common.BlockMetadata{Metadata: make([][]byte, len(common.BlockMetadataIndex_name))},
	}
	blk.Header.DataHash = BlockDataHash(blk.Data)
	if prev != nil {
		blk.Header.PreviousHash = BlockHeaderHash(prev)
	}
	blk.Metadata.Metadata[common.BlockMetadataIndex_TRANSACTIONS_FILTER] = filter
	return blk
}

func TestParseBlock(t *testing.T) {
	issued := &peer.ChaincodeEvent{ChaincodeId: "hongshan", TxId: "tx-ok", EventName: "VoucherIssued", Payload: []byte(`{"type":"VoucherIssued"}`)}
	other := &peer.ChaincodeEvent{ChaincodeId: "someone-else", TxId: "tx-other", EventName: "X", Payload: []byte(`{}`)}
	envs := [][]byte{
		envelope(t, common.HeaderType_ENDORSER_TRANSACTION, "tx-ok", issued),
		envelope(t, common.HeaderType_ENDORSER_TRANSACTION, "tx-mvcc", issued),
		envelope(t, common.HeaderType_ENDORSER_TRANSACTION, "tx-noevent", nil),
		envelope(t, common.HeaderType_ENDORSER_TRANSACTION, "tx-other", other),
		envelope(t, common.HeaderType_CONFIG, "", nil),
	}
	filter := []byte{
		byte(peer.TxValidationCode_VALID),
		byte(peer.TxValidationCode_MVCC_READ_CONFLICT),
		byte(peer.TxValidationCode_VALID),
		byte(peer.TxValidationCode_VALID),
		byte(peer.TxValidationCode_VALID),
	}
	blk := makeBlock(7, &common.BlockHeader{Number: 6}, envs, filter)
	got, err := parseBlock(blk, "hongshan")
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != 7 || got.Hash != hex.EncodeToString(BlockHeaderHash(blk.Header)) || len(got.Txs) != 5 {
		t.Fatalf("block %+v", got)
	}
	want := []struct {
		id    string
		valid bool
		event string
	}{
		{"tx-ok", true, `{"type":"VoucherIssued"}`},
		{"tx-mvcc", false, ""}, // invalid: no event even though it set one
		{"tx-noevent", true, ""},
		{"tx-other", true, ""}, // another chaincode's event is not ours
		{"", true, ""},         // config transaction
	}
	for i, w := range want {
		tx := got.Txs[i]
		if tx.TxID != w.id || tx.Valid != w.valid || string(tx.Event) != w.event {
			t.Errorf("tx %d: %+v (event %q), want %+v", i, tx, tx.Event, w)
		}
	}
}

func TestParseBlockRefusesMalformed(t *testing.T) {
	good := envelope(t, common.HeaderType_ENDORSER_TRANSACTION, "tx", nil)
	cases := map[string]*common.Block{
		"no header":           {Data: &common.BlockData{}},
		"filter too short":    makeBlock(1, nil, [][]byte{good, good}, []byte{0}),
		"garbage envelope":    makeBlock(1, nil, [][]byte{[]byte("\xff\xff\xff")}, []byte{0}),
		"envelope w/o header": makeBlock(1, nil, [][]byte{mustMarshal(t, &common.Envelope{Payload: mustMarshal(t, &common.Payload{})})}, []byte{0}),
	}
	for name, blk := range cases {
		if _, err := parseBlock(blk, "hongshan"); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestBlockHashes(t *testing.T) {
	// Data hash: SHA-256 over the concatenated envelopes.
	d := &common.BlockData{Data: [][]byte{[]byte("ab"), []byte("c")}}
	want := sha256.Sum256([]byte("abc"))
	if !bytes.Equal(BlockDataHash(d), want[:]) {
		t.Error("data hash is not SHA-256 of the concatenation")
	}
	// Header hash: SHA-256 of the DER SEQUENCE {INTEGER number, OCTET
	// STRING previous, OCTET STRING data}, written out by hand here.
	h := &common.BlockHeader{Number: 1, PreviousHash: []byte{0xaa}, DataHash: []byte{0xbb, 0xcc}}
	der := []byte{0x30, 0x0a, 0x02, 0x01, 0x01, 0x04, 0x01, 0xaa, 0x04, 0x02, 0xbb, 0xcc}
	sum := sha256.Sum256(der)
	if !bytes.Equal(BlockHeaderHash(h), sum[:]) {
		t.Errorf("header hash %x, want %x", BlockHeaderHash(h), sum)
	}
	// Numbers >= 128 need a leading zero byte to stay positive in DER.
	h.Number = 200
	der = []byte{0x30, 0x0b, 0x02, 0x02, 0x00, 0xc8, 0x04, 0x01, 0xaa, 0x04, 0x02, 0xbb, 0xcc}
	sum = sha256.Sum256(der)
	if !bytes.Equal(BlockHeaderHash(h), sum[:]) {
		t.Errorf("header hash of block 200 %x, want %x", BlockHeaderHash(h), sum)
	}
}

func chain(t *testing.T, n int) []*common.Block {
	t.Helper()
	var blocks []*common.Block
	var prev *common.BlockHeader
	for i := 0; i < n; i++ {
		env := envelope(t, common.HeaderType_ENDORSER_TRANSACTION, "tx"+string(rune('a'+i)), nil)
		blk := makeBlock(uint64(i), prev, [][]byte{env}, []byte{0})
		blocks = append(blocks, blk)
		prev = blk.Header
	}
	return blocks
}

func TestVerifyChain(t *testing.T) {
	blocks := chain(t, 5)
	get := func(n uint64) (*common.Block, error) { return proto.Clone(blocks[n]).(*common.Block), nil }
	head := BlockHeaderHash(blocks[4].Header)

	var calls []uint64
	res, err := verifyChain(5, head, get, func(done, total uint64) {
		if total != 5 {
			t.Errorf("progress total %d", total)
		}
		calls = append(calls, done)
	})
	if err != nil || !res.OK || res.CheckedBlocks != 5 || res.FirstBadBlock != nil || res.HeadHash != hex.EncodeToString(head) {
		t.Fatalf("intact chain: %+v %v", res, err)
	}
	if len(calls) != 5 || calls[4] != 5 {
		t.Errorf("progress calls %v", calls)
	}

	tamper := func(name string, bad uint64, edit func(b []*common.Block), headHash []byte) {
		t.Helper()
		bs := make([]*common.Block, len(blocks))
		for i := range blocks {
			bs[i] = proto.Clone(blocks[i]).(*common.Block)
		}
		edit(bs)
		res, err := verifyChain(5, headHash, func(n uint64) (*common.Block, error) { return bs[n], nil }, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.OK || res.FirstBadBlock == nil || *res.FirstBadBlock != bad || res.Detail == "" {
			t.Errorf("%s: %+v, want block %d blamed", name, res, bad)
		}
	}
	tamper("rewritten transaction", 2, func(b []*common.Block) { b[2].Data.Data[0] = []byte("forged") }, head)
	tamper("re-hashed rewrite breaks the link", 3, func(b []*common.Block) {
		b[2].Data.Data[0] = []byte("forged")
		b[2].Header.DataHash = BlockDataHash(b[2].Data)
	}, head)
	tamper("wrong number", 1, func(b []*common.Block) { b[1].Header.Number = 9 }, head)
	tamper("head hash the peer states", 4, func([]*common.Block) {}, []byte("other"))

	// A fetch failure is an error, not a verdict.
	boom := errors.New("peer down")
	if _, err := verifyChain(5, head, func(uint64) (*common.Block, error) { return nil, boom }, nil); !errors.Is(err, boom) {
		t.Errorf("fetch failure: %v", err)
	}
	if !strings.Contains(res.Detail, "5 blocks") {
		t.Errorf("detail %q", res.Detail)
	}
}
