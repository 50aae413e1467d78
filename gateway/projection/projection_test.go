package projection

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// scenario is a small ledger: two agencies, certifications, services,
// vouchers in two periods, transitions, a new policy, plus an invalid
// transaction and one without an event, which must change nothing.
type scenario struct {
	c          *chain
	a, b       string
	va1, va2   voucher.Voucher // agency a, 2024, 2023
	vb1        voucher.Voucher // agency b, 2024
	policy2    voucher.Policy
	redeemTxID string
}

func newScenario(t *testing.T) *scenario {
	sc := &scenario{c: newChain(t), a: agencyID(1), b: agencyID(2)}
	c := sc.c
	c.block(agencyEvent(sc.a, "天山服务机构"), agencyEvent(sc.b, "高新孵化器"))
	c.block(certEvent("GR202465000001", "E1", "2024-03-01"), serviceEvent("S-1", sc.a, "E1"))
	sc.va1 = newVoucher("V-2024-00000000000a0001", sc.a, "2024")
	sc.va2 = newVoucher("V-2023-00000000000a0002", sc.a, "2023")
	sc.vb1 = newVoucher("V-2024-00000000000b0001", sc.b, "2024")
	c.block(
		issueEvent(sc.va1, capUsage(sc.a, "2024", "5000.00", "95000.00", 1)),
		issueEvent(sc.va2, capUsage(sc.a, "2023", "5000.00", "95000.00", 1)),
		issueEvent(sc.vb1, capUsage(sc.b, "2024", "5000.00", "95000.00", 1)),
	)
	// Block 4: a redemption, a rejection releasing the cap, an invalid
	// transaction carrying an event and a valid one with none.
	redeem := moveEvent(sc.va1, voucher.StatusRedemptionRequested, voucher.EventRedemptionRequested, "Redeem")
	sc.redeemTxID = "tx-redeem"
	redeem.TxID = sc.redeemTxID
	reject := moveEvent(sc.vb1, voucher.StatusRejected, voucher.EventVoucherRejected, "Reject")
	ru := capUsage(sc.b, "2024", "0.00", "100000.00", 0)
	reject.Cap = &ru
	blk := c.block(redeem, reject)
	ghost := newVoucher("V-2024-0000000000ghost01", sc.a, "2024")
	blk.Txs = append(blk.Txs,
		backend.Tx{TxID: "tx-invalid", Valid: false, Event: encodeEvent(t, issueEvent(ghost, capUsage(sc.a, "2024", "1.00", "1.00", 9)))},
		backend.Tx{TxID: "tx-quiet", Valid: true})
	c.blocks[4] = blk
	sc.policy2 = voucher.Policy{Version: 2, UnitRewardCNY: "6000.00", CapPerAgencyCNY: "120000.00", CapScope: voucher.CapScopeYear,
		WindowFrom: "2026-03-01", WindowTo: "2029-02-28", StaleAfterDays: 90, SetAt: at(50), SetBy: "sci@HongshanEmbeddedMSP"}
	c.block(voucher.Event{Type: voucher.EventPolicySet, Actor: "sci@HongshanEmbeddedMSP", Policy: &sc.policy2})
	return sc
}

