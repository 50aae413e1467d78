package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	bolt "go.etcd.io/bbolt"
)

// metaLogEnd is the offset in blocks.log just past the head block's record,
// written in the same bbolt transaction as the head: recovery reads the log
// from there, so opening costs the unapplied tail, not the whole log.
var metaLogEnd = []byte("log-end")

// Bounds of one bbolt transaction while replaying the log.
const (
	replayChunkBlocks = 256
	replayChunkBytes  = 8 << 20
)

func encodeLogEnd(end int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(end)) } //nolint:gosec // an offset, never negative

func decodeLogEnd(b []byte) (int64, error) {
	if len(b) != 8 || binary.BigEndian.Uint64(b) > 1<<62 {
		return 0, fmt.Errorf("%w: log end record", errCorrupt)
	}
	return int64(binary.BigEndian.Uint64(b)), nil //nolint:gosec // bounded above
}

// init brings ledger.db level with the block log and loads the head:
//   - a new ledger gets its genesis block, in the log first;
//   - a ledger.db of the format before the log (fsync'd, no log) has its
//     blocks copied into a new log;
//   - otherwise every whole record past ledger.db's head (all of them when
//     ledger.db was discarded after an OS crash) is replayed into it, and a
//     torn record at the end of the log — never acknowledged — is cut off.
func (l *Ledger) init() error {
	var (
		head    headRef
		hasHead bool
		logEnd  int64 = -1
	)
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketVersions, bucketBlocks, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if rec := meta.Get(metaHead); rec != nil {
			h, err := decodeHead(rec)
			if err != nil {
				return err
			}
			if last, _ := tx.Bucket(bucketBlocks).Cursor().Last(); last == nil || !bytes.Equal(last, blockKey(h.number)) {
				return fmt.Errorf("%w: head names block %d, not the newest stored block", errCorrupt, h.number)
			}
			head, hasHead = h, true
			if rec := meta.Get(metaLogEnd); rec != nil {
				if logEnd, err = decodeLogEnd(rec); err != nil {
					return err
				}
			}
			return nil
		}
		if k, _ := tx.Bucket(bucketBlocks).Cursor().First(); k != nil {
			return fmt.Errorf("%w: blocks without a head record", errCorrupt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case hasHead && logEnd < 0:
		if head, err = l.migrate(head); err != nil {
			return err
		}
	case hasHead && logEnd > l.log.alloc:
		return fmt.Errorf("%w: %s ends at byte %d but ledger.db holds blocks up to byte %d: the log lost records",
			errCorrupt, LogFileName, l.log.alloc, logEnd)
	default:
		from := int64(0)
		if hasHead {
			from = logEnd
		}
		if head, hasHead, err = l.replayLog(from, head, hasHead); err != nil {
			return err
		}
		if !hasHead {
			if head, err = l.writeGenesis(); err != nil {
				return err
			}
		}
	}
	l.head, l.tip = head, head
	// A damaged head block leaves the clock at 0 (the wall clock then
	// rules); Verify names the damage.
	return l.db.View(func(tx *bolt.Tx) error {
		l.lastTS, _ = l.readTimestamp(tx, head.number)
		return nil
	})
}

// writeGenesis starts a new ledger: block 0, no transactions, zero
// previous hash; durable in the log before ledger.db records it.
func (l *Ledger) writeGenesis() (headRef, error) {
	section := encodeTxs(nil, nil)
	hdr := blockHeader{Number: 0, DataHash: sumSHA256(section), WritesHash: newWritesDigest().digest()}
	rec := encodeBlock(hdr, section)
	head := headRef{number: 0, hash: hdr.hash()}
	end, err := l.log.write(appendRecord(nil, rec))
	if err != nil {
		return head, err
	}
	if err := l.log.sync(); err != nil {
		return head, err
	}
	return head, l.db.Update(func(tx *bolt.Tx) error {
		if err := putBlock(tx, 0, rec, head); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaLogEnd, encodeLogEnd(end))
	})
}

// migrate copies the blocks of a ledger.db written before the block log
// existed (every commit fsync'd, so it is complete) into a new log. A log
// left by an interrupted migration is started over.
func (l *Ledger) migrate(head headRef) (headRef, error) {
	l.cfg.log.Warn("embedded ledger: no block log yet; copying ledger.db's blocks into "+LogFileName, "height", head.number+1)
	if err := l.log.setEnd(0); err != nil {
		return head, err
	}
	var buf []byte
	for from := uint64(0); from <= head.number; {
		buf = buf[:0]
		err := l.db.View(func(tx *bolt.Tx) error {
			blocks := tx.Bucket(bucketBlocks)
			for ; from <= head.number && len(buf) < replayChunkBytes; from++ {
				rec := blocks.Get(blockKey(from))
				if rec == nil {
					return fmt.Errorf("%w: block %d missing", errCorrupt, from)
				}
				buf = appendRecord(buf, rec)
			}
			return nil
		})
		if err != nil {
			return head, err
		}
		if _, err := l.log.write(buf); err != nil {
			return head, err
		}
		l.touch(len(buf))
	}
	if err := l.log.sync(); err != nil {
		return head, err
	}
	return head, l.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaLogEnd, encodeLogEnd(l.log.end))
	})
}

// loggedBlock is a log record awaiting replay and the log offset after it.
type loggedBlock struct {
	rec []byte
	end int64
}

