package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// This file holds the ledger's on-disk formats: the block record (header and
// the canonical transaction encoding the data hash covers), the version key
// and value of the state, and the write-set digest. Every format is length-prefixed
// binary, so one byte sequence decodes one way only and hashes are canonical.

// blockVersion tags the record layout; it is covered by the header hash.
const blockVersion byte = 1

// hashSize is the size of every hash in a block (SHA-256).
const hashSize = sha256.Size

// headerSize is the fixed part of a block record: version, number, previous
// hash, data hash, writes hash.
const headerSize = 1 + 8 + 3*hashSize

// Limits a decoder enforces so a corrupt record cannot make it allocate
// without bound.
const (
	maxTxsPerBlock = 1 << 16
	maxFieldBytes  = 16 << 20
)

var errCorrupt = errors.New("corrupt record")

// blockTx is one committed transaction: its inputs (enough to replay it), the
// outcome and its event.
type blockTx struct {
	TxID      string
	Fn        string
	Arg       []byte
	Caller    callerRec
	Timestamp int64 // unix nanoseconds, UTC; the contract's only clock
	Valid     bool
	EventName string
	Event     []byte
}

// callerRec is the identity the contract saw, as recorded in the block.
type callerRec struct {
	MSPID    string
	Name     string
	Role     string
	AgencyID string
}

// blockHeader is the hashed header of a block.
type blockHeader struct {
	Number     uint64
	PrevHash   [hashSize]byte
	DataHash   [hashSize]byte
	WritesHash [hashSize]byte
}

// hash is the block's identity: SHA-256 over its version and header fields.
func (h blockHeader) hash() [hashSize]byte {
	var buf [headerSize]byte
	h.encode(buf[:0])
	return sha256.Sum256(buf[:])
}

func (h blockHeader) encode(dst []byte) []byte {
	dst = append(dst, blockVersion)
	dst = binary.BigEndian.AppendUint64(dst, h.Number)
	dst = append(dst, h.PrevHash[:]...)
	dst = append(dst, h.DataHash[:]...)
	return append(dst, h.WritesHash[:]...)
}

// encodeTxs is the canonical encoding of a block's transactions; the data
// hash is SHA-256 over exactly these bytes, which are also what is stored.
func encodeTxs(dst []byte, txs []blockTx) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(txs)))
	for i := range txs {
		t := &txs[i]
		dst = appendString(dst, t.TxID)
		dst = appendString(dst, t.Fn)
		dst = appendBytes(dst, t.Arg)
		dst = appendString(dst, t.Caller.MSPID)
		dst = appendString(dst, t.Caller.Name)
		dst = appendString(dst, t.Caller.Role)
		dst = appendString(dst, t.Caller.AgencyID)
		dst = appendInt64(dst, t.Timestamp)
		if t.Valid {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
		dst = appendString(dst, t.EventName)
		dst = appendBytes(dst, t.Event)
	}
	return dst
}

// encodeBlock renders a block record: header, then the transactions.
func encodeBlock(h blockHeader, txSection []byte) []byte {
	out := make([]byte, 0, headerSize+len(txSection))
	out = h.encode(out)
	return append(out, txSection...)
}

// splitBlock separates a stored record into its header and its transaction
// section without decoding the transactions.
func splitBlock(rec []byte) (blockHeader, []byte, error) {
	var h blockHeader
	if len(rec) < headerSize || rec[0] != blockVersion {
		return h, nil, fmt.Errorf("%w: block header", errCorrupt)
	}
	h.Number = binary.BigEndian.Uint64(rec[1:9])
	copy(h.PrevHash[:], rec[9:])
	copy(h.DataHash[:], rec[9+hashSize:])
	copy(h.WritesHash[:], rec[9+2*hashSize:])
	return h, rec[headerSize:], nil
}

// decodeTxs parses a transaction section. The byte slices in the result
// alias txSection; copy them if txSection does not outlive their use.
func decodeTxs(txSection []byte) ([]blockTx, error) {
	d := decoder{b: txSection}
	n := d.uvarint()
	if d.err == nil && n > maxTxsPerBlock {
		return nil, fmt.Errorf("%w: %d transactions", errCorrupt, n)
	}
	txs := make([]blockTx, 0, n)
	var names interned
	for i := uint64(0); i < n && d.err == nil; i++ {
		var t blockTx
		t.TxID = d.str()
		t.Fn = names.of(d.bytes())
		t.Arg = d.bytes()
		t.Caller.MSPID = names.of(d.bytes())
		t.Caller.Name = d.str()
		t.Caller.Role = names.of(d.bytes())
		t.Caller.AgencyID = d.str()
		t.Timestamp = d.int64()
		switch d.byte() {
		case 0:
		case 1:
			t.Valid = true
		default:
			d.fail()
		}
		t.EventName = names.of(d.bytes())
		t.Event = d.bytes()
		txs = append(txs, t)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: transactions", errCorrupt)
	}
	return txs, nil
}

// interned makes the strings a block repeats in most of its transactions
// (function, MSP, role, event names) once per block, up to maxInterned of
// them.
type interned map[string]string

const maxInterned = 64

