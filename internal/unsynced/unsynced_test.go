package unsynced

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMarker(t *testing.T) {
	m := Marker(filepath.Join(t.TempDir(), "x.open"))
	if ok, err := m.Trusted(); !ok || err != nil {
		t.Fatalf("no marker: trusted=%v err=%v", ok, err)
	}
	if err := m.Set(); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Trusted(); err != nil || ok != (len(BootID()) > 0) {
		t.Fatalf("marker of this boot: trusted=%v err=%v", ok, err)
	}
	if err := os.WriteFile(string(m), []byte("another-boot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Trusted(); ok || err != nil {
		t.Fatalf("marker of another boot: trusted=%v err=%v", ok, err)
	}
	if err := m.Clear(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := m.Trusted(); !ok {
		t.Fatal("cleared marker still distrusted")
	}
}
