package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	bolt "go.etcd.io/bbolt"
)

// Tests with the real voucher contract.

var (
	sciTech = backend.Caller{Name: "scitech-clerk", Role: voucher.RoleSciTech}
	finance = backend.Caller{Name: "finance-clerk", Role: voucher.RoleFinance}
)

func agencyCaller(n int) backend.Caller {
	return backend.Caller{Name: fmt.Sprint("agency-", n), Role: voucher.RoleAgency, AgencyID: makeUSCC(n)}
}

func enterprise(n int) string { return makeUSCC(50_000_000 + n) }

// certNo is a 2024 certificate; past 999,999 numbers it moves to another
// province's series, so benchmarks can build a million.
func certNo(n int) string {
	provinces := [...]string{"65", "11", "12", "13"}
	return fmt.Sprintf("GR2024%s%06d", provinces[n/1000000%len(provinces)], n%1000000)
}

func openReal(t testing.TB, dir string) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), dir, WithMmapSize(256<<20), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func submitJSON(t testing.TB, l *Ledger, c backend.Caller, fn string, arg any) (backend.Receipt, error) {
	t.Helper()
	return l.Submit(context.Background(), c, fn, mustJSON(arg))
}

func mustSubmit(t testing.TB, l *Ledger, c backend.Caller, fn string, arg any) backend.Receipt {
	t.Helper()
	r, err := submitJSON(t, l, c, fn, arg)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	return r
}

// prepareClaims registers agency 1 and records certificates and services
// for enterprises 1..n.
func prepareClaims(t testing.TB, l *Ledger, agency, n int) {
	mustSubmit(t, l, sciTech, "RegisterAgency", voucher.RegisterAgencyArgs{ID: makeUSCC(agency), Name: fmt.Sprint("服务机构", agency), Kind: voucher.KindServiceAgency})
	for i := 1; i <= n; i++ {
		e := agency*1000 + i
		mustSubmit(t, l, sciTech, "RecordCertification", voucher.RecordCertificationArgs{
			EnterpriseID: enterprise(e), EnterpriseName: fmt.Sprint("企业", e), CertificateNo: certNo(e), IssuedOn: "2024-11-20", Kind: voucher.CertFirst})
		sum := sha256.Sum256([]byte(fmt.Sprint("evidence", e)))
		mustSubmit(t, l, agencyCaller(agency), "RecordService", voucher.RecordServiceArgs{
			EnterpriseID: enterprise(e), ContractRef: fmt.Sprint("HT-", e), StartedOn: "2024-01-15", EvidenceSHA256: hex.EncodeToString(sum[:])})
	}
}

