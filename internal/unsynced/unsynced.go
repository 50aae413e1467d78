// Package unsynced guards files that are written without fsync because
// they can be rebuilt from a store that is fsync'd (the embedded ledger's
// ledger.db from its block log; the gateway's read model from the ledger).
//
// Skipping fsync is only unsafe across an operating-system crash: after a
// process crash (kill -9) the kernel still holds every page written. A
// Marker file beside the unsynced file names the boot it was opened in and
// is removed on a clean close. Finding a marker of another boot (or when
// the boot is unknown) means the file may be torn and must be rebuilt.
package unsynced

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// bootIDPath is the kernel's id of the current boot (Linux).
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// BootID is the current boot's id, or nil where the system has none.
func BootID() []byte {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil // unknown: every unclean shutdown counts as an OS crash
	}
	return bytes.TrimSpace(b)
}

// Marker is the path of a marker file.
type Marker string

// Trusted reports whether the guarded file can be used as it is: it was
// closed cleanly (no marker), or left open by a process of this boot.
func (m Marker) Trusted() (bool, error) {
	prev, err := os.ReadFile(string(m))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read %s: %w", m, err)
	}
	boot := BootID()
	return len(boot) > 0 && bytes.Equal(bytes.TrimSpace(prev), boot), nil
}

// Set records, durably, that the guarded file is open in this boot. Call it
// before the first unsynced write.
func (m Marker) Set() error {
	return WriteFileSynced(string(m), append(BootID(), '\n'))
}

// Clear removes the marker after the guarded file was synced and closed.
func (m Marker) Clear() error {
	if err := os.Remove(string(m)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", m, err)
	}
	return SyncDir(filepath.Dir(string(m)))
}

// WriteFileSynced writes data to path (mode 0600) and makes both the file
// and its directory entry durable.
func WriteFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
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
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a directory's entries (created, removed files) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
