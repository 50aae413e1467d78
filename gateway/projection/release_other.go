//go:build !linux

package projection

import bolt "go.etcd.io/bbolt"

// releaseMapped is a no-op where MADV_DONTNEED is not wired up.
func releaseMapped(*bolt.Tx) {}
