package voucher

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

func TestValidateUSCC(t *testing.T) {
	for _, ok := range []string{"914403001922038216", "91330100716105852F", "91440300708461136T", "91110000600037341L", makeUSCC(1), makeUSCC(99999999)} {
		if err := ValidateUSCC(ok); err != nil {
			t.Errorf("ValidateUSCC(%s) = %v, want ok", ok, err)
		}
	}
	for name, bad := range map[string]string{
		"empty":           "",
		"short":           "91440300708461136",
		"long":            "91440300708461136TX",
		"lowercase":       "91330100716105852f",
		"letter I":        "9133010071610585IF",
		"wrong check":     "914403001922038217",
		"wrong org check": "914403001922038306", // USCC check recomputed below
		"space":           "9144030070846113 T",
	} {
		if name == "wrong org check" {
			// Change the organisation check and repair the USCC check so only
			// the GB 11714 check fails.
			s := "91440300192203830"
			sum := 0
			for i := 0; i < 17; i++ {
				sum += indexUSCC(s[i]) * usccWeights[i]
			}
			bad = s + string(usccAlphabet[(31-sum%31)%31])
		}
		err := ValidateUSCC(bad)
		if CodeOf(err) != CodeInvalidArgument {
			t.Errorf("%s: ValidateUSCC(%q) = %v, want INVALID_ARGUMENT", name, bad, err)
		}
	}
}

func TestValidateCertificateNo(t *testing.T) {
	year, err := ValidateCertificateNo("GR202365000123")
	if err != nil || year != "2023" {
		t.Fatalf("got %q, %v", year, err)
	}
	if _, err := ValidateCertificateNo("GR202344000001"); err != nil {
		t.Errorf("other provinces occur: %v", err)
	}
	for _, bad := range []string{"", "GR20236500012", "GR2023650001234", "gr202365000123", "GR202399000123", "GR190065000123", "GX202365000123", "GR2023６5000123"} {
		if _, err := ValidateCertificateNo(bad); CodeOf(err) != CodeInvalidArgument {
			t.Errorf("ValidateCertificateNo(%q) = %v", bad, err)
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, ok := range []string{"2024-02-29", "2023-03-01", "2099-12-31"} {
		if _, err := ParseDate("d", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"2023-02-29", "2024-13-01", "2024-1-01", "20240101", "2024-01-01T00:00:00Z", "1999-12-31", "2100-01-01", " 2024-01-01", ""} {
		if _, err := ParseDate("d", bad); CodeOf(err) != CodeInvalidArgument {
			t.Errorf("ParseDate(%q) = %v", bad, err)
		}
	}
}

func TestParseMoney(t *testing.T) {
	for in, want := range map[string]string{"5000": "5000.00", "5000.5": "5000.50", "0.01": "0.01", "100000000.00": "100000000.00"} {
		d, err := ParseMoney("m", in)
		if err != nil || FormatMoney(d) != want {
			t.Errorf("ParseMoney(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "0", "0.00", "-5", "+5", "5.001", "1e3", "5,000", "NaN", "100000000.01", "05", ".5", "5.", " 5"} {
		if _, err := ParseMoney("m", bad); CodeOf(err) != CodeInvalidArgument {
			t.Errorf("ParseMoney(%q) = %v", bad, err)
		}
	}
}

func TestValidateSHA256(t *testing.T) {
	if err := ValidateSHA256("e", evidence("x")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", evidence("x")[:63], evidence("x") + "0", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"} {
		if err := ValidateSHA256("e", bad); CodeOf(err) != CodeInvalidArgument {
			t.Errorf("ValidateSHA256(%q) = %v", bad, err)
		}
	}
}

func TestCompositeKeyRoundTrip(t *testing.T) {
	k := CompositeKey("voucher", "a", "b")
	typ, attrs := SplitCompositeKey(k)
	if typ != "voucher" || len(attrs) != 2 || attrs[0] != "a" || attrs[1] != "b" {
		t.Fatalf("got %q %q", typ, attrs)
	}
}

// TestFormatMoneyMatchesStringFixed holds FormatMoney's fen fast path to
// decimal's StringFixed(2), rounding included, over random coefficients and
// exponents on both sides of its bounds.
func TestFormatMoneyMatchesStringFixed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range 200_000 {
		coef := rng.Int64N(1 << (1 + i%62))
		if rng.IntN(2) == 0 {
			coef = -coef
		}
		d := decimal.New(coef, int32(rng.IntN(9))-5)
		if got, want := FormatMoney(d), d.StringFixed(2); got != want {
			t.Fatalf("FormatMoney(%s) = %q, want %q", d, got, want)
		}
	}
}

func FuzzFormatMoney(f *testing.F) {
	f.Add(int64(500000), int8(-2))
	f.Add(int64(-5), int8(-3))
	f.Add(int64(999999999999999), int8(2))
	f.Fuzz(func(t *testing.T, coef int64, exp int8) {
		d := decimal.New(coef, int32(exp))
		if got, want := FormatMoney(d), d.StringFixed(2); got != want {
			t.Fatalf("FormatMoney(%s) = %q, want %q", d, got, want)
		}
	})
}

// FuzzMustMoney holds mustMoney's fen fast path to decimal's parser: the
// same coefficient and exponent, or Zero where the parser refuses.
func FuzzMustMoney(f *testing.F) {
	for _, s := range []string{"5000.00", "-0.50", "0.00", "0000000000123.45", "1234567890123.45", "12345678901234.56", "1.5", "5.", ".50", "-.50", "+1.00", "1e2", "1_0.00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := decimal.NewFromString(s)
		if err != nil {
			want = decimal.Zero
		}
		got := mustMoney(s)
		if got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 {
			t.Fatalf("mustMoney(%q) = %s (exp %d), want %s (exp %d)", s, got, got.Exponent(), want, want.Exponent())
		}
	})
}
