package fabric

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// The integration test runs against a real network when
// HONGSHAN_FABRIC_PROFILE names its connection profile, e.g.
//
//	bash network/up.sh
//	HONGSHAN_FABRIC_PROFILE=$PWD/network/.state/connection-profile.yaml \
//	  go test -count=1 -run Integration -v ./gateway/backend/fabric/
//
// It makes fresh principals, agency, enterprise and certificate each run, so
// it can run again on the same network.
func fabricProfile(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HONGSHAN_FABRIC_PROFILE")
	if p == "" {
		t.Skip("HONGSHAN_FABRIC_PROFILE is not set: no Fabric network to test against")
	}
	return p
}

// uscc builds a valid USCC (both check characters) from 8 digits.
func uscc(digits string) string {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	weightsOrg := []int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		sum += int(digits[i]-'0') * weightsOrg[i]
	}
	var orgCheck byte
	switch c := 11 - sum%11; c {
	case 10:
		orgCheck = 'X'
	case 11:
		orgCheck = '0'
	default:
		orgCheck = byte('0' + c)
	}
	s := "91650104" + digits + string(orgCheck)
	weights := []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum = 0
	for i := 0; i < 17; i++ {
		sum += strings.IndexByte(alphabet, s[i]) * weights[i]
	}
	return s + string(alphabet[(31-sum%31)%31])
}

