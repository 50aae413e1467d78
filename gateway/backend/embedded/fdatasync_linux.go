//go:build linux

package embedded

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the size, when it grew) without the other
// metadata an fsync also writes.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd())) //nolint:gosec // a file descriptor fits an int
		if err != syscall.EINTR {
			return err
		}
	}
}
