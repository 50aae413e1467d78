package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ledger.db is written without fsync (the block log is what is fsync'd).
// That is safe across a process crash — the kernel keeps every page written
// — but not across an operating-system crash. A marker file beside
// ledger.db names the boot it was opened in and is removed on a clean
// close; opening with a marker of another boot (or when the boot is
// unknown) means ledger.db may be torn, so it is rebuilt from the log.

const markerFileName = FileName + ".open"

// bootIDPath is the kernel's id of the current boot (Linux).
var bootIDPath = "/proc/sys/kernel/random/boot_id"

func currentBootID() []byte {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil // unknown: every unclean shutdown counts as an OS crash
	}
	return bytes.TrimSpace(b)
}

// checkMarker reports whether ledger.db can be trusted: it was closed
// cleanly, or left open by a process of this boot.
func checkMarker(dir string) (trusted bool, err error) {
	prev, err := os.ReadFile(filepath.Join(dir, markerFileName)) //nolint:gosec // the ledger's own file
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read %s: %w", markerFileName, err)
	}
	boot := currentBootID()
	return len(boot) > 0 && bytes.Equal(bytes.TrimSpace(prev), boot), nil
}

// writeMarker records that ledger.db is open (unsynced) in this boot; it is
// durable before the first unsynced write.
func writeMarker(dir string) error {
	return writeSynced(filepath.Join(dir, markerFileName), append(currentBootID(), '\n'))
}

func removeMarker(dir string) error {
	if err := os.Remove(filepath.Join(dir, markerFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", markerFileName, err)
	}
	return syncDir(dir)
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // the ledger's own file
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the directory's entries (created, removed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // the ledger's own directory
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