func TestQueriesAfterScenario(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)

	// Before any block: default policy, empty head.
	if p, err := s.Policy(); err != nil || !reflect.DeepEqual(p, voucher.DefaultPolicy()) {
		t.Fatalf("Policy before any block = %+v, %v; want the default", p, err)
	}
	if h, hash := s.Head(); h != 0 || hash != "" {
		t.Fatalf("Head of an empty store = %d %q", h, hash)
	}
	mustApply(t, s, sc.c.blocks...)

	if h, hash := s.Head(); h != 6 || hash != "h5" || s.Next() != 6 {
		t.Fatalf("Head = %d %q, Next = %d; want 6 h5 6", h, hash, s.Next())
	}

	// Agency with its caps, sorted by period.
	av, ok, err := s.Agency(sc.a)
	if err != nil || !ok {
		t.Fatalf("Agency(a) = %v %v", ok, err)
	}
	if av.Name != "天山服务机构" || av.Status != voucher.AgencyActive || av.RegisteredAt != at(0) {
		t.Fatalf("Agency(a) = %+v", av.Agency)
	}
	wantCaps := []voucher.CapUsage{capUsage(sc.a, "2023", "5000.00", "95000.00", 1), capUsage(sc.a, "2024", "5000.00", "95000.00", 1)}
	if !reflect.DeepEqual(av.Caps, wantCaps) {
		t.Fatalf("Agency(a).Caps = %+v, want %+v", av.Caps, wantCaps)
	}
	if _, ok, err := s.Agency("nobody"); ok || err != nil {
		t.Fatalf("Agency(unknown) = %v %v", ok, err)
	}

	// Agencies paged one by one.
	p1, err := s.Agencies(1, "")
	if err != nil || len(p1.Items) != 1 || p1.Items[0].ID != sc.a || p1.NextCursor == "" {
		t.Fatalf("Agencies page 1 = %+v, %v", p1, err)
	}
	p2, err := s.Agencies(1, p1.NextCursor)
	if err != nil || len(p2.Items) != 1 || p2.Items[0].ID != sc.b || p2.NextCursor != "" {
		t.Fatalf("Agencies page 2 = %+v, %v", p2, err)
	}
	if len(p2.Items[0].Caps) != 1 || p2.Items[0].Caps[0].UsedCNY != "0.00" {
		t.Fatalf("agency b caps after the rejection = %+v", p2.Items[0].Caps)
	}

	// Caps: stored, and the policy's limit where none is stored.
	if cu, err := s.Cap(sc.a, "2024"); err != nil || cu.UsedCNY != "5000.00" || cu.RemainingCNY != "95000.00" {
		t.Fatalf("Cap(a, 2024) = %+v %v", cu, err)
	}
	if cu, err := s.Cap(sc.a, "2025"); err != nil || cu != (voucher.CapUsage{AgencyID: sc.a, Period: "2025", LimitCNY: "100000.00", UsedCNY: "0.00", RemainingCNY: "100000.00"}) {
		t.Fatalf("Cap(a, 2025) = %+v %v", cu, err)
	}
	if cu, err := s.Cap(sc.a, "2027"); err != nil || cu.LimitCNY != "120000.00" || cu.RemainingCNY != "120000.00" {
		t.Fatalf("Cap(a, 2027) under policy 2 = %+v %v", cu, err)
	}
	if cu, err := s.Cap(sc.a, "program"); err != nil || cu.LimitCNY != "120000.00" {
		t.Fatalf("Cap(a, program) = %+v %v; want the newest policy's limit", cu, err)
	}

	// Policies.
	if p, err := s.Policy(); err != nil || p != sc.policy2 {
		t.Fatalf("Policy = %+v %v, want version 2", p, err)
	}
	for date, want := range map[string]int{"2024-05-01": 1, "2026-02-28": 1, "2026-03-01": 2, "2029-02-28": 2, "2022-12-31": 0, "2030-01-01": 0} {
		p, ok, err := s.PolicyFor(date)
		if err != nil || ok != (want != 0) || (ok && p.Version != want) {
			t.Errorf("PolicyFor(%s) = v%d %v %v, want v%d", date, p.Version, ok, err, want)
		}
	}
	if _, _, err := s.PolicyFor("2024-5-1"); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Errorf("PolicyFor(malformed) error = %v, want INVALID_ARGUMENT", err)
	}

	// Certification, voucher, history.
	if c, ok, err := s.Certification("GR202465000001"); err != nil || !ok || c.EnterpriseID != "E1" || c.IssuedOn != "2024-03-01" {
		t.Fatalf("Certification = %+v %v %v", c, ok, err)
	}
	if _, ok, _ := s.Certification("GR000000000000"); ok {
		t.Fatal("Certification(unknown) found")
	}
	if r, ok, err := s.ServiceRecord("S-1"); err != nil || !ok || r.AgencyID != sc.a {
		t.Fatalf("ServiceRecord = %+v %v %v", r, ok, err)
	}
	v, ok, err := s.Voucher(sc.va1.ID)
	wantV := sc.va1
	wantV.Status, wantV.LastAction, wantV.RedemptionRequestedAt = voucher.StatusRedemptionRequested, "Redeem", at(9)
	if err != nil || !ok || v != wantV {
		t.Fatalf("Voucher(va1) = %+v %v %v\nwant %+v", v, ok, err, wantV)
	}
	if _, ok, _ := s.Voucher("V-2024-0000000000ghost01"); ok {
		t.Fatal("the invalid transaction's voucher was applied")
	}
	hist, err := s.VoucherHistory(sc.va1.ID)
	if err != nil || len(hist) != 2 {
		t.Fatalf("VoucherHistory(va1) = %+v %v", hist, err)
	}
	if hist[0].Action != "Claim" || hist[0].Status != voucher.StatusIssued ||
		hist[1] != (voucher.HistoryItem{TxID: sc.redeemTxID, At: hist[1].At, Action: "Redeem", Actor: "someone@HongshanEmbeddedMSP", Status: voucher.StatusRedemptionRequested}) {
		t.Fatalf("VoucherHistory(va1) = %+v", hist)
	}
	if h, err := s.VoucherHistory("nope"); err != nil || h == nil || len(h) != 0 {
		t.Fatalf("VoucherHistory(unknown) = %#v %v; want an empty list", h, err)
	}

	// Listings.
	ids := func(f voucher.ListVouchersArgs) []string {
		t.Helper()
		page, err := s.Vouchers(f)
		if err != nil {
			t.Fatalf("Vouchers(%+v): %v", f, err)
		}
		var out []string
		for _, v := range page.Items {
			out = append(out, v.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    voucher.ListVouchersArgs
		want []string
	}{
		{voucher.ListVouchersArgs{}, []string{sc.va2.ID, sc.va1.ID, sc.vb1.ID}},
		{voucher.ListVouchersArgs{AgencyID: sc.a}, []string{sc.va2.ID, sc.va1.ID}},
		{voucher.ListVouchersArgs{Status: voucher.StatusIssued}, []string{sc.va2.ID}},
		{voucher.ListVouchersArgs{Status: voucher.StatusRejected}, []string{sc.vb1.ID}},
		{voucher.ListVouchersArgs{Period: "2024"}, []string{sc.va1.ID, sc.vb1.ID}},
		{voucher.ListVouchersArgs{AgencyID: sc.a, Period: "2024"}, []string{sc.va1.ID}},
		{voucher.ListVouchersArgs{AgencyID: sc.b, Status: voucher.StatusIssued}, nil},
		{voucher.ListVouchersArgs{AgencyID: "nobody"}, nil},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("Vouchers(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := s.Vouchers(voucher.ListVouchersArgs{Status: "lost"}); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Errorf("Vouchers(unknown status) error = %v", err)
	}

	// Stats.
	st, err := s.Stats()
	if err != nil || st.Height != 6 || st.Agencies != 2 || st.Certifications != 1 || st.ServiceRecords != 1 || st.Vouchers != 3 ||
		st.VouchersByStatus[voucher.StatusIssued] != 1 || st.VouchersByStatus[voucher.StatusRedemptionRequested] != 1 ||
		st.VouchersByStatus[voucher.StatusRejected] != 1 || st.VouchersByStatus[voucher.StatusReimbursed] != 0 {
		t.Fatalf("Stats = %+v %v", st, err)
	}
}

func TestSnapshot(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks...)
	err := s.View(func(snap Snapshot) error {
		if h, hash := snap.Head(); h != 6 || hash != "h5" {
			t.Errorf("snapshot Head = %d %q", h, hash)
		}
		var vs []string
		if err := snap.ForEachVoucher(func(v voucher.Voucher) error { vs = append(vs, v.AgencyID+"/"+v.ID); return nil }); err != nil {
			return err
		}
		want := []string{sc.a + "/" + sc.va2.ID, sc.a + "/" + sc.va1.ID, sc.b + "/" + sc.vb1.ID}
		if !slices.Equal(vs, want) {
			t.Errorf("ForEachVoucher order = %v, want %v", vs, want)
		}
		var agencies, caps, certs, services int
		_ = snap.ForEachAgency(func(voucher.Agency) error { agencies++; return nil })
		_ = snap.ForEachCap(func(voucher.CapUsage) error { caps++; return nil })
		_ = snap.ForEachCertification(func(voucher.Certification) error { certs++; return nil })
		_ = snap.ForEachServiceRecord(func(voucher.ServiceRecord) error { services++; return nil })
		if agencies != 2 || caps != 3 || certs != 1 || services != 1 {
			t.Errorf("ForEach counts: agencies %d caps %d certs %d services %d", agencies, caps, certs, services)
		}
		ps, err := snap.Policies()
		if err != nil || len(ps) != 2 || ps[0] != voucher.DefaultPolicy() || ps[1] != sc.policy2 {
			t.Errorf("Policies = %+v %v", ps, err)
		}
		l, ok := snap.(Lookup)
		if !ok {
			t.Fatal("the snapshot is not a Lookup")
		}
		if c, ok, err := l.Certification("GR202465000001"); !ok || err != nil || c.EnterpriseID != "E1" {
			t.Errorf("Lookup.Certification = %+v %v %v", c, ok, err)
		}
		if v, ok, err := l.Voucher(sc.va2.ID); !ok || err != nil || v.Period != "2023" {
			t.Errorf("Lookup.Voucher = %+v %v %v", v, ok, err)
		}
		stop := errors.New("stop")
		n := 0
		if err := snap.ForEachVoucher(func(voucher.Voucher) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("ForEachVoucher did not stop on the callback's error: %v after %d", err, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks...)
	commits := s.commits.Load()
	// Replaying every block, one by one and all at once, changes nothing.
	mustApply(t, s, sc.c.blocks...)
	if err := s.ApplyBlocks(sc.c.blocks...); err != nil {
		t.Fatal(err)
	}
	if s.commits.Load() != commits {
		t.Errorf("replays committed %d write transactions", s.commits.Load()-commits)
	}
	hist, err := s.VoucherHistory(sc.va1.ID)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history after replay = %+v %v; want 2 steps", hist, err)
	}
	if st, _ := s.Stats(); st.Vouchers != 3 || st.Agencies != 2 {
		t.Fatalf("counts after replay = %+v", st)
	}
}

func TestHistoryIgnoresARepeatedTransaction(t *testing.T) {
	// The checkpoint skips replayed blocks; the history also refuses a step
	// whose transaction it already holds, should a feed repeat one.
	s, _ := openTemp(t)
	c := newChain(t)
	v := newVoucher("V-2024-0000000000000001", agencyID(1), "2024")
	ev := issueEvent(v, capUsage(agencyID(1), "2024", "5000.00", "95000.00", 1))
	ev.TxID = "tx-same"
	c.block(ev)
	c.block(ev)
	mustApply(t, s, c.blocks...)
	if h, _ := s.VoucherHistory(v.ID); len(h) != 1 {
		t.Fatalf("history = %+v, want one step", h)
	}
}

func TestGapIsAnError(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks[:2]...)
	err := s.Apply(sc.c.blocks[3])
	if !errors.Is(err, ErrGap) {
		t.Fatalf("Apply(block 3) after block 1 = %v, want ErrGap", err)
	}
	// A batch with a gap commits nothing, not even its good prefix.
	if err := s.ApplyBlocks(sc.c.blocks[2], sc.c.blocks[4]); !errors.Is(err, ErrGap) {
		t.Fatalf("ApplyBlocks(2, 4) = %v, want ErrGap", err)
	}
	if s.Next() != 2 {
		t.Fatalf("Next = %d after refused blocks, want 2", s.Next())
	}
	if _, ok, _ := s.Certification("GR202465000001"); ok {
		t.Fatal("block 2 of a refused batch was committed")
	}
}

func TestDivergedLedgerIsRefused(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks[:3]...)
	other := sc.c.blocks[2]
	other.Hash = "another"
	if err := s.Apply(other); !errors.Is(err, ErrDiverged) {
		t.Fatalf("Apply(block 2 with another hash) = %v, want ErrDiverged", err)
	}
	// Older blocks are not compared: only the checkpoint's hash is kept.
	if err := s.Apply(sc.c.blocks[1]); err != nil {
		t.Fatal(err)
	}
}

func TestBadEventRefusesTheBlock(t *testing.T) {
	s, _ := openTemp(t)
	c := newChain(t)
	good := c.block(agencyEvent(agencyID(1), "ok"))
	mustApply(t, s, c.blocks[0])
	bad := good
	bad.Txs = append(slices.Clone(good.Txs), backend.Tx{TxID: "tx-bad", Valid: true, Event: []byte("{not json")})
	if err := s.Apply(bad); !errors.Is(err, errBadEvent) {
		t.Fatalf("Apply(undecodable event) = %v, want errBadEvent", err)
	}
	nul := voucher.Event{Type: voucher.EventAgencyRegistered, Agency: &voucher.Agency{ID: "a\x00b"}}
	bad.Txs = []backend.Tx{{TxID: "tx-nul", Valid: true, Event: encodeEvent(t, nul)}}
	if err := s.Apply(bad); !errors.Is(err, errBadEvent) {
		t.Fatalf("Apply(id with NUL) = %v, want errBadEvent", err)
	}
	if s.Next() != 1 {
		t.Fatalf("Next = %d after refused blocks", s.Next())
	}
	if _, ok, _ := s.Agency(agencyID(1)); ok {
		t.Fatal("a refused block's good transaction was applied")
	}
	mustApply(t, s, good)
}

func TestRestartResumesFromTheCheckpoint(t *testing.T) {
	s, path := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks[:4]...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	if h, hash := s2.Head(); h != 4 || hash != "h3" {
		t.Fatalf("Head after reopen = %d %q, want 4 h3", h, hash)
	}
	// A replay from an older block skips what is applied and goes on.
	if err := s2.ApplyBlocks(sc.c.blocks[2:]...); err != nil {
		t.Fatal(err)
	}
	if h, _ := s2.VoucherHistory(sc.va1.ID); len(h) != 2 {
		t.Fatalf("history after restart = %+v, want 2 steps", h)
	}
	if st, _ := s2.Stats(); st.Vouchers != 3 || st.Height != 6 {
		t.Fatalf("Stats after restart = %+v", st)
	}
}

func TestReopenWithAnotherSchemaRebuilds(t *testing.T) {
	s, path := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks...)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, []byte("0")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	if s2.Next() != 0 {
		t.Fatalf("Next after a schema change = %d, want 0 (rebuild)", s2.Next())
	}
	if st, _ := s2.Stats(); st.Vouchers != 0 {
		t.Fatalf("Stats after a schema change = %+v", st)
	}
	mustApply(t, s2, sc.c.blocks...)
	if st, _ := s2.Stats(); st.Vouchers != 3 {
		t.Fatalf("Stats after the rebuild = %+v", st)
	}
}

