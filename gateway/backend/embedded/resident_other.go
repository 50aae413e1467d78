//go:build !linux

package embedded

import bolt "go.etcd.io/bbolt"

// dropResident does nothing where madvise is not available.
func dropResident(db *bolt.DB) error { return nil }

// fileResident is unknown here.
func fileResident() int64 { return -1 }

// dropResidentIn does nothing where madvise is not available.
func dropResidentIn(tx *bolt.Tx) error { return nil }
