package api

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// BenchmarkClaimsEmbedded fires claims at the API in-process (no HTTP) on
// the real embedded ledger and projection from 64 goroutines spread over
// agencies with room to spare, to profile the gateway's own share of a
// claim: go test -run '^$' -bench ClaimsEmbedded -cpuprofile cpu.out ./gateway/api
func BenchmarkClaimsEmbedded(b *testing.B) {
	const agencies, clients = 50, 64
	h := newRealHarness(b)
	perAgency := (b.N + agencies - 1) / agencies
	if perAgency > 20 {
		b.Skipf("b.N=%d needs more than 20 claims per agency", b.N)
	}
	perAgencyWork := make([][][2]string, agencies)
	names := make([]string, agencies)
	for i := range agencies {
		id := uscc(900000 + i)
		name := fmt.Sprintf("ag-%d", i)
		tok, err := h.token(auth.NewPrincipal{Name: name, Role: voucher.RoleAgency, AgencyID: id})
		if err != nil {
			b.Fatal(err)
		}
		h.tokens[name] = tok
		perAgencyWork[i], names[i] = h.setUpAgency(id, name, 1000*(i+1), perAgency), name
	}
	// Interleave the agencies, as independent clients would.
	var work [][2]string
	var as []string
	for j := range perAgency {
		for i := range agencies {
			if j < len(perAgencyWork[i]) {
				work, as = append(work, perAgencyWork[i][j]), append(as, names[i])
			}
		}
	}
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if rec := h.do(claimReq(as[i], work[i])); rec.Code != 201 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d claims failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	// The ledger's share of a claim's time, from the gateway's own metrics.
	mfs, err := h.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			hist := m.GetHistogram()
			if hist == nil || hist.GetSampleCount() == 0 {
				continue
			}
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + " "
			}
			avgMS := hist.GetSampleSum() / float64(hist.GetSampleCount()) * 1000
			switch {
			case strings.Contains(labels, "fn=Claim "):
				b.ReportMetric(avgMS, "submit_ms/claim")
			case strings.Contains(labels, "route=/v1/claims "):
				b.ReportMetric(avgMS, "answer_ms/claim")
			}
		}
	}
}