func TestWaitFor(t *testing.T) {
	s, _ := openTemp(t)
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks[:3]...) // blocks 0..2

	// Already applied: immediate.
	if err := s.WaitFor(context.Background(), 2); err != nil {
		t.Fatal(err)
	}

	// Block 3 is not applied: a waiter only leaves by its context.
	ctx, cancel := context.WithCancel(context.Background())
	early := make(chan error, 1)
	go func() { early <- s.WaitFor(ctx, 3) }()
	cancel()
	if err := <-early; !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor(3) before block 3 = %v, want context.Canceled", err)
	}

	// A waiter for block 3 sees its effects the moment it returns.
	type result struct {
		err   error
		found bool
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := s.WaitFor(ctx, 3)
		_, found, _ := s.Voucher(sc.va1.ID)
		done <- result{err, found}
	}()
	select {
	case r := <-done:
		t.Fatalf("WaitFor(3) returned %v before block 3 was applied", r.err)
	default:
	}
	mustApply(t, s, sc.c.blocks[3])
	if r := <-done; r.err != nil || !r.found {
		t.Fatalf("WaitFor(3) = %v, voucher visible %v", r.err, r.found)
	}

	// Close wakes the waiters.
	closed := make(chan error, 1)
	go func() { closed <- s.WaitFor(context.Background(), 100) }()
	_ = s.Close()
	if err := <-closed; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitFor after Close = %v, want ErrClosed", err)
	}
}

