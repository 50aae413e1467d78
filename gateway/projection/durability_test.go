package projection

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/hongshan-ledger/hongshan/internal/unsynced"
)

func TestUnsyncedMarker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "projection.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + markerSuffix); err != nil {
		t.Fatalf("open store has no marker: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + markerSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("clean close left the marker: %v", err)
	}

	// A process crash in this boot keeps the file.
	if err := os.WriteFile(path+markerSuffix, append(unsynced.BootID(), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	discarded, err := prepareUnsynced(path)
	if err != nil || discarded && len(unsynced.BootID()) > 0 {
		t.Fatalf("same boot: discarded=%v err=%v", discarded, err)
	}

	// A crash in another boot discards it, to be rebuilt from the ledger.
	if err := os.WriteFile(path+markerSuffix, []byte("another-boot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	discarded, err = prepareUnsynced(path)
	if err != nil || !discarded {
		t.Fatalf("other boot: discarded=%v err=%v", discarded, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("torn file kept: %v", err)
	}
}
