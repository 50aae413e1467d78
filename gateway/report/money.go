package report

import (
	"errors"
	"fmt"
	"math"

	"github.com/shopspring/decimal"
)

// fen is an amount of CNY in fen (0.01 yuan). Reports add up a million
// amounts: they are parsed exactly with shopspring/decimal, summed as
// integers (exact, overflow checked, no allocation per addition) and
// rendered back through decimal with exactly two places.
type fen int64

// errOverflow is an amount or a sum beyond ±92 trillion yuan: a corrupt
// record, never real money.
var errOverflow = errors.New("report: amount overflows")

var hundred = decimal.NewFromInt(100)

// parseFen parses a decimal amount with at most two places. An empty
// string is zero (a voucher without a paid amount).
func parseFen(s string) (fen, error) {
	if s == "" {
		return 0, nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	scaled := d.Mul(hundred)
	if !scaled.IsInteger() {
		return 0, fmt.Errorf("amount %q has more than two decimal places", s)
	}
	if scaled.Abs().GreaterThan(decimal.NewFromInt(math.MaxInt64 / 4)) {
		return 0, fmt.Errorf("amount %q: %w", s, errOverflow)
	}
	return fen(scaled.IntPart()), nil
}

// add returns a+b, refusing an overflow.
func (a fen) add(b fen) (fen, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, errOverflow
	}
	return s, nil
}

// String renders the amount with exactly two places, e.g. "5000.00".
func (a fen) String() string { return decimal.New(int64(a), -2).StringFixed(2) }

// float is the amount as an XLSX number. The file format stores numbers
// as IEEE doubles; every amount below 10^13 yuan has at most 15
// significant digits and so round-trips exactly, and excelize writes the
// shortest representation, so the cell holds the literal "1234.56".
func (a fen) float() float64 { return decimal.New(int64(a), -2).InexactFloat64() }

// amountCache remembers the few distinct amount strings a ledger holds
// ("5000.00" nearly always), so the scan parses each once.
type amountCache struct {
	m map[string]fen
}

// maxCachedAmounts bounds the cache; beyond it amounts are parsed each time.
const maxCachedAmounts = 256

func (c *amountCache) parse(s string) (fen, error) {
	if v, ok := c.m[s]; ok {
		return v, nil
	}
	v, err := parseFen(s)
	if err != nil {
		return 0, err
	}
	if c.m == nil {
		c.m = make(map[string]fen)
	}
	if len(c.m) < maxCachedAmounts {
		c.m[s] = v
	}
	return v, nil
}
