package report

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/backend/embedded"
	"github.com/hongshan-ledger/hongshan/gateway/report/internal/synth"
)

// TestVerifyOverHTTPFindsAnOfflineEdit writes a small embedded ledger,
// flips one byte of one past block in its bbolt file while it is closed,
// and asks GET /v1/ledger/verify: the answer names that block.
func TestVerifyOverHTTPFindsAnOfflineEdit(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	admin := backend.Caller{Name: "admin", Role: voucher.RoleSciTech}
	quiet := embedded.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	l, err := embedded.Open(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		arg, _ := json.Marshal(voucher.RegisterAgencyArgs{ID: synth.AgencyID(i), Name: "机构", Kind: voucher.KindServiceAgency})
		if _, err := l.Submit(ctx, admin, "RegisterAgency", arg); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verify := func() backend.VerifyResult {
		t.Helper()
		l, err := embedded.Open(ctx, dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		w := newWorld(t)
		w.commit()
		res := do(router(New(w.store, l)), "GET", "/v1/ledger/verify", "auditor", "", nil)
		if res.Code != 200 {
			t.Fatalf("%d %s", res.Code, res.Body.String())
		}
		var vr backend.VerifyResult
		if err := json.Unmarshal(res.Body.Bytes(), &vr); err != nil {
			t.Fatal(err)
		}
		return vr
	}
	if vr := verify(); !vr.OK || vr.Height < 5 || vr.CheckedBlocks != vr.Height {
		t.Fatalf("the intact ledger: %+v", vr)
	}

	const victim = 2
	db, err := bolt.Open(filepath.Join(dir, embedded.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("blocks"))
		if b == nil {
			t.Skip("the embedded ledger's file layout changed (no blocks bucket)")
		}
		key := binary.BigEndian.AppendUint64(nil, victim)
		rec := bytes.Clone(b.Get(key))
		if len(rec) == 0 {
			t.Skipf("the embedded ledger's file layout changed (no record for block %d)", victim)
		}
		rec[len(rec)/2] ^= 0x20
		return b.Put(key, rec)
	})
	if closeErr := db.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatal(err)
	}
	vr := verify()
	if vr.OK || vr.FirstBadBlock == nil || *vr.FirstBadBlock != victim || vr.Detail == "" {
		t.Errorf("after editing block %d: %+v", victim, vr)
	}
}
