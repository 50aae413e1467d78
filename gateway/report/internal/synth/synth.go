// Package synth builds synthetic ledgers for the report's tests and its
// benchmark: blocks of contract events, applied straight to a projection,
// with no ledger and no contract in between. That is how a read model of a
// million vouchers is built in seconds rather than hours, and how a test
// builds states the contract would refuse to reach (two live vouchers on
// one certificate) to prove the report still sees them.
package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// usccAlphabet is GB 32100-2015's character set (DOMAIN.md).
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var (
	usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	orgWeights  = [8]int{3, 7, 9, 10, 5, 8, 4, 2}
)

// USCC builds a valid 统一社会信用代码 from a division prefix such as
// "91650104" (8 characters) and a number below 10^8.
func USCC(prefix string, n int) string {
	body := fmt.Sprintf("%08d", n%100_000_000)
	sum := 0
	for i := 0; i < 8; i++ {
		sum += int(body[i]-'0') * orgWeights[i]
	}
	var org byte
	switch c := 11 - sum%11; c {
	case 10:
		org = 'X'
	case 11:
		org = '0'
	default:
		org = byte('0' + c)
	}
	s := prefix + body + string(org)
	sum = 0
	for i := 0; i < 17; i++ {
		for j := 0; j < len(usccAlphabet); j++ {
			if usccAlphabet[j] == s[i] {
				sum += j * usccWeights[i]
				break
			}
		}
	}
	return s + string(usccAlphabet[(31-sum%31)%31])
}

// AgencyID is agency n's USCC (高新区 prefix).
func AgencyID(n int) string { return USCC("91650104", n) }

// EnterpriseID is enterprise n's USCC (天山区 prefix).
func EnterpriseID(n int) string { return USCC("91650102", n) }

// VoucherID is a voucher id of the contract's shape for period and n.
func VoucherID(period string, n int) string {
	sum := sha256.Sum256([]byte("voucher|" + strconv.Itoa(n)))
	return "V-" + period + "-" + hex.EncodeToString(sum[:8])
}

// Instant renders t as the contract does (voucher.TimeLayout, UTC).
func Instant(t time.Time) string { return t.UTC().Format(voucher.TimeLayout) }

// Blocks numbers events into blocks of perBlock transactions from block 1
// on, after an empty genesis block 0, and hands each block to fn.
type Blocks struct {
	perBlock int
	next     uint64
	txs      []backend.Tx
	fn       func(backend.Block) error
	txSeq    int
}

// NewBlocks starts a block stream; it emits the genesis block at once.
func NewBlocks(perBlock int, fn func(backend.Block) error) (*Blocks, error) {
	b := &Blocks{perBlock: max(perBlock, 1), fn: fn}
	if err := fn(backend.Block{Number: 0, Hash: blockHash(0)}); err != nil {
		return nil, err
	}
	b.next = 1
	return b, nil
}

func blockHash(n uint64) string {
	sum := sha256.Sum256([]byte("block|" + strconv.FormatUint(n, 10)))
	return hex.EncodeToString(sum[:])
}

