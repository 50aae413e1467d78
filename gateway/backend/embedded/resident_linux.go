//go:build linux

package embedded

import (
	"bytes"
	"os"
	"strconv"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// dropResident tells the kernel this process no longer needs the pages of
// the file mapping resident (MADV_DONTNEED). bbolt maps the file shared and
// read-only, so nothing is lost: the pages stay in the page cache and a
// later read faults them back in. Holding a read transaction keeps bbolt
// from remapping meanwhile.
func dropResident(db *bolt.DB) error {
	return db.View(dropResidentIn)
}

// dropResidentIn is dropResident inside a read transaction the caller holds
// (a second one from the same goroutine could deadlock against a writer
// waiting to remap).
func dropResidentIn(tx *bolt.Tx) error {
	base := tx.DB().Info().Data
	size := uintptr(tx.Size()) //nolint:gosec // a file size, never negative
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, base, size, syscall.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}

// fileResident is the file-backed part of this process's RSS in bytes (the
// "shared" field of /proc/self/statm), or -1 when unknown.
func fileResident() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return -1
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}
