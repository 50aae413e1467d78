package fabric

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	pkgerrors "github.com/pkg/errors"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// RetryPolicy bounds how Submit retries a transaction that lost an MVCC or
// phantom-read race: at most MaxAttempts tries in all, waiting between them
// an exponentially growing delay from BaseDelay up to MaxDelay, of which
// the upper half is random so that racing submitters spread out.
type RetryPolicy struct {
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// MaxRetryAttempts bounds RetryPolicy.MaxAttempts.
const MaxRetryAttempts = 20

// DefaultRetryPolicy tries 5 times, waiting 50 ms, 100 ms, 200 ms, 400 ms
// (each between half and all of that): a conflicting transaction normally
// wins on the next block, one batch timeout away.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second}
}

func (p RetryPolicy) check() error {
	if p.MaxAttempts < 1 || p.MaxAttempts > MaxRetryAttempts {
		return fmt.Errorf("fabric: retry attempts %d outside 1..%d", p.MaxAttempts, MaxRetryAttempts)
	}
	if p.BaseDelay < 0 || p.MaxDelay < p.BaseDelay {
		return fmt.Errorf("fabric: retry delays %s..%s are not an ordered positive range", p.BaseDelay, p.MaxDelay)
	}
	return nil
}

// Delay is the wait after failed attempt number attempt (1-based), given a
// jitter in [0, 1): between half and all of min(BaseDelay·2^(attempt-1),
// MaxDelay).
func (p RetryPolicy) Delay(attempt int, jitter float64) time.Duration {
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	jitter = min(max(jitter, 0), 1)
	return d/2 + time.Duration(float64(d/2)*jitter)
}

// jitter spreads retries apart; it needs no unpredictability.
func jitter() float64 { return rand.Float64() } //nolint:gosec // backoff jitter, not a secret

// asInvalid finds an *invalidTxError in err, through both standard and
// github.com/pkg/errors wrapping (the SDK uses the latter).
func asInvalid(err error, target **invalidTxError) bool {
	if errors.As(err, target) {
		return true
	}
	return errors.As(pkgerrors.Cause(err), target)
}

func isUnavailable(err error) bool { return errors.Is(err, backend.ErrUnavailable) }
