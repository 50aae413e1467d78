//go:build linux

package embedded

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// dropResident tells the kernel this process no longer needs the pages of
// the file mapping resident (MADV_DONTNEED). bbolt maps the file shared and
// read-only, so nothing is lost: the pages stay in the page cache and a
// later read faults them back in. Holding a read transaction keeps bbolt
// from remapping meanwhile.
func dropResident(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		base := db.Info().Data
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, base, uintptr(tx.Size()), syscall.MADV_DONTNEED); errno != 0 {
			return errno
		}
		return nil
	})
}
