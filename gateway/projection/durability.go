package projection

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The read model is derived data: every byte of it can be rebuilt from the
// ledger, which is the one store that fsyncs before a write is answered. So
// the read model's commits skip fsync (bbolt NoSync), which halves the
// fsyncs on a claim's path.
//
// Skipping fsync is only unsafe across an operating-system crash: after a
// process crash (kill -9) the kernel still holds every page written. A
// marker file beside the database names the boot it was opened in; it is
// removed on a clean close. Opening with a marker of another boot means the
// file may be torn, so it is discarded and rebuilt from the ledger.

const markerSuffix = ".open"

// bootIDPath is the kernel's id of the current boot (Linux).
var bootIDPath = "/proc/sys/kernel/random/boot_id"

func currentBootID() []byte {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil // unknown: every unclean shutdown counts as a crash
	}
	return bytes.TrimSpace(b)
}

// prepareUnsynced discards the database at path when an earlier run in
// another boot did not close it, then marks it open in this boot.
func prepareUnsynced(path string) (discarded bool, err error) {
	marker := path + markerSuffix
	boot := currentBootID()
	prev, err := os.ReadFile(marker)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("projection: read %s: %w", marker, err)
	case len(boot) == 0 || !bytes.Equal(bytes.TrimSpace(prev), boot):
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("projection: discard torn %s: %w", path, err)
		}
		discarded = true
	}
	if err := writeSynced(marker, append(boot, '\n')); err != nil {
		return discarded, err
	}
	return discarded, nil
}

// closeUnsynced flushes the database to disk and removes the marker.
func closeUnsynced(path string, sync func() error) error {
	if err := sync(); err != nil {
		return fmt.Errorf("projection: sync on close: %w", err)
	}
	if err := os.Remove(path + markerSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("projection: remove marker: %w", err)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("projection: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("projection: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("projection: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer func() { _ = dir.Close() }()
	return dir.Sync()
}
