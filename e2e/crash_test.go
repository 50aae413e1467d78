package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
)

// TestKillUnderLoad kills the gateway with SIGKILL while 16 clients claim
// concurrently, restarts it on the same data dir, and proves that every
// claim answered 201 before the kill is there, that the ledger verifies,
// and that claims whose answer was lost were either committed once or not
// at all: claiming them again yields a voucher or ALREADY_CLAIMED, never a
// second live voucher.
func TestKillUnderLoad(t *testing.T) {
	s := startSystem(t)
	aud := s.newParty(t, "crash-auditor", voucher.RoleAuditor, "")
	const agencies, perPeriod = 8, 15
	var parties []party
	chk := newChecker(aud.c)
	for i := range agencies {
		id := registerAgency(t, s.admin, fmt.Sprintf("压力测试服务机构%d", i), voucher.KindServiceAgency)
		parties = append(parties, s.newParty(t, fmt.Sprintf("crash-agency-%d", i), voucher.RoleAgency, id))
		chk.track(id)
	}
	var dates []string
	for range perPeriod {
		dates = append(dates, "2024-06-15", "2025-05-20")
	}
	es := prepare(t, s.admin, parties, dates)

	type job struct {
		agency party
		e      enterprise
	}
	var jobs []job
	for k := range dates { // interleave agencies
		for a := range parties {
			jobs = append(jobs, job{parties[a], es[a][k]})
		}
	}
	const workers, killAfter = 16, 40
	var (
		mu      sync.Mutex
		acked   = map[string]voucher.Voucher{} // certificate → voucher answered 201
		unknown []job                          // the answer was lost
		killed  = make(chan struct{})
		once    sync.Once
	)
	queue := make(chan job)
	var wg sync.WaitGroup
	c := ctx(t)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				v, err := j.agency.c.Claim(c, voucher.ClaimArgs{EnterpriseID: j.e.id, CertificateNo: j.e.certNo})
				mu.Lock()
				switch {
				case err == nil:
					acked[j.e.certNo] = v
				case client.IsTransport(err):
					unknown = append(unknown, j)
				default:
					t.Errorf("claim %s: %v", j.e.certNo, err)
				}
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() {
						s.gw.Kill()
						close(killed)
					})
				}
			}
		}()
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the gateway was never killed: %d acknowledged", len(acked))
	}
	if len(acked) == len(jobs) {
		t.Fatalf("all %d claims were answered before the kill took effect: the load was not cut", len(jobs))
	}
	t.Logf("kill -9 after %d acknowledged claims; %d answers lost in flight or refused after", len(acked), len(unknown))

	if err := s.gw.Restart(context.Background()); err != nil {
		t.Fatalf("restart after kill -9: %v", err)
	}
	for cert, v := range acked {
		got, err := aud.c.GetVoucher(ctx(t), v.ID)
		ok(t, "acknowledged voucher after kill -9", err)
		if got.ID != v.ID || got.CertificateNo != cert || got.AgencyID != v.AgencyID || got.Status != voucher.StatusIssued || got.AmountCNY != v.AmountCNY {
			t.Fatalf("acknowledged voucher %+v came back as %+v", v, got)
		}
		chk.expect(v)
	}
	chk.check(t, "kill -9 and restart")
	verifyLedger(t, aud.c)

	// Claims whose answer was lost: committed once, or not at all.
	for _, j := range unknown {
		v, err := j.agency.c.Claim(ctx(t), voucher.ClaimArgs{EnterpriseID: j.e.id, CertificateNo: j.e.certNo})
		if err != nil {
			wantCode(t, "claim again after a lost answer", err, "ALREADY_CLAIMED")
			continue
		}
		chk.expect(v)
	}
	chk.check(t, "claims retried after restart")
	live := 0
	for _, p := range parties {
		for v, err := range aud.c.AllVouchers(ctx(t), voucher.ListVouchersArgs{AgencyID: p.agencyID, Limit: voucher.MaxPageSize}) {
			ok(t, "list", err)
			if v.Status.Live() {
				live++
			}
		}
	}
	if live != len(jobs) {
		t.Fatalf("%d live vouchers for %d certificates, each claimed until it held one", live, len(jobs))
	}
	// The read model resumed without applying an event twice: every
	// voucher was only claimed, so its history is exactly one step.
	for _, p := range parties {
		for v, err := range aud.c.AllVouchers(ctx(t), voucher.ListVouchersArgs{AgencyID: p.agencyID, Limit: voucher.MaxPageSize}) {
			ok(t, "list", err)
			h, err := aud.c.VoucherHistory(ctx(t), v.ID)
			ok(t, "history", err)
			if len(h) != 1 || h[0].Status != voucher.StatusIssued {
				t.Fatalf("voucher %s after kill -9 and restart: history %+v, want one issued step", v.ID, h)
			}
		}
	}
	if backend == "fabric" {
		from, found := resumedFrom(t, s.gw.LogPath())
		if !found || from == 0 {
			t.Fatalf("after the restart the block stream started at block %d (found %v): not from the checkpoint", from, found)
		}
		t.Logf("the projection resumed from block %d", from)
		ids := make([]string, len(parties))
		for i, p := range parties {
			ids[i] = p.agencyID
		}
		compareWithChain(t, aud.c, ids)
	}
	verifyLedger(t, aud.c)
}