// TestReopenALayout2ReadModelRebuilds opens a file laid out as schema 2
// wrote it (voucher ids and histories in two buckets): it is emptied, the
// old buckets go too, and following the ledger again rebuilds it.
func TestReopenALayout2ReadModelRebuilds(t *testing.T) {
	path := t.TempDir() + "/projection.db"
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "counts", "agencies", "caps", "certs", "services", "policies", "vouchers", "voucher_ids", "voucher_hist", "idx_status", "idx_period"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaSchema, []byte("2")); err != nil {
			return err
		}
		return m.Put(metaNext, u64(7))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if s.Next() != 0 {
		t.Fatalf("Next after opening a layout-2 file = %d, want 0 (rebuild)", s.Next())
	}
	var names []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			names = append(names, string(name))
			if k, _ := b.Cursor().First(); k != nil && string(name) != "meta" {
				t.Errorf("bucket %s kept %q", name, k)
			}
			return nil
		})
	})
	want := make([]string, 0, len(allBuckets))
	for _, b := range allBuckets {
		want = append(want, string(b))
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("buckets = %q, want %q", names, want)
	}
	sc := newScenario(t)
	mustApply(t, s, sc.c.blocks...)
	if v, ok, err := s.Voucher(sc.va1.ID); err != nil || !ok || v.AgencyID != sc.a {
		t.Fatalf("Voucher after the rebuild = %+v %v %v", v, ok, err)
	}
}
