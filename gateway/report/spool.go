package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// spool keeps the rows of a report that may be too many for memory
// (exceptions, match rows) in a temporary file, one compact JSON object a
// line, in the order they were found. A report is computed inside a
// projection read transaction and rendered after it: the spool is what
// lets the read transaction end before the first byte goes to a slow
// client, and what keeps a million rows out of the heap.
type spool struct {
	dirName string
	f       *os.File
	w       *bufio.Writer
	n       int
	bytes   int64
	limit   int64
}

// maxSpoolLine bounds one spooled row when it is read back.
const maxSpoolLine = 1 << 20

func newSpool(dir string, limitBytes int64) (*spool, error) {
	f, err := os.CreateTemp(dir, "hongshan-report-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("report: spool: %w", err)
	}
	// Unlinked at once where the system allows it (Unix), so the file
	// disappears with the process whatever happens; close removes it
	// elsewhere.
	_ = os.Remove(f.Name())
	return &spool{dirName: dir, f: f, w: bufio.NewWriterSize(f, 256<<10), limit: limitBytes}, nil
}

// errSpoolFull: the spool reached its byte limit.
var errSpoolFull = errors.New("report: spool is full")

// add appends one row.
func (s *spool) add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	if s.limit > 0 && s.bytes+int64(len(b))+1 > s.limit {
		return errSpoolFull
	}
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	if err := s.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	s.n++
	s.bytes += int64(len(b)) + 1
	return nil
}

// lines calls fn with each row's raw JSON (without its line break), in
// order. The slice is only valid during the call.
func (s *spool) lines(fn func([]byte) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	sc := bufio.NewScanner(io.LimitReader(s.f, s.bytes))
	sc.Buffer(make([]byte, 0, 64<<10), maxSpoolLine)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	return nil
}

// each decodes every row into a fresh T and calls fn with it.
func each[T any](s *spool, fn func(T) error) error {
	return s.lines(func(b []byte) error {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("report: spool: %w", err)
		}
		return fn(v)
	})
}

// dir is the directory of the spool file, for other temporary files of
// the same report.
func (s *spool) dir() string { return s.dirName }

// close removes the file.
func (s *spool) close() error {
	if s == nil || s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	s.f = nil
	if rmErr := os.Remove(name); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
		err = rmErr
	}
	return err
}
