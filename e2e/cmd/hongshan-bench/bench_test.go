package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

var programmePolicy = voucher.Policy{UnitRewardCNY: "5000.00", CapPerAgencyCNY: "100000.00", CapScope: "year",
	WindowFrom: "2023-03-01", WindowTo: "2026-02-28"}

func TestIssueDatesFollowThePolicy(t *testing.T) {
	dates, perPeriod, err := issueDates(programmePolicy)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2023-06-15", "2024-06-15", "2025-06-15", "2026-02-28"}
	if perPeriod != 20 || len(dates) != len(want) {
		t.Fatalf("dates %v, %d per period", dates, perPeriod)
	}
	for i := range want {
		if dates[i] != want[i] {
			t.Errorf("date %d: %s, want %s", i, dates[i], want[i])
		}
	}
	p := programmePolicy
	p.CapScope = voucher.CapScopeProgram
	if dates, _, _ := issueDates(p); len(dates) != 1 {
		t.Errorf("program scope gives %v", dates)
	}
}

// TestPlanFitsTheCaps proves the plan never puts more claims in one
// agency's period than its cap allows, and that identifiers are distinct
// and valid.
func TestPlanFitsTheCaps(t *testing.T) {
	dates, perPeriod, _ := issueDates(programmePolicy)
	const claims = 50_000
	agencies := max(500, (claims+len(dates)*perPeriod-1)/(len(dates)*perPeriod))
	if agencies != 625 {
		t.Fatalf("agencies %d, want 625", agencies)
	}
	jobs := plan(claims, agencies, dates)
	type key struct {
		agency int
		date   string
	}
	count := map[key]int{}
	certs := map[string]bool{}
	for i, j := range jobs {
		count[key{j.agency, j.issuedOn}]++
		if certs[j.certNo] {
			t.Fatalf("certificate %s twice", j.certNo)
		}
		certs[j.certNo] = true
		if i%997 == 0 {
			if err := voucher.ValidateUSCC(j.enterpriseID); err != nil {
				t.Fatal(err)
			}
			if year, err := voucher.ValidateCertificateNo(j.certNo); err != nil || year != j.issuedOn[:4] {
				t.Fatalf("%s: %v", j.certNo, err)
			}
			if j.startedOn > j.issuedOn {
				t.Fatalf("service starts %s after the certificate %s", j.startedOn, j.issuedOn)
			}
		}
	}
	for k, n := range count {
		if n > perPeriod {
			t.Fatalf("agency %d has %d claims in %s, cap room %d", k.agency, n, k.date, perPeriod)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 50); p != 50*time.Millisecond {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(d, 99); p != 99*time.Millisecond {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(d[:1], 99); p != time.Millisecond {
		t.Errorf("p99 of one %v", p)
	}
}

func TestBatchBaselineStoresEveryRecord(t *testing.T) {
	r, err := batchBaseline(context.Background(), filepath.Join(t.TempDir(), "b.db"), 300, 16, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if r.writes != 300 || r.elapsed <= 0 || r.perSecond() <= 0 {
		t.Errorf("result %+v", r)
	}
}