// replayLog applies the log's records from offset from onwards to
// ledger.db, which holds the chain up to head (nothing when !hasHead). A
// torn record ends the log: it is cut off and the cut is logged loudly.
func (l *Ledger) replayLog(from int64, head headRef, hasHead bool) (headRef, bool, error) {
	lr := newLogReader(l.log.f, from)
	var (
		chunk    []loggedBlock
		bytesIn  int
		replayed int
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		h, has := head, hasHead
		err := l.db.Update(func(tx *bolt.Tx) error {
			for _, b := range chunk {
				var err error
				if h, err = l.applyLogged(tx, b.rec, h, has); err != nil {
					return err
				}
				has = true
			}
			return tx.Bucket(bucketMeta).Put(metaLogEnd, encodeLogEnd(chunk[len(chunk)-1].end))
		})
		if err != nil {
			return err
		}
		head, hasHead = h, has
		replayed += len(chunk)
		l.touch(bytesIn)
		chunk, bytesIn = chunk[:0], 0
		return nil
	}
	for {
		rec, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTorn) {
			if err := flush(); err != nil {
				return head, hasHead, err
			}
			l.cfg.log.Error("embedded ledger: "+LogFileName+" ends in a torn record, a write that never completed and was never acknowledged; cutting it off",
				"err", err, "offset", lr.off, "bytes_dropped", l.log.alloc-lr.off)
			break
		}
		if err != nil {
			return head, hasHead, fmt.Errorf("read %s: %w", LogFileName, err)
		}
		chunk = append(chunk, loggedBlock{rec: rec, end: lr.off})
		bytesIn += len(rec)
		if len(chunk) >= replayChunkBlocks || bytesIn >= replayChunkBytes {
			if err := flush(); err != nil {
				return head, hasHead, err
			}
		}
	}
	if err := flush(); err != nil {
		return head, hasHead, err
	}
	if err := l.log.setEnd(lr.off); err != nil {
		return head, hasHead, err
	}
	if replayed > 0 {
		l.cfg.log.Info("embedded ledger: replayed blocks from "+LogFileName+" into ledger.db", "blocks", replayed, "head", head.number)
	}
	return head, hasHead, nil
}

// applyLogged replays one logged block on top of prev (nothing when
// !hasPrev): the transactions run again through the contract with their
// recorded ids, timestamps and callers, and must be accepted, emit the
// recorded events and produce the block's writes hash.
func (l *Ledger) applyLogged(tx *bolt.Tx, rec []byte, prev headRef, hasPrev bool) (headRef, error) {
	hdr, section, err := splitBlock(rec)
	if err != nil {
		return prev, fmt.Errorf("%s: %w", LogFileName, err)
	}
	var want uint64
	var prevHash [hashSize]byte
	if hasPrev {
		want, prevHash = prev.number+1, prev.hash
	}
	if hdr.Number != want {
		return prev, fmt.Errorf("%w: %s holds block %d where block %d belongs", errCorrupt, LogFileName, hdr.Number, want)
	}
	if hdr.PrevHash != prevHash {
		return prev, fmt.Errorf("%w: %s block %d does not link to block %d", errCorrupt, LogFileName, hdr.Number, prev.number)
	}
	if sumSHA256(section) != hdr.DataHash {
		return prev, fmt.Errorf("%w: %s block %d: data hash mismatch", errCorrupt, LogFileName, hdr.Number)
	}
	txs, err := decodeTxs(section)
	if err != nil {
		return prev, fmt.Errorf("%s block %d: %w", LogFileName, hdr.Number, err)
	}
	versions := tx.Bucket(bucketVersions)
	digest := newWritesDigest()
	for i, t := range txs {
		if !t.Valid {
			return prev, fmt.Errorf("%w: %s block %d transaction %d is marked invalid", errCorrupt, LogFileName, hdr.Number, i)
		}
		pos := position{Block: hdr.Number, Index: uint32(i)} //nolint:gosec // i < maxTxsPerBlock
		caller := voucher.Identity{MSPID: t.Caller.MSPID, Name: t.Caller.Name, Role: voucher.Role(t.Caller.Role), AgencyID: t.Caller.AgencyID}
		c := newTxContext(bucketView(versions, pos), true, t.TxID, time.Unix(0, t.Timestamp).UTC(), caller)
		if err := l.replay(c, t.Fn, t.Arg); err != nil {
			return prev, fmt.Errorf("%w: replaying block %d transaction %d (%s %s): the contract rejects it: %w",
				errCorrupt, hdr.Number, i, t.Fn, t.TxID, err)
		}
		if c.eventName != t.EventName || !bytes.Equal(c.event, t.Event) {
			return prev, fmt.Errorf("%w: replaying block %d transaction %d (%s %s): another event",
				errCorrupt, hdr.Number, i, t.Fn, t.TxID)
		}
		if err := putWrites(versions, digest, pos, t.TxID, t.Timestamp, c.sortedWrites()); err != nil {
			return prev, err
		}
	}
	if digest.digest() != hdr.WritesHash {
		return prev, fmt.Errorf("%w: replaying block %d: the writes differ from its writes hash", errCorrupt, hdr.Number)
	}
	head := headRef{number: hdr.Number, hash: hdr.hash()}
	return head, putBlock(tx, hdr.Number, rec, head)
}
