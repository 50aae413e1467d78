package embedded

import (
	"path/filepath"

	"github.com/hongshan-ledger/hongshan/internal/unsynced"
)

// ledger.db is written without fsync (the block log is what is fsync'd).
// A marker beside it (internal/unsynced) tells at the next open whether it
// may be torn by an operating-system crash; then it is rebuilt from the log.

const markerFileName = FileName + ".open"

func marker(dir string) unsynced.Marker {
	return unsynced.Marker(filepath.Join(dir, markerFileName))
}

// checkMarker reports whether ledger.db can be trusted: it was closed
// cleanly, or left open by a process of this boot.
func checkMarker(dir string) (bool, error) { return marker(dir).Trusted() }

// writeMarker records that ledger.db is open (unsynced) in this boot; it is
// durable before the first unsynced write.
func writeMarker(dir string) error { return marker(dir).Set() }

func removeMarker(dir string) error { return marker(dir).Clear() }
