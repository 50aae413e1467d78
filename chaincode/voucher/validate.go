package voucher

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// usccAlphabet is GB 32100-2015's character set; a character's value is its
// index here.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var (
	usccWeights    = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	orgCodeWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}
)

// ValidateUSCC checks a 统一社会信用代码: 18 characters of the GB 32100
// alphabet, the GB 11714 organisation-code check (char 17) and the USCC
// check (char 18). Codes of any administrative division are accepted.
func ValidateUSCC(s string) error {
	if len(s) != 18 {
		return errorf(CodeInvalidArgument, "USCC %q must be 18 characters", clip(s))
	}
	sum := 0
	for i := 0; i < 18; i++ {
		v := strings.IndexByte(usccAlphabet, s[i])
		if v < 0 {
			return errorf(CodeInvalidArgument, "USCC %q: character %d (%q) is not allowed", s, i+1, s[i])
		}
		if i < 17 {
			sum += v * usccWeights[i]
		}
	}
	if want := usccAlphabet[(31-sum%31)%31]; s[17] != want {
		return errorf(CodeInvalidArgument, "USCC %q: check character is %q, expected %q", s, s[17], want)
	}
	if want, ok := orgCodeCheck(s[8:16]); !ok || s[16] != want {
		return errorf(CodeInvalidArgument, "USCC %q: organisation code %s fails its GB 11714 check", s, s[8:17])
	}
	return nil
}

// orgCodeCheck computes the GB 11714 check character of an 8-character
// organisation code body.
func orgCodeCheck(body string) (byte, bool) {
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		default:
			return 0, false
		}
		sum += v * orgCodeWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', true
	case 11:
		return '0', true
	default:
		return byte('0' + c), true
	}
}

// provinceCodes are the GB/T 2260 province-level codes that issue HTE
// certificates.
var provinceCodes = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
}

// ValidateCertificateNo checks an HTE certificate number (GR + year +
// province + 6 digits) and returns its year.
func ValidateCertificateNo(no string) (year string, err error) {
	// GR, then a 4-digit year, a 2-digit province and 6 digits.
	if len(no) != 14 || no[:2] != "GR" || !allDigits(no[2:]) {
		return "", errorf(CodeInvalidArgument, "certificate number %q must be GR + 4-digit year + 2-digit province + 6 digits", clip(no))
	}
	year, province := no[2:6], no[6:8]
	if year < "2008" || year > "2099" {
		return "", errorf(CodeInvalidArgument, "certificate number %q: year %s is out of range", no, year)
	}
	if !provinceCodes[province] {
		return "", errorf(CodeInvalidArgument, "certificate number %q: %s is not a province code", no, province)
	}
	return year, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const dateLayout = "2006-01-02"

// ParseDate parses a calendar date YYYY-MM-DD between 2000 and 2099.
func ParseDate(field, s string) (time.Time, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil || t.Format(dateLayout) != s {
		return time.Time{}, errorf(CodeInvalidArgument, "%s %q is not a calendar date YYYY-MM-DD", field, clip(s))
	}
	if t.Year() < 2000 || t.Year() > 2099 {
		return time.Time{}, errorf(CodeInvalidArgument, "%s %q is out of range", field, s)
	}
	return t, nil
}

// MaxAmountCNY bounds every amount the contract accepts.
var MaxAmountCNY = decimal.RequireFromString("100000000.00")

var moneyPattern = regexp.MustCompile(`^(0|[1-9]\d{0,11})(\.\d{1,2})?$`)

// ParseMoney parses a positive CNY amount with at most two decimal places,
// no sign, no exponent, at most MaxAmountCNY.
func ParseMoney(field, s string) (decimal.Decimal, error) {
	if !moneyPattern.MatchString(s) {
		return decimal.Decimal{}, errorf(CodeInvalidArgument, "%s %q must be a decimal amount like 5000.00 with at most 2 places", field, clip(s))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, errorf(CodeInvalidArgument, "%s %q: %v", field, s, err)
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, errorf(CodeInvalidArgument, "%s must be positive", field)
	}
	if d.GreaterThan(MaxAmountCNY) {
		return decimal.Decimal{}, errorf(CodeInvalidArgument, "%s %s is over the limit of %s", field, s, FormatMoney(MaxAmountCNY))
	}
	return d, nil
}

// FormatMoney renders an amount with exactly two places, rounded half away
// from zero as decimal's StringFixed(2) does. Amounts under 10^15 yuan with
// at most two places, which are all the contract makes, are written from
// their fen directly; StringFixed's big-integer formatting was a noticeable
// part of Verify's replay.
func FormatMoney(d decimal.Decimal) string {
	if e := d.Exponent(); e >= -2 && e <= 2 && d.NumDigits()+int(e) <= 15 {
		fen := d.CoefficientInt64()
		for ; e > -2; e-- {
			fen *= 10
		}
		return formatFen(fen)
	}
	return d.StringFixed(2)
}

func formatFen(fen int64) string {
	var buf [24]byte
	i := len(buf)
	neg := fen < 0
	if neg {
		fen = -fen
	}
	for n := 0; n < 3 || fen > 0; n++ {
		if n == 2 {
			i--
			buf[i] = '.'
		}
		i--
		buf[i] = byte('0' + fen%10)
		fen /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// mustMoney parses an amount the contract itself stored. The form
// FormatMoney writes, up to 15 digits, becomes fen times 10^-2 without
// decimal's general parser: the same coefficient and exponent it would give.
func mustMoney(s string) decimal.Decimal {
	if fen, ok := parseFen(s); ok {
		return decimal.New(fen, -2)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}

// parseFen reads -?[0-9]{1,13}\.[0-9]{2} as a number of fen.
func parseFen(s string) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) < 4 || len(s) > 16 || s[len(s)-3] != '.' {
		return 0, false
	}
	var fen int64
	for i := 0; i < len(s); i++ {
		if i == len(s)-3 {
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		fen = fen*10 + int64(c-'0')
	}
	if neg {
		fen = -fen
	}
	return fen, true
}

// ValidateSHA256 checks 64 lowercase hex characters.
func ValidateSHA256(field, s string) error {
	if !isLowerHex(s, 64) {
		return errorf(CodeInvalidArgument, "%s must be a SHA-256 digest: 64 lowercase hex characters", field)
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

var paymentRefPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$`)

// ValidatePaymentRef checks a treasury payment reference (国库集中支付凭证号).
func ValidatePaymentRef(s string) error {
	if !paymentRefPattern.MatchString(s) {
		return errorf(CodeInvalidArgument, "payment_ref %q must be 1-64 letters, digits or _ . / -", clip(s))
	}
	return nil
}

// checkText bounds a free-text field: valid UTF-8, no control characters,
// trimmed, at most maxRunes.
func checkText(field, s string, maxRunes int, required bool) error {
	if s == "" {
		if required {
			return errorf(CodeInvalidArgument, "%s is required", field)
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidArgument, "%s is not valid UTF-8", field)
	}
	if strings.TrimSpace(s) != s {
		return errorf(CodeInvalidArgument, "%s has leading or trailing spaces", field)
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return errorf(CodeInvalidArgument, "%s is %d characters, over the limit of %d", field, n, maxRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errorf(CodeInvalidArgument, "%s contains a control character", field)
		}
	}
	return nil
}

// clip shortens untrusted input quoted in an error message.
func clip(s string) string {
	const maxLen = 40
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "…"
}