func (m *interned) of(b []byte) string {
	if s, ok := (*m)[string(b)]; ok {
		return s
	}
	s := string(b)
	if *m == nil {
		*m = make(interned)
	}
	if len(*m) < maxInterned {
		(*m)[s] = s
	}
	return s
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decoder reads the length-prefixed encoding, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > maxFieldBytes || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// int64 reads a two's-complement int64 written by appendInt64.
func (d *decoder) int64() int64 {
	return int64(d.uint64()) //nolint:gosec // a bit-for-bit reinterpretation, not a conversion of magnitude
}

// appendInt64 writes v as 8 big-endian bytes of its two's complement.
func appendInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)) //nolint:gosec // bit-for-bit, see decoder.int64
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// blockKey is the blocks bucket key of block n: big-endian, so bbolt keeps
// blocks in number order.
func blockKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// position names one transaction in the chain: its block and its index in
// the block. Positions order the history of a key.
type position struct {
	Block uint64
	Index uint32
}

// positionSize is the encoded size of a position.
const positionSize = 12

func (p position) less(q position) bool {
	return p.Block < q.Block || (p.Block == q.Block && p.Index < q.Index)
}

func (p position) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, p.Block)
	return binary.BigEndian.AppendUint32(dst, p.Index)
}

func decodePosition(b []byte) position {
	return position{Block: binary.BigEndian.Uint64(b), Index: binary.BigEndian.Uint32(b[8:])}
}

// The state is multi-version: every write of a state key is an entry of the
// versions bucket, keyed escapeKey(stateKey) followed by the writing
// transaction's position. The escape preserves order and makes the key
// self-delimiting: every 0x00 byte of the state key becomes 0x00 0xFF and the
// key ends with 0x00 0x01. So the versions of one key are contiguous and
// ordered by position, keys sort as their state keys do, and a state-key
// prefix maps to a version-key prefix. A key's newest version is its current
// value; all of them are its history.

// escapePrefix escapes key without the terminator.
func escapePrefix(dst []byte, key []byte) []byte {
	for {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			return append(dst, key...)
		}
		dst = append(append(dst, key[:i]...), 0, 0xFF)
		key = key[i+1:]
	}
}

// escapeKey escapes key with its terminator.
func escapeKey(dst []byte, key []byte) []byte {
	return append(escapePrefix(dst, key), 0, 1)
}

// versionKey is the versions bucket key of key's write at pos.
func versionKey(key []byte, pos position) []byte {
	dst := make([]byte, 0, len(key)+len(key)/4+2+positionSize)
	return pos.append(escapeKey(dst, key))
}

// splitVersionKey recovers the state key and the position of a version key.
func splitVersionKey(hk []byte) (key []byte, pos position, err error) {
	if len(hk) < 2+positionSize {
		return nil, pos, fmt.Errorf("%w: version key", errCorrupt)
	}
	esc, tail := hk[:len(hk)-positionSize], hk[len(hk)-positionSize:]
	key = make([]byte, 0, len(esc))
	for i := 0; i < len(esc); i++ {
		c := esc[i]
		if c != 0 {
			key = append(key, c)
			continue
		}
		if i+1 >= len(esc) {
			return nil, pos, fmt.Errorf("%w: version key", errCorrupt)
		}
		switch esc[i+1] {
		case 0xFF:
			key = append(key, 0)
			i++
		case 1:
			if i+2 != len(esc) {
				return nil, pos, fmt.Errorf("%w: version key", errCorrupt)
			}
			return key, decodePosition(tail), nil
		default:
			return nil, pos, fmt.Errorf("%w: version key", errCorrupt)
		}
	}
	return nil, pos, fmt.Errorf("%w: version key without terminator", errCorrupt)
}

// versionRec is the value of a version: who wrote it, when, and what.
type versionRec struct {
	TxID      string
	Timestamp int64
	IsDelete  bool
	Value     []byte
}

func encodeVersion(r versionRec) []byte {
	return appendVersion(make([]byte, 0, 8+1+1+len(r.TxID)+len(r.Value)), r)
}

func appendVersion(out []byte, r versionRec) []byte {
	out = appendInt64(out, r.Timestamp)
	if r.IsDelete {
		out = append(out, 1)
	} else {
		out = append(out, 0)
	}
	out = appendString(out, r.TxID)
	return append(out, r.Value...)
}

// decodeVersion parses a version; Value aliases b.
func decodeVersion(b []byte) (versionRec, error) {
	var r versionRec
	d := decoder{b: b}
	r.Timestamp = d.int64()
	switch d.byte() {
	case 0:
	case 1:
		r.IsDelete = true
	default:
		d.fail()
	}
	txid := d.bytes()
	if d.err != nil {
		return r, fmt.Errorf("%w: version value", errCorrupt)
	}
	r.TxID = string(txid)
	r.Value = d.b
	if r.IsDelete && len(r.Value) != 0 {
		return r, fmt.Errorf("%w: version deleting with a value", errCorrupt)
	}
	return r, nil
}

// writesDigest accumulates the state writes of a block's valid transactions,
// in order (transaction index, then key), so the header commits to the
// block's effect on the state and a replay can be compared block by block.
type writesDigest struct {
	buf []byte
	sum [hashSize]byte
	h   interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
}

func newWritesDigest() *writesDigest {
	return &writesDigest{h: sha256.New()}
}

func (w *writesDigest) add(index uint32, key []byte, value []byte, isDelete bool) {
	w.buf = binary.BigEndian.AppendUint32(w.buf[:0], index)
	w.buf = appendBytes(w.buf, key)
	if isDelete {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	_, _ = w.h.Write(w.buf)
	_, _ = w.h.Write(value)
}

func (w *writesDigest) digest() [hashSize]byte {
	copy(w.sum[:], w.h.Sum(nil))
	return w.sum
}

// hasPrefixKey reports whether a version key belongs to state key escKey
// (escaped with terminator).
func hasPrefixKey(hk, escKey []byte) bool {
	return len(hk) == len(escKey)+positionSize && bytes.HasPrefix(hk, escKey)
}
