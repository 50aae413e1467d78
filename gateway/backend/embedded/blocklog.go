package embedded

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The block log (<dir>/blocks.log) is the ledger of record: every block, in
// order, appended as one record
//
//	length  uint32, big-endian: the payload's size
//	crc     uint32, big-endian: CRC-32C (Castagnoli) of the payload
//	payload the block record (encodeBlock), the same bytes ledger.db stores
//
// A batch's record is written with one write(2) and made durable with one
// fdatasync before any of its transactions is answered. ledger.db is the
// state and block index materialised from the log; see ADR 0002.
//
// The file is grown ahead of the records in steps of logPreallocBytes of
// written (and synced) zeros, so appending a record overwrites allocated
// blocks and its fdatasync writes data only: no change of size or extents,
// so no journal commit (which on ext4 would also flush every other file's
// newly allocated pages — ledger.db's). A header of zeros therefore ends
// the log; a real record is never shorter than a block header. At open the
// zeros past the last record are cut off, so no bytes of an earlier life of
// the file can follow the records.

// LogFileName is the block log inside the data directory.
const LogFileName = "blocks.log"

const (
	logHeaderSize = 8
	// maxLogRecord bounds a record's length field, so a torn or corrupt
	// header cannot make a reader allocate without bound. A block holds at
	// most maxTxsPerBlock transactions of bounded size; real ones are far
	// smaller.
	maxLogRecord = 1 << 30
	// logReadBuffer is the read-ahead of sequential log readers.
	logReadBuffer = 1 << 20
	// logPreallocBytes is the step in which the file grows ahead of its
	// records (see above).
	logPreallocBytes = 8 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a record that is incomplete or fails its checksum: at the
// end of the log it is a write that never finished (and so was never
// acknowledged).
var errTorn = errors.New("torn or damaged record")

// blockLog is the append side of the log, owned by the committer (appends)
// and the syncer (fdatasync).
type blockLog struct {
	f     *os.File
	end   int64 // end of the last whole record; committer only after open
	alloc int64 // the file's size: [end, alloc) holds zeros written ahead
}

// openBlockLog opens the log; its end is unknown until recovery has read
// it (setEnd).
func openBlockLog(path string) (*blockLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // path is the ledger's own file
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return &blockLog{f: f, end: st.Size(), alloc: st.Size()}, nil
}

// setEnd records where the records end and cuts off everything after it
// (zeros written ahead, or a torn record), durably.
func (g *blockLog) setEnd(end int64) error {
	g.end = end
	if g.alloc == end {
		return nil
	}
	if err := g.f.Truncate(end); err != nil {
		return fmt.Errorf("truncate %s: %w", LogFileName, err)
	}
	g.alloc = end
	if err := g.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", LogFileName, err)
	}
	return nil
}

// appendRecord frames one block record into dst.
func appendRecord(dst, rec []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(rec))) //nolint:gosec // len(rec) < maxLogRecord, checked by the caller
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(rec, crcTable))
	return append(dst, rec...)
}

// write appends framed records (one write(2)) and returns the new end. On a
// failed or short write it cuts the file back to the previous end, so the
// log never holds a partial record while the process lives.
func (g *blockLog) write(framed []byte) (int64, error) {
	if g.end+int64(len(framed)) > g.alloc {
		if err := g.grow(len(framed)); err != nil {
			return g.end, err
		}
	}
	n, err := g.f.WriteAt(framed, g.end)
	if err == nil && n != len(framed) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if g.f.Truncate(g.end) == nil {
			g.alloc = g.end
		}
		return g.end, fmt.Errorf("append to %s: %w", LogFileName, err)
	}
	g.end += int64(n)
	return g.end, nil
}

// grow writes zeros past the file's end, enough for need more bytes and at
// least logPreallocBytes, and syncs them (size and extents included).
func (g *blockLog) grow(need int) error {
	size := max(int64(logPreallocBytes), g.end+int64(need)-g.alloc)
	zeros := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := g.f.WriteAt(zeros[:n], g.alloc+off); err != nil {
			_ = g.f.Truncate(g.alloc)
			return fmt.Errorf("grow %s: %w", LogFileName, err)
		}
		off += n
	}
	if err := fdatasync(g.f); err != nil {
		return fmt.Errorf("grow %s: fdatasync: %w", LogFileName, err)
	}
	g.alloc += size
	return nil
}

// sync makes every record written so far durable.
func (g *blockLog) sync() error {
	if err := fdatasync(g.f); err != nil {
		return fmt.Errorf("fdatasync %s: %w", LogFileName, err)
	}
	return nil
}

func (g *blockLog) close() error { return g.f.Close() }

// logReader reads records sequentially from an offset.
type logReader struct {
	r   *bufio.Reader
	off int64 // offset of the next record
	hdr [logHeaderSize]byte
}

func newLogReader(f *os.File, from int64) *logReader {
	return &logReader{r: bufio.NewReaderSize(io.NewSectionReader(f, from, 1<<62), logReadBuffer), off: from}
}

// next returns the next record's payload (a fresh slice). io.EOF means the
// log ends cleanly at a record boundary (the file's end or zeros written
// ahead); an error wrapping errTorn means the bytes at lr.off do not form a
// whole, intact record.
func (lr *logReader) next() ([]byte, error) {
	if _, err := io.ReadFull(lr.r, lr.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w at offset %d: short header", errTorn, lr.off)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(lr.hdr[:4])
	sum := binary.BigEndian.Uint32(lr.hdr[4:])
	if n == 0 && sum == 0 {
		return nil, io.EOF
	}
	if n > maxLogRecord || n < headerSize {
		return nil, fmt.Errorf("%w at offset %d: length %d", errTorn, lr.off, n)
	}
	rec := make([]byte, n)
	if _, err := io.ReadFull(lr.r, rec); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w at offset %d: short record", errTorn, lr.off)
		}
		return nil, err
	}
	if crc32.Checksum(rec, crcTable) != sum {
		return nil, fmt.Errorf("%w at offset %d: checksum mismatch", errTorn, lr.off)
	}
	lr.off += logHeaderSize + int64(n)
	return rec, nil
}
