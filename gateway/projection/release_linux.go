//go:build linux

package projection

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped drops this process's page-table entries for the database's
// memory map (madvise MADV_DONTNEED on a read-only shared file mapping: the
// data stays in the page cache and the next access maps it again). Without
// it, streaming a million records leaves every page visited, and through
// the kernel's fault-around its neighbours, counted in the process's RSS.
//
// It must run inside a bbolt transaction: a read transaction holds the map
// in place, so the range cannot be unmapped and reused meanwhile. The call
// is advisory; its error is ignored.
func releaseMapped(tx *bolt.Tx) {
	size := tx.Size()
	if size <= 0 || size < releaseMinBytes {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, tx.DB().Info().Data, uintptr(size), syscall.MADV_DONTNEED)
}
