// Package harness runs the real gateway binary for the end-to-end suite and
// the load generator, and makes valid test identifiers: USCCs that pass both
// GB 32100 and GB 11714 checks, certificate numbers, evidence hashes.
package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"
)

// usccAlphabet is GB 32100-2015's character set (no I, O, S, V, Z); a
// character's value is its index.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var (
	usccWeights    = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	orgCodeWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}
)

// MaxSerial bounds the serials USCC accepts: the organisation code's body
// is the serial's eight decimal digits.
const MaxSerial = 99_999_999

// UrumqiDistrict is 新市区 (高新区), where the high-tech zone lies.
const UrumqiDistrict = "650104"

// USCC returns the enterprise (registration authority 9, type 1) credit
// code of serial n in the given six-digit administrative division: "91",
// the division, an organisation code whose body is n as eight digits with
// its GB 11714 check character, and the GB 32100 check character. Distinct
// serials give distinct codes. It panics if n is outside 0..MaxSerial or
// the division is not six digits: test data is a programming matter.
func USCC(division string, n int) string {
	if n < 0 || n > MaxSerial {
		panic(fmt.Sprintf("harness: USCC serial %d out of range", n))
	}
	if len(division) != 6 {
		panic(fmt.Sprintf("harness: division %q is not six digits", division))
	}
	body := fmt.Sprintf("%08d", n)
	s := "91" + division + body + string(orgCodeCheck(body))
	return s + string(usccCheck(s))
}

// UrumqiUSCC is USCC in 新市区/高新区 (91650104…).
func UrumqiUSCC(n int) string { return USCC(UrumqiDistrict, n) }

// orgCodeCheck is the GB 11714 check of an 8-character body: weights
// 3,7,9,10,5,8,4,2 (digits 0-9, letters A=10…Z=35); 11 − sum mod 11,
// written X for 10 and 0 for 11.
func orgCodeCheck(body string) byte {
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		v := int(c - '0')
		if c >= 'A' && c <= 'Z' {
			v = int(c-'A') + 10
		}
		sum += v * orgCodeWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

// usccCheck is the GB 32100 check of the first 17 characters.
func usccCheck(s17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		v := indexByte(usccAlphabet, s17[i])
		sum += v * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31]
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	panic(fmt.Sprintf("harness: %q is not in the USCC alphabet", c))
}

// CertNo is the high-tech enterprise certificate number of serial n
// (mod 1,000,000) in year, issued in Xinjiang (province 65):
// GR2024650000NN.
func CertNo(year, n int) string {
	return fmt.Sprintf("GR%04d65%06d", year, n%1_000_000)
}

// Evidence is a stable SHA-256 (64 lower-case hex digits) standing for the
// evidence of a service contract.
func Evidence(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Serials hands out distinct serials from a base, safely from many
// goroutines. A suite that runs against a ledger that outlives it (Fabric)
// starts from a base unique to the run, so its identifiers are new.
type Serials struct{ next atomic.Int64 }

// NewSerials starts at base.
func NewSerials(base int) *Serials {
	s := &Serials{}
	s.next.Store(int64(base))
	return s
}

// Next returns the next serial.
func (s *Serials) Next() int { return int(s.next.Add(1) - 1) }
