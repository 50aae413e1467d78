package harness

import (
	"strconv"
	"strings"
	"testing"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// TestUSCCMatchesPublicCodes recomputes the check characters of the public
// codes DOMAIN.md lists, so the generator's arithmetic is proven against
// real codes, not only against itself.
func TestUSCCMatchesPublicCodes(t *testing.T) {
	for _, code := range []string{"914403001922038216", "91330100716105852F", "91440300708461136T", "91110000600037341L"} {
		if got := orgCodeCheck(code[8:16]); got != code[16] {
			t.Errorf("%s: organisation check %q, want %q", code, got, code[16])
		}
		if got := usccCheck(code[:17]); got != code[17] {
			t.Errorf("%s: USCC check %q, want %q", code, got, code[17])
		}
	}
}

// TestUSCCValidAndDistinct cross-checks generated codes with the domain
// core's validator, over serials that exercise every organisation check
// value (including X and 0).
func TestUSCCValidAndDistinct(t *testing.T) {
	seen := map[string]int{}
	checks := map[byte]bool{}
	for _, n := range append(seq(0, 2000), 12345678, MaxSerial, 50_000_000) {
		s := UrumqiUSCC(n)
		if !strings.HasPrefix(s, "91650104") || len(s) != 18 {
			t.Fatalf("%d: %q", n, s)
		}
		if err := voucher.ValidateUSCC(s); err != nil {
			t.Fatalf("%d: %q rejected: %v", n, s, err)
		}
		if m, dup := seen[s]; dup {
			t.Fatalf("serials %d and %d both give %s", m, n, s)
		}
		seen[s] = n
		checks[s[16]] = true
	}
	if !checks['X'] || !checks['0'] {
		t.Errorf("organisation checks seen %v: X and 0 not exercised", checks)
	}
	if err := voucher.ValidateUSCC(USCC("650102", 7)); err != nil {
		t.Errorf("天山区 code rejected: %v", err)
	}
}

func TestUSCCPanicsOutOfRange(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a serial over MaxSerial")
		}
	}()
	UrumqiUSCC(MaxSerial + 1)
}

func TestCertNoValid(t *testing.T) {
	for _, y := range []int{2023, 2024, 2025, 2026} {
		no := CertNo(y, 1_000_042)
		year, err := voucher.ValidateCertificateNo(no)
		if err != nil || year != strconv.Itoa(y) || no != "GR"+strconv.Itoa(y)+"65000042" {
			t.Errorf("%s: year %q err %v", no, year, err)
		}
	}
	if e := Evidence("a", "b"); len(e) != 64 || strings.ToLower(e) != e || e == Evidence("ab") {
		t.Errorf("evidence %q", e)
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}