func TestUSCCHelperMakesValidCodes(t *testing.T) {
	for i := 0; i < 50; i++ {
		id := uscc(fmt.Sprintf("%08d", rand.IntN(100_000_000)))
		if err := voucher.ValidateUSCC(id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
}

type step struct {
	fn      string
	receipt backend.Receipt
	took    time.Duration
	event   string
}

func TestIntegrationVoucherLife(t *testing.T) {
	profile := fabricProfile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	wallet := filepath.Join(t.TempDir(), "wallet")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	start := time.Now()
	b, err := Open(ctx, WithProfile(profile), WithWalletDir(wallet), WithLogger(log))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = b.Close() }()
	t.Logf("open: %s", time.Since(start))

	info0, err := b.Info(ctx)
	if err != nil || info0.Height == 0 || len(info0.HeadHash) != 64 {
		t.Fatalf("info %+v: %v", info0, err)
	}

	// Follow the chain from the current head before writing anything.
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	blocks, streamErr := b.Blocks(streamCtx, info0.Height)

	run := rand.IntN(1_000_000)
	sci := backend.Caller{Name: fmt.Sprintf("it-sci-%06d", run), Role: voucher.RoleSciTech}
	fin := backend.Caller{Name: fmt.Sprintf("it-fin-%06d", run), Role: voucher.RoleFinance}
	agencyID := uscc(fmt.Sprintf("%08d", rand.IntN(100_000_000)))
	ag := backend.Caller{Name: fmt.Sprintf("it-ag-%06d", run), Role: voucher.RoleAgency, AgencyID: agencyID}
	for _, c := range []backend.Caller{sci, fin, ag} {
		t0 := time.Now()
		if err := b.Enroll(ctx, c); err != nil {
			t.Fatalf("enroll %s: %v", c.Name, err)
		}
		t.Logf("enroll %s (%s): %s", c.Name, c.Role, time.Since(t0))
	}
	t0 := time.Now()
	if err := b.Enroll(ctx, ag); err != nil {
		t.Fatalf("second enroll: %v", err)
	}
	t.Logf("enroll again (wallet hit): %s", time.Since(t0))

	enterprise := uscc(fmt.Sprintf("%08d", rand.IntN(100_000_000)))
	certNo := fmt.Sprintf("GR202465%06d", run)
	var steps []*step
	submit := func(c backend.Caller, fn string, arg any, event string) backend.Receipt {
		t.Helper()
		raw, err := json.Marshal(arg)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		r, err := b.Submit(ctx, c, fn, raw)
		if err != nil {
			t.Fatalf("%s as %s: %v", fn, c.Name, err)
		}
		s := &step{fn: fn, receipt: r, took: time.Since(t0), event: event}
		steps = append(steps, s)
		t.Logf("%s: tx %s… block %d in %s", fn, r.TxID[:12], r.BlockNumber, s.took)
		return r
	}
	reject := func(c backend.Caller, fn string, arg any, want voucher.Code) {
		t.Helper()
		raw, _ := json.Marshal(arg)
		_, err := b.Submit(ctx, c, fn, raw)
		var ve *voucher.Error
		if !errors.As(err, &ve) || ve.Code != want {
			t.Errorf("%s as %s: %v, want %s", fn, c.Name, err, want)
		}
	}

	submit(sci, "RegisterAgency", voucher.RegisterAgencyArgs{ID: agencyID, Name: "集成测试服务机构", Kind: voucher.KindServiceAgency}, voucher.EventAgencyRegistered)
	// The role comes from the certificate: an agency cannot register one.
	reject(ag, "RegisterAgency", voucher.RegisterAgencyArgs{ID: uscc("12345678"), Name: "x", Kind: voucher.KindServiceAgency}, voucher.CodeForbidden)
	submit(sci, "RecordCertification", voucher.RecordCertificationArgs{EnterpriseID: enterprise, EnterpriseName: "集成测试企业", CertificateNo: certNo, IssuedOn: "2024-11-20", Kind: voucher.CertFirst}, voucher.EventCertificationRecorded)
	sum := sha256.Sum256([]byte(certNo))
	submit(ag, "RecordService", voucher.RecordServiceArgs{EnterpriseID: enterprise, ContractRef: "IT-" + certNo, StartedOn: "2024-01-15", EvidenceSHA256: hex.EncodeToString(sum[:])}, voucher.EventServiceRecorded)
	claim := submit(ag, "Claim", voucher.ClaimArgs{EnterpriseID: enterprise, CertificateNo: certNo}, voucher.EventVoucherIssued)
	var v voucher.Voucher
	if err := json.Unmarshal(claim.Payload, &v); err != nil || v.ID == "" || v.AmountCNY != "5000.00" || v.AgencyID != agencyID {
		t.Fatalf("claim payload %s: %v", claim.Payload, err)
	}
	reject(ag, "Claim", voucher.ClaimArgs{EnterpriseID: enterprise, CertificateNo: certNo}, voucher.CodeAlreadyClaimed)
	submit(ag, "Redeem", voucher.VoucherIDArgs{ID: v.ID}, voucher.EventRedemptionRequested)
	// Paid today in Beijing time, the contract's calendar (after 16:00 UTC
	// the voucher is issued on what is tomorrow in UTC).
	paidOn := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	reject(fin, "Reimburse", voucher.ReimburseArgs{ID: v.ID, PaymentRef: fmt.Sprintf("IT-%06d", run), AmountCNY: "4999.00", PaidOn: paidOn}, voucher.CodeAmountMismatch)
	last := submit(fin, "Reimburse", voucher.ReimburseArgs{ID: v.ID, PaymentRef: fmt.Sprintf("IT-%06d", run), AmountCNY: "5000.00", PaidOn: paidOn}, voucher.EventVoucherReimbursed)

	// Reads as the caller, on the committed state.
	t0 = time.Now()
	out, err := b.Evaluate(ctx, ag, "GetVoucher", []byte(`{"id":"`+v.ID+`"}`))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	t.Logf("evaluate GetVoucher: %s", time.Since(t0))
	var got voucher.Voucher
	if err := json.Unmarshal(out, &got); err != nil || got.Status != voucher.StatusReimbursed {
		t.Errorf("GetVoucher %s: %v", out, err)
	}
	if _, err := b.Evaluate(ctx, fin, "GetVoucher", []byte(`{"id":"V-nope"}`)); voucher.CodeOf(err) == voucher.CodeInternal {
		t.Errorf("missing voucher: %v", err)
	}

	// Every receipt's transaction arrives on the block stream, valid, in
	// the block the receipt names, with its event; blocks come in order.
	want := map[string]*step{}
	for _, s := range steps {
		want[s.receipt.TxID] = s
	}
	next := info0.Height
	var prevHash string
	deadline := time.After(time.Minute)
	for next <= last.BlockNumber {
		select {
		case blk, ok := <-blocks:
			if !ok {
				t.Fatalf("block stream ended: %v", streamErr())
			}
			if blk.Number != next {
				t.Fatalf("block %d, expected %d", blk.Number, next)
			}
			if len(blk.Hash) != 64 || blk.Hash == prevHash {
				t.Errorf("block %d hash %q", blk.Number, blk.Hash)
			}
			prevHash = blk.Hash
			next++
			for _, tx := range blk.Txs {
				s, ok := want[tx.TxID]
				if !ok {
					continue
				}
				delete(want, tx.TxID)
				if !tx.Valid || blk.Number != s.receipt.BlockNumber {
					t.Errorf("%s: valid %v in block %d, receipt says %d", s.fn, tx.Valid, blk.Number, s.receipt.BlockNumber)
				}
				var ev voucher.Event
				if err := json.Unmarshal(tx.Event, &ev); err != nil || ev.Type != s.event || ev.TxID != tx.TxID {
					t.Errorf("%s: event %s: %v", s.fn, tx.Event, err)
				}
			}
		case <-deadline:
			t.Fatalf("block stream stalled at %d", next)
		}
	}
	if len(want) != 0 {
		t.Errorf("transactions not seen on the stream: %d", len(want))
	}

	// The head hash the stream reported is the ledger's.
	info, err := b.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Height == next && info.HeadHash != prevHash {
		t.Errorf("stream's head hash %s, ledger's %s", prevHash, info.HeadHash)
	}

	t0 = time.Now()
	res, err := b.Verify(ctx, nil)
	if err != nil || !res.OK || res.CheckedBlocks < last.BlockNumber+1 {
		t.Errorf("verify: %+v %v", res, err)
	}
	t.Logf("verify %d blocks: %s (%s)", res.CheckedBlocks, time.Since(t0), res.Detail)

	// Keys in the wallet are the gateway's alone.
	err = filepath.WalkDir(wallet, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %o", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var total time.Duration
	for _, s := range steps {
		total += s.took
	}
	t.Logf("%d submits, mean %s", len(steps), total/time.Duration(len(steps)))

	// A restarted backend signs from the wallet without enrolling again.
	stopStream()
	for range blocks {
	}
	if err := streamErr(); err != nil {
		t.Errorf("stream ended with %v", err)
	}
	certFile := filepath.Join(wallet, walletCertDir, b.enrollmentID(ag.Name)+"@SciTechBureauMSP-cert.pem")
	before, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatalf("wallet certificate: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := Open(ctx, WithProfile(profile), WithWalletDir(wallet), WithLogger(log))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer func() { _ = b2.Close() }()
	if _, err := b2.Evaluate(ctx, ag, "GetVoucher", []byte(`{"id":"`+v.ID+`"}`)); err != nil {
		t.Errorf("evaluate after reopen: %v", err)
	}
	after, err := os.ReadFile(certFile)
	if err != nil || string(after) != string(before) {
		t.Errorf("the reopened backend enrolled again (%v)", err)
	}
}

// TestIntegrationBlocksFromGenesis reads the config block and a few more.
func TestIntegrationBlocksFromGenesis(t *testing.T) {
	profile := fabricProfile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Open(ctx, WithProfile(profile), WithWalletDir(filepath.Join(t.TempDir(), "wallet")))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = b.Close() }()
	info, err := b.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	blocks, _ := b.Blocks(sctx, 0)
	upto := min(info.Height, 5)
	for n := uint64(0); n < upto; n++ {
		select {
		case blk := <-blocks:
			if blk.Number != n {
				t.Fatalf("block %d, expected %d", blk.Number, n)
			}
			if n == 0 && (len(blk.Txs) != 1 || blk.Txs[0].Event != nil || !blk.Txs[0].Valid) {
				t.Errorf("genesis block: %+v", blk)
			}
		case <-ctx.Done():
			t.Fatal("stalled")
		}
	}
}

// TestIntegrationConcurrentClaimsRetry fires one agency's claims at once:
// they all touch the agency's cap record, so all but one per block lose an
// MVCC race, and the retry policy must carry every one of them through.
func TestIntegrationConcurrentClaimsRetry(t *testing.T) {
	profile := fabricProfile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := Open(ctx, WithProfile(profile), WithWalletDir(filepath.Join(t.TempDir(), "wallet")),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 8, BaseDelay: 50 * time.Millisecond, MaxDelay: 400 * time.Millisecond}))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = b.Close() }()

	run := rand.IntN(1_000_000)
	sci := backend.Caller{Name: fmt.Sprintf("it-sci-c%06d", run), Role: voucher.RoleSciTech}
	agencyID := uscc(fmt.Sprintf("%08d", rand.IntN(100_000_000)))
	ag := backend.Caller{Name: fmt.Sprintf("it-ag-c%06d", run), Role: voucher.RoleAgency, AgencyID: agencyID}
	must := func(c backend.Caller, fn string, arg any) {
		t.Helper()
		raw, _ := json.Marshal(arg)
		if _, err := b.Submit(ctx, c, fn, raw); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
	must(sci, "RegisterAgency", voucher.RegisterAgencyArgs{ID: agencyID, Name: "并发测试机构", Kind: voucher.KindIncubator})
	const n = 3
	type target struct{ enterprise, certNo string }
	var targets []target
	for i := 0; i < n; i++ {
		tg := target{uscc(fmt.Sprintf("%08d", rand.IntN(100_000_000))), fmt.Sprintf("GR2024%02d%06d", 11+i, run)}
		targets = append(targets, tg)
		must(sci, "RecordCertification", voucher.RecordCertificationArgs{EnterpriseID: tg.enterprise, EnterpriseName: "企业", CertificateNo: tg.certNo, IssuedOn: "2024-06-01", Kind: voucher.CertFirst})
		sum := sha256.Sum256([]byte(tg.certNo))
		must(ag, "RecordService", voucher.RecordServiceArgs{EnterpriseID: tg.enterprise, ContractRef: "C-" + tg.certNo, StartedOn: "2024-01-02", EvidenceSHA256: hex.EncodeToString(sum[:])})
	}

	before := b.conflicts.Load()
	errs := make(chan error, n)
	t0 := time.Now()
	for _, tg := range targets {
		go func() {
			raw, _ := json.Marshal(voucher.ClaimArgs{EnterpriseID: tg.enterprise, CertificateNo: tg.certNo})
			_, err := b.Submit(ctx, ag, "Claim", raw)
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Errorf("concurrent claim: %v", err)
		}
	}
	t.Logf("%d concurrent claims of one agency: %s, %d conflicts retried", n, time.Since(t0), b.conflicts.Load()-before)

	out, err := b.Evaluate(ctx, ag, "GetAgency", []byte(`{"id":"`+agencyID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var view voucher.AgencyView
	if err := json.Unmarshal(out, &view); err != nil || len(view.Caps) != 1 || view.Caps[0].UsedCNY != "15000.00" || view.Caps[0].LiveCount != n {
		t.Errorf("cap after %d claims: %s (%v)", n, out, err)
	}
	if b.conflicts.Load() == before {
		t.Log("no conflict happened this time (claims landed in separate blocks)")
	}
}

// TestIntegrationPeerRestart stops and restarts the S&T bureau's peer with
// the network's own scripts (only when HONGSHAN_FABRIC_FAULTS=1 and
// HONGSHAN_NETWORK_DIR names network/): submissions fail as unavailable
// while it is down, work again once it is back, and the block stream
// resumes without a gap and without a restart of the backend.
func TestIntegrationPeerRestart(t *testing.T) {
	profile := fabricProfile(t)
	netDir := os.Getenv("HONGSHAN_NETWORK_DIR")
	if os.Getenv("HONGSHAN_FABRIC_FAULTS") != "1" || netDir == "" {
		t.Skip("set HONGSHAN_FABRIC_FAULTS=1 and HONGSHAN_NETWORK_DIR to stop and start a peer")
	}
	node := func(script, name string) {
		t.Helper()
		out, err := exec.Command("bash", filepath.Join(netDir, script), name).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", script, name, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b, err := Open(ctx, WithProfile(profile), WithWalletDir(filepath.Join(t.TempDir(), "wallet")), WithTimeouts(10*time.Second, 5*time.Second))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = b.Close() }()
	info, err := b.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	blocks, _ := b.Blocks(sctx, info.Height)

	sci := backend.Caller{Name: fmt.Sprintf("it-sci-f%06d", rand.IntN(1_000_000)), Role: voucher.RoleSciTech}
	if err := b.Enroll(ctx, sci); err != nil {
		t.Fatal(err)
	}
	register := func() (backend.Receipt, error) {
		raw, _ := json.Marshal(voucher.RegisterAgencyArgs{ID: uscc(fmt.Sprintf("%08d", rand.IntN(100_000_000))), Name: "故障测试", Kind: voucher.KindServiceAgency})
		return b.Submit(ctx, sci, "RegisterAgency", raw)
	}
	r1, err := register()
	if err != nil {
		t.Fatal(err)
	}

	node("stop-node.sh", "peer0.scitech")
	restarted := false
	defer func() {
		if !restarted {
			node("start-node.sh", "peer0.scitech")
		}
	}()
	t0 := time.Now()
	if _, err := register(); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("submit with a peer down: %v, want ErrUnavailable", err)
	}
	t.Logf("submit with the peer down failed in %s", time.Since(t0))
	node("start-node.sh", "peer0.scitech")
	restarted = true

	var r2 backend.Receipt
	t0 = time.Now()
	for {
		if r2, err = register(); err == nil {
			break
		}
		if !errors.Is(err, backend.ErrUnavailable) || time.Since(t0) > time.Minute {
			t.Fatalf("submit after the restart: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // polling a restarting peer, bounded above
	}
	t.Logf("first submit after the restart succeeded %s after start-node", time.Since(t0))

	seen := map[string]bool{}
	for next := info.Height; next <= r2.BlockNumber; next++ {
		select {
		case blk, ok := <-blocks:
			if !ok {
				t.Fatal("stream ended")
			}
			if blk.Number != next {
				t.Fatalf("block %d after %d: a gap or a repeat", blk.Number, next-1)
			}
			for _, tx := range blk.Txs {
				seen[tx.TxID] = tx.Valid
			}
		case <-time.After(time.Minute):
			t.Fatalf("stream stalled before block %d", next)
		}
	}
	if !seen[r1.TxID] || !seen[r2.TxID] {
		t.Errorf("stream missed a transaction: before %v, after %v", seen[r1.TxID], seen[r2.TxID])
	}
}

// TestIntegrationEnrollAgain enrols a name the CA already knows from a lost
// wallet, first with another agency id, then with another role: the CA
// identity is updated and re-enrolled, and the new certificate carries the
// new attributes (and no stale agency id).
func TestIntegrationEnrollAgain(t *testing.T) {
	profile := fabricProfile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := fmt.Sprintf("it-re-%06d", rand.IntN(1_000_000))
	first := backend.Caller{Name: name, Role: voucher.RoleAgency, AgencyID: uscc("10000001")}
	b, err := Open(ctx, WithProfile(profile), WithWalletDir(filepath.Join(t.TempDir(), "wallet-1")))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Enroll(ctx, first); err != nil {
		t.Fatalf("first enrolment: %v", err)
	}
	_ = b.Close()

	b, err = Open(ctx, WithProfile(profile), WithWalletDir(filepath.Join(t.TempDir(), "wallet-2")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	for _, c := range []backend.Caller{
		{Name: name, Role: voucher.RoleAgency, AgencyID: uscc("20000002")},
		{Name: name, Role: voucher.RoleAuditor},
	} {
		if err := b.Enroll(ctx, c); err != nil {
			t.Fatalf("enrol %+v again: %v", c, err)
		}
		si, err := b.scitech.ca.GetSigningIdentity(b.enrollmentID(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := identityFits(si, c); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
		// The ledger sees the new identity.
		if _, err := b.Evaluate(ctx, c, "GetPolicy", []byte(`{}`)); err != nil {
			t.Errorf("evaluate as %+v: %v", c, err)
		}
	}
}

// TestIntegrationThroughput measures non-conflicting submissions in
// parallel (RegisterAgency of distinct agencies by one clerk) when
// HONGSHAN_FABRIC_BENCH=1: transactions per second and latency quantiles.
func TestIntegrationThroughput(t *testing.T) {
	profile := fabricProfile(t)
	if os.Getenv("HONGSHAN_FABRIC_BENCH") != "1" {
		t.Skip("set HONGSHAN_FABRIC_BENCH=1 to measure throughput")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := Open(ctx, WithProfile(profile), WithWalletDir(filepath.Join(t.TempDir(), "wallet")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	sci := backend.Caller{Name: fmt.Sprintf("it-sci-b%06d", rand.IntN(1_000_000)), Role: voucher.RoleSciTech}
	if err := b.Enroll(ctx, sci); err != nil {
		t.Fatal(err)
	}
	const total, inFlight = 400, 32
	jobs := make(chan int, total)
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	type result struct {
		took time.Duration
		err  error
	}
	results := make(chan result, total)
	base := rand.IntN(90_000_000)
	t0 := time.Now()
	for w := 0; w < inFlight; w++ {
		go func() {
			for i := range jobs {
				raw, _ := json.Marshal(voucher.RegisterAgencyArgs{ID: uscc(fmt.Sprintf("%08d", base+i)), Name: "压测机构", Kind: voucher.KindServiceAgency})
				s := time.Now()
				_, err := b.Submit(ctx, sci, "RegisterAgency", raw)
				results <- result{time.Since(s), err}
			}
		}()
	}
	var lat []time.Duration
	for i := 0; i < total; i++ {
		r := <-results
		if r.err != nil {
			t.Errorf("submit: %v", r.err)
			continue
		}
		lat = append(lat, r.took)
	}
	elapsed := time.Since(t0)
	if len(lat) == 0 {
		t.Fatal("nothing committed")
	}
	slices.Sort(lat)
	t.Logf("%d submits, %d in flight: %.0f tx/s, p50 %s, p99 %s, max %s", len(lat), inFlight,
		float64(len(lat))/elapsed.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}