// Add appends one event as a transaction, closing the block when full.
func (b *Blocks) Add(ev voucher.Event) error {
	b.txSeq++
	if ev.TxID == "" {
		ev.TxID = fmt.Sprintf("tx%08d", b.txSeq)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	b.txs = append(b.txs, backend.Tx{TxID: ev.TxID, Valid: true, Event: raw})
	if len(b.txs) >= b.perBlock {
		return b.Flush()
	}
	return nil
}

// Flush closes the open block, if it holds any transaction.
func (b *Blocks) Flush() error {
	if len(b.txs) == 0 {
		return nil
	}
	blk := backend.Block{Number: b.next, Hash: blockHash(b.next), Txs: b.txs}
	b.txs = nil
	b.next++
	return b.fn(blk)
}

// Height is the number of blocks emitted so far.
func (b *Blocks) Height() uint64 { return b.next }

// Config shapes a generated ledger.
type Config struct {
	Agencies int
	Vouchers int
	Seed     uint64
	// End is the instant of the last transaction; everything happens in
	// the three years before it.
	End time.Time
	// PerBlock is the transactions per block (default 500).
	PerBlock int
	// AnomalyEvery plants one anomaly of each kind every n vouchers (0:
	// none): a late filing, an amount mismatch, a reimbursement without a
	// redemption request, a reused payment reference, a second live
	// voucher on a certificate, and a stale voucher.
	AnomalyEvery int
}

// Generate emits a whole ledger: a policy whose cap admits the generated
// volume, the agencies (one in fifty suspended), and for each voucher one
// event carrying its certification, service record, voucher in its final
// state and cap usage, which is all a read model needs. Vouchers are spread
// round-robin over agencies and over the periods 2023-2025.
func Generate(cfg Config, fn func(backend.Block) error) (height uint64, err error) {
	if cfg.PerBlock <= 0 {
		cfg.PerBlock = 500
	}
	if cfg.End.IsZero() {
		cfg.End = time.Date(2025, 12, 31, 8, 0, 0, 0, time.UTC)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed)) //nolint:gosec // reproducible synthetic data, not a secret
	blocks, err := NewBlocks(cfg.PerBlock, fn)
	if err != nil {
		return 0, err
	}
	start := cfg.End.AddDate(-3, 0, 0)
	at := func(t time.Time) string { return Instant(t) }
	periods := []string{"2023", "2024", "2025"}
	perAgencyPeriod := cfg.Vouchers/max(cfg.Agencies*len(periods), 1) + 1
	capCNY := fmt.Sprintf("%d.00", perAgencyPeriod*5000+100000)
	pol := voucher.DefaultPolicy()
	pol.Version, pol.CapPerAgencyCNY, pol.WindowFrom, pol.WindowTo = 2, capCNY, "2023-01-01", "2025-12-31"
	pol.SetAt, pol.SetBy = at(start), "scitech-admin"
	if err := blocks.Add(voucher.Event{Type: voucher.EventPolicySet, At: pol.SetAt, Actor: pol.SetBy, Policy: &pol}); err != nil {
		return 0, err
	}
	for i := 0; i < cfg.Agencies; i++ {
		a := voucher.Agency{ID: AgencyID(i), Name: fmt.Sprintf("乌鲁木齐第%d科技服务中心", i), Kind: voucher.KindServiceAgency,
			Status: voucher.AgencyActive, RegisteredAt: at(start.Add(time.Duration(i) * time.Second)), UpdatedAt: at(start.Add(time.Duration(i) * time.Second))}
		if i%50 == 49 {
			a.Status, a.Reason, a.UpdatedAt = voucher.AgencySuspended, "inspection", at(cfg.End.Add(-time.Hour))
		}
		if err := blocks.Add(voucher.Event{Type: voucher.EventAgencyRegistered, At: a.UpdatedAt, Actor: "scitech-admin", Agency: &a}); err != nil {
			return 0, err
		}
	}
	type capKey struct {
		agency int
		period string
	}
	used := map[capKey]int{}
	periodOf := func(n int) string { return periods[(n/max(cfg.Agencies, 1))%len(periods)] }
	certNoOf := func(n int) string { return fmt.Sprintf("GR%s%02d%06d", periodOf(n), 11+(n/900_000)%20, n%900_000) }
	for n := 0; n < cfg.Vouchers; n++ {
		agency := n % max(cfg.Agencies, 1)
		period := periodOf(n)
		year, _ := strconv.Atoi(period)
		issuedOn := time.Date(year, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
		certAt := issuedOn.Add(time.Duration(24+rng.IntN(24*20)) * time.Hour)
		serviceAt := issuedOn.Add(-time.Duration(24*(30+rng.IntN(300))) * time.Hour)
		cert := voucher.Certification{
			CertificateNo: certNoOf(n), EnterpriseID: EnterpriseID(n),
			EnterpriseName: fmt.Sprintf("新疆第%d高新技术有限公司", n), IssuedOn: issuedOn.Format(time.DateOnly), Kind: voucher.CertFirst,
			RecordedAt: at(certAt), RecordedTx: fmt.Sprintf("c%064d", n)[:64],
		}
		svc := voucher.ServiceRecord{
			ID: fmt.Sprintf("S-%016x", n), AgencyID: AgencyID(agency), EnterpriseID: cert.EnterpriseID,
			ContractRef: fmt.Sprintf("HT-%d", n), StartedOn: serviceAt.AddDate(0, 0, -30).Format(time.DateOnly),
			EvidenceSHA256: hex.EncodeToString(make([]byte, 32)), RecordedAt: at(serviceAt), RecordedTx: fmt.Sprintf("s%064d", n)[:64],
		}
		issuedAt := certAt.Add(time.Duration(1+rng.IntN(24*30)) * time.Hour)
		if issuedAt.After(cfg.End) {
			issuedAt = cfg.End.Add(-time.Duration(n%1000) * time.Minute)
		}
		v := voucher.Voucher{
			ID: VoucherID(period, n), AgencyID: svc.AgencyID, EnterpriseID: cert.EnterpriseID, CertificateNo: cert.CertificateNo,
			ServiceRecordID: svc.ID, Period: period, AmountCNY: "5000.00", PolicyVersion: 2,
			IssuedAt: at(issuedAt), LastActor: "agency", LastAction: "Claim",
		}
		later := func(t time.Time, hours int) time.Time {
			u := t.Add(time.Duration(1+rng.IntN(hours)) * time.Hour)
			if u.After(cfg.End) {
				return cfg.End
			}
			return u
		}
		switch r := rng.IntN(100); {
		case r < 25 || cfg.End.Sub(issuedAt) < 90*24*time.Hour:
			v.Status = voucher.StatusIssued
			if cfg.End.Sub(issuedAt) > 150*24*time.Hour {
				// Unredeemed for long is rare in a working programme.
				v.Status = voucher.StatusRedemptionRequested
				v.RedemptionRequestedAt = at(later(issuedAt, 24*60))
			}
		case r < 45:
			v.Status = voucher.StatusRedemptionRequested
			v.RedemptionRequestedAt = at(later(issuedAt, 24*60))
		case r < 90:
			v.Status = voucher.StatusReimbursed
			rr := later(issuedAt, 24*60)
			paid := later(rr, 24*30)
			v.RedemptionRequestedAt, v.ReimbursedAt = at(rr), at(paid)
			v.PaymentRef, v.PaidAmountCNY, v.PaidOn = fmt.Sprintf("GK%s%08d", period, n), v.AmountCNY, paid.Format(time.DateOnly)
		case r < 95:
			v.Status = voucher.StatusRejected
			v.ClosedAt, v.Reason = at(later(issuedAt, 24*60)), "evidence incomplete"
		default:
			v.Status = voucher.StatusRevoked
			v.ClosedAt, v.Reason = at(later(issuedAt, 24*60)), "certificate withdrawn"
		}
		if k := cfg.AnomalyEvery; k > 0 {
			plant(n, k, &v, &cert, &svc, cfg.End, certNoOf)
		}
		v.UpdatedAt = lastInstant(v)
		ck := capKey{agency, period}
		if v.Status.Live() {
			used[ck]++
		}
		cu := voucher.CapUsage{AgencyID: v.AgencyID, Period: period, LimitCNY: capCNY, UsedCNY: fmt.Sprintf("%d.00", used[ck]*5000)}
		limit, _ := strconv.Atoi(capCNY[:len(capCNY)-3])
		cu.RemainingCNY = fmt.Sprintf("%d.00", limit-used[ck]*5000)
		cu.LiveCount = used[ck]
		ev := voucher.Event{Type: voucher.EventVoucherIssued, At: v.UpdatedAt, Actor: "agency",
			Certification: &cert, Service: &svc, Voucher: &v, Cap: &cu}
		if err := blocks.Add(ev); err != nil {
			return 0, err
		}
	}
	if err := blocks.Flush(); err != nil {
		return 0, err
	}
	return blocks.Height(), nil
}

// plant bends voucher n into one of the anomalies the report must find.
func plant(n, every int, v *voucher.Voucher, cert *voucher.Certification, svc *voucher.ServiceRecord, end time.Time, certNoOf func(int) string) {
	if n%every != 0 {
		return
	}
	certAt, _ := time.Parse(time.RFC3339Nano, cert.RecordedAt)
	switch (n / every) % 6 {
	case 0: // late filing: the service record reached the ledger after the certification
		svc.RecordedAt = Instant(certAt.Add(48 * time.Hour))
	case 1: // paid amount differs from the voucher's
		v.Status, v.RedemptionRequestedAt, v.ReimbursedAt = voucher.StatusReimbursed, v.IssuedAt, v.IssuedAt
		v.PaymentRef, v.PaidAmountCNY, v.PaidOn = fmt.Sprintf("GKX%08d", n), "4999.99", v.IssuedAt[:10]
		v.ClosedAt, v.Reason = "", ""
	case 2: // reimbursed without a redemption request
		v.Status, v.RedemptionRequestedAt, v.ReimbursedAt = voucher.StatusReimbursed, "", v.IssuedAt
		v.PaymentRef, v.PaidAmountCNY, v.PaidOn = fmt.Sprintf("GKY%08d", n), v.AmountCNY, v.IssuedAt[:10]
		v.ClosedAt, v.Reason = "", ""
	case 3: // a payment reference shared by two consecutive cycles of anomalies
		v.Status, v.RedemptionRequestedAt, v.ReimbursedAt = voucher.StatusReimbursed, v.IssuedAt, v.IssuedAt
		v.PaymentRef, v.PaidAmountCNY, v.PaidOn = "GK-REUSED-"+strconv.Itoa(n/(every*12)), v.AmountCNY, v.IssuedAt[:10]
		v.ClosedAt, v.Reason = "", ""
	case 4: // a second live voucher on the certificate of voucher n-every (live: case 3)
		cert.CertificateNo = certNoOf(n - every)
		v.CertificateNo = cert.CertificateNo
		v.Status, v.RedemptionRequestedAt, v.ClosedAt, v.Reason = voucher.StatusIssued, "", "", ""
		v.ReimbursedAt, v.PaymentRef, v.PaidAmountCNY, v.PaidOn = "", "", "", ""
	case 5: // issued long ago and never redeemed
		v.Status, v.RedemptionRequestedAt, v.ClosedAt, v.Reason = voucher.StatusIssued, "", "", ""
		v.ReimbursedAt, v.PaymentRef, v.PaidAmountCNY, v.PaidOn = "", "", "", ""
		v.IssuedAt = Instant(end.AddDate(0, 0, -400))
	}
}

// lastInstant is the newest instant a voucher carries.
func lastInstant(v voucher.Voucher) string {
	last := v.IssuedAt
	for _, s := range []string{v.RedemptionRequestedAt, v.ReimbursedAt, v.ClosedAt} {
		if s > last {
			last = s
		}
	}
	return last
}
