package projection

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/hongshan-ledger/hongshan/internal/unsynced"
)

// The read model is derived data: every byte of it can be rebuilt from the
// ledger, which is the one store that fsyncs before a write is answered. So
// the read model's commits skip fsync (bbolt NoSync), and a marker
// (internal/unsynced) tells at the next open whether the file may be torn
// by an operating-system crash; then it is discarded and rebuilt.

const markerSuffix = ".open"

// prepareUnsynced discards the database at path when an earlier run in
// another boot did not close it, then marks it open in this boot.
func prepareUnsynced(path string) (discarded bool, err error) {
	marker := unsynced.Marker(path + markerSuffix)
	trusted, err := marker.Trusted()
	if err != nil {
		return false, fmt.Errorf("projection: %w", err)
	}
	if !trusted {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("projection: discard torn %s: %w", path, err)
		}
		discarded = true
	}
	if err := marker.Set(); err != nil {
		return discarded, fmt.Errorf("projection: %w", err)
	}
	return discarded, nil
}

// closeUnsynced flushes the database to disk and removes the marker.
func closeUnsynced(path string, sync func() error) error {
	if err := sync(); err != nil {
		return fmt.Errorf("projection: sync on close: %w", err)
	}
	if err := unsynced.Marker(path + markerSuffix).Clear(); err != nil {
		return fmt.Errorf("projection: %w", err)
	}
	return nil
}