func TestVoucherLifeOnTheRealContract(t *testing.T) {
	for _, id := range []string{makeUSCC(1), enterprise(1001)} {
		if err := voucher.ValidateUSCC(id); err != nil {
			t.Fatalf("test USCC %s: %v", id, err)
		}
	}
	dir := t.TempDir()
	l := openReal(t, dir)
	ctx := context.Background()
	ag := agencyCaller(1)

	if _, err := submitJSON(t, l, ag, "RegisterAgency", voucher.RegisterAgencyArgs{ID: makeUSCC(1), Name: "x", Kind: voucher.KindServiceAgency}); voucher.CodeOf(err) != voucher.CodeForbidden {
		t.Fatalf("agency registering an agency: %v", err)
	}
	if info, _ := l.Info(ctx); info.Height != 1 {
		t.Fatalf("a refused transaction wrote a block: height %d", info.Height)
	}
	prepareClaims(t, l, 1, 1)
	e := enterprise(1001)
	claim := mustSubmit(t, l, ag, "Claim", voucher.ClaimArgs{EnterpriseID: e, CertificateNo: certNo(1001)})
	var v voucher.Voucher
	if err := json.Unmarshal(claim.Payload, &v); err != nil || v.Status != voucher.StatusIssued || v.AmountCNY != "5000.00" {
		t.Fatalf("claim result %s: %v", claim.Payload, err)
	}
	if _, err := submitJSON(t, l, ag, "Claim", voucher.ClaimArgs{EnterpriseID: e, CertificateNo: certNo(1001)}); voucher.CodeOf(err) != voucher.CodeAlreadyClaimed {
		t.Fatalf("second claim: %v", err)
	}
	mustSubmit(t, l, ag, "Redeem", voucher.VoucherIDArgs{ID: v.ID})
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	mustSubmit(t, l, finance, "Reimburse", voucher.ReimburseArgs{ID: v.ID, PaymentRef: "GK2024-0001", AmountCNY: "5000.00", PaidOn: today})

	out, err := l.Evaluate(ctx, ag, "GetVoucher", mustJSON(voucher.VoucherIDArgs{ID: v.ID}))
	if err != nil || json.Unmarshal(out, &v) != nil || v.Status != voucher.StatusReimbursed || v.PaymentRef != "GK2024-0001" {
		t.Fatalf("GetVoucher: %s %v", out, err)
	}
	out, err = l.Evaluate(ctx, ag, "GetVoucherHistory", mustJSON(voucher.VoucherIDArgs{ID: v.ID}))
	var hist []voucher.HistoryItem
	if err != nil || json.Unmarshal(out, &hist) != nil || len(hist) != 3 || hist[0].TxID != claim.TxID || hist[2].Status != voucher.StatusReimbursed {
		t.Fatalf("history: %s %v", out, err)
	}

	// Every block's transaction carries its event, stamped with its tx id.
	for _, b := range allBlocks(t, l)[1:] {
		for _, tx := range b.Txs {
			var ev voucher.Event
			if err := json.Unmarshal(tx.Event, &ev); err != nil || ev.TxID != tx.TxID || ev.Type == "" {
				t.Fatalf("block %d event %s: %v", b.Number, tx.Event, err)
			}
		}
	}
	if res, err := l.Verify(ctx, nil); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// One byte of the claim's stored transaction changes: verify names its block.
	tamper(t, dir, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlocks)
		rec := bytes.Clone(b.Get(blockKey(claim.BlockNumber)))
		i := bytes.Index(rec, []byte(certNo(1001)))
		if i < 0 {
			return fmt.Errorf("certificate number not found in block %d", claim.BlockNumber)
		}
		rec[i+len(certNo(1001))-1] ^= 1
		return b.Put(blockKey(claim.BlockNumber), rec)
	})
	l = openReal(t, dir)
	defer l.Close()
	res, err := l.Verify(ctx, nil)
	if err != nil || res.OK || res.FirstBadBlock == nil || *res.FirstBadBlock != claim.BlockNumber {
		t.Fatalf("verify after tampering block %d: %+v %v", claim.BlockNumber, res, err)
	}
}

// TestCapExactUnderGroupCommit: 30 concurrent claims of one agency with room
// for 20 (CNY 100,000 at 5,000 each): exactly 20 are issued.
func TestCapExactUnderGroupCommit(t *testing.T) {
	l := openReal(t, t.TempDir())
	defer l.Close()
	prepareClaims(t, l, 1, 30)
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcome := map[voucher.Code]int{}
	blocks := map[uint64]bool{}
	for i := 1; i <= 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := 1000 + i
			r, err := l.Submit(context.Background(), agencyCaller(1), "Claim", mustJSON(voucher.ClaimArgs{EnterpriseID: enterprise(e), CertificateNo: certNo(e)}))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				outcome["OK"]++
				blocks[r.BlockNumber] = true
			} else {
				outcome[voucher.CodeOf(err)]++
			}
		}()
	}
	wg.Wait()
	if outcome["OK"] != 20 || outcome[voucher.CodeCapExceeded] != 10 {
		t.Fatalf("outcomes %v, want 20 issued and 10 CAP_EXCEEDED", outcome)
	}
	t.Logf("20 claims committed in %d blocks", len(blocks))
	if res, err := l.Verify(context.Background(), nil); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
}
