package voucher

import (
	"regexp"
	"strings"
	"testing"
)

// The fuzz targets check that validators never panic, and that whatever they
// accept is canonical.

func FuzzValidateUSCC(f *testing.F) {
	for _, s := range []string{"914403001922038216", "91330100716105852F", "91650104000000012X", "", "IOSVZ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateUSCC(s) != nil {
			return
		}
		if len(s) != 18 || strings.ContainsAny(s, "IOSVZ") || strings.ToUpper(s) != s {
			t.Fatalf("accepted non-canonical %q", s)
		}
		if want, _ := orgCodeCheck(s[8:16]); want != s[16] {
			t.Fatalf("accepted %q with a bad organisation check", s)
		}
	})
}

func FuzzValidateCertificateNo(f *testing.F) {
	for _, s := range []string{"GR202365000123", "GR201911000001", "GR2023", ""} {
		f.Add(s)
	}
	oracle := regexp.MustCompile(`^GR(\d{4})(\d{2})(\d{6})$`)
	f.Fuzz(func(t *testing.T, s string) {
		year, err := ValidateCertificateNo(s)
		if m := oracle.FindStringSubmatch(s); (err == nil) != (m != nil && m[1] >= "2008" && m[1] <= "2099" && provinceCodes[m[2]]) {
			t.Fatalf("%q: accepted %v, the pattern says otherwise", s, err == nil)
		}
		if err != nil {
			return
		}
		if len(s) != 14 || s[2:6] != year || !provinceCodes[s[6:8]] {
			t.Fatalf("accepted %q (year %q)", s, year)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024-02-29", "2023-02-29", "2024-1-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate("d", s)
		if err != nil {
			return
		}
		if d.Format(dateLayout) != s {
			t.Fatalf("accepted non-canonical %q", s)
		}
	})
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"5000.00", "0.01", "1e5", "-1", "100000000.00", "5000.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseMoney("m", s)
		if err != nil {
			return
		}
		if !d.IsPositive() || d.GreaterThan(MaxAmountCNY) || d.Exponent() < -2 {
			t.Fatalf("accepted %q as %s", s, d)
		}
		back, err := ParseMoney("m", FormatMoney(d))
		if err != nil || !back.Equal(d) {
			t.Fatalf("%q does not round-trip: %v", s, err)
		}
	})
}

func FuzzValidateSHA256(f *testing.F) {
	for _, s := range []string{strings.Repeat("a", 64), strings.Repeat("0", 63) + "F", strings.Repeat("9", 65), ""} {
		f.Add(s)
	}
	oracle := regexp.MustCompile(`^[0-9a-f]{64}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if (ValidateSHA256("h", s) == nil) != oracle.MatchString(s) {
			t.Fatalf("%q: ValidateSHA256 and the pattern disagree", s)
		}
	})
}
