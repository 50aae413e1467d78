package fabric

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// Defaults of the options.
const (
	DefaultChannel     = "hongshan"
	DefaultChaincode   = "hongshan"
	DefaultSciTechOrg  = "SciTechBureau"
	DefaultFinanceOrg  = "FinanceBureau"
	DefaultIDPrefix    = "hongshan."
	DefaultClientCache = 256
	// DefaultSubmitTimeout bounds one Submit attempt from proposal to commit
	// event when the caller's context has no earlier deadline.
	DefaultSubmitTimeout = 30 * time.Second
	// DefaultEvaluateTimeout bounds one Evaluate.
	DefaultEvaluateTimeout = 10 * time.Second
	// DefaultDialTimeout bounds connecting to a peer, orderer or discovery
	// endpoint (the SDK's default is 10-15 s): on loopback or a LAN a
	// node that does not answer in 3 s is down, and the gateway should say
	// 503 rather than hang.
	DefaultDialTimeout = 3 * time.Second
	// DefaultGreylist is how long a peer that failed stays out of endorser
	// selection (the SDK's default is 10 s); short, so a restarted peer is
	// used again soon.
	DefaultGreylist = 2 * time.Second
)

type config struct {
	profile         string
	channel         string
	chaincode       string
	scitechOrg      string
	financeOrg      string
	walletDir       string
	idPrefix        string
	clientCache     int
	retry           RetryPolicy
	submitTimeout   time.Duration
	evaluateTimeout time.Duration
	dialTimeout     time.Duration
	greylist        time.Duration
	log             *slog.Logger
}

func defaultConfig() config {
	return config{
		channel:         DefaultChannel,
		chaincode:       DefaultChaincode,
		scitechOrg:      DefaultSciTechOrg,
		financeOrg:      DefaultFinanceOrg,
		idPrefix:        DefaultIDPrefix,
		clientCache:     DefaultClientCache,
		retry:           DefaultRetryPolicy(),
		submitTimeout:   DefaultSubmitTimeout,
		evaluateTimeout: DefaultEvaluateTimeout,
		dialTimeout:     DefaultDialTimeout,
		greylist:        DefaultGreylist,
		log:             slog.Default(),
	}
}

func (c config) check() error {
	var errs []error
	if c.profile == "" {
		errs = append(errs, errors.New("fabric: no connection profile (WithProfile)"))
	}
	if c.walletDir == "" {
		errs = append(errs, errors.New("fabric: no wallet directory (WithWalletDir)"))
	}
	return errors.Join(errs...)
}

// Option configures Open.
type Option func(*config) error

// WithProfile names the fabric-sdk-go connection profile (YAML), such as
// network/.state/connection-profile.yaml. Its client organisation must be
// the S&T bureau, and each bureau's CA must list a registrar.
func WithProfile(path string) Option {
	return func(c *config) error {
		if path == "" {
			return errors.New("fabric: empty profile path")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("fabric: profile path: %w", err)
		}
		c.profile = abs
		return nil
	}
}

// WithChannel sets the channel (default "hongshan").
func WithChannel(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("fabric: empty channel name")
		}
		c.channel = name
		return nil
	}
}

// WithChaincode sets the chaincode name (default "hongshan").
func WithChaincode(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("fabric: empty chaincode name")
		}
		c.chaincode = name
		return nil
	}
}

// WithOrgs names the two bureaus' organisations in the connection profile
// (default SciTechBureau and FinanceBureau). Principals of roles scitech,
// agency and auditor are enrolled at the first's CA, finance principals at
// the second's, because the contract pins each role to its bureau's MSP.
func WithOrgs(scitech, finance string) Option {
	return func(c *config) error {
		if scitech == "" || finance == "" || scitech == finance {
			return fmt.Errorf("fabric: organisations %q and %q must be two different names", scitech, finance)
		}
		c.scitechOrg, c.financeOrg = scitech, finance
		return nil
	}
}

// WithWalletDir sets the directory that holds principals' certificates and
// private keys (created with mode 0700; keys are written 0600). The gateway
// puts it under its data directory.
func WithWalletDir(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("fabric: empty wallet directory")
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("fabric: wallet path: %w", err)
		}
		c.walletDir = abs
		return nil
	}
}

// WithEnrollmentIDPrefix sets the prefix that turns a principal's name into
// its CA enrollment id (default "hongshan."). The prefix keeps gateway
// principals apart from the CA's own identities (admin, peers, registrars),
// so a principal called "admin" can never touch the CA's bootstrap admin.
// The chaincode sees the enrollment id as the caller's name.
func WithEnrollmentIDPrefix(prefix string) Option {
	return func(c *config) error {
		c.idPrefix = prefix
		return nil
	}
}

// WithClientCache bounds how many principals keep a live channel client
// (each holds discovery and channel-config caches); the least recently used
// is closed beyond it.
func WithClientCache(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 100_000 {
			return fmt.Errorf("fabric: client cache %d is outside 1..100000", n)
		}
		c.clientCache = n
		return nil
	}
}

// WithRetryPolicy sets how Submit retries MVCC and phantom-read conflicts.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error {
		if err := p.check(); err != nil {
			return err
		}
		c.retry = p
		return nil
	}
}

// WithTimeouts bounds one Submit attempt (proposal to commit event) and one
// Evaluate; the caller's context can only shorten them.
func WithTimeouts(submit, evaluate time.Duration) Option {
	return func(c *config) error {
		if submit <= 0 || evaluate <= 0 {
			return errors.New("fabric: timeouts must be positive")
		}
		c.submitTimeout, c.evaluateTimeout = submit, evaluate
		return nil
	}
}

// WithNetworkTimeouts sets the dial timeout of every network endpoint and
// how long a failed peer is kept out of endorser selection (defaults
// DefaultDialTimeout, DefaultGreylist). They override the profile's values.
func WithNetworkTimeouts(dial, greylist time.Duration) Option {
	return func(c *config) error {
		if dial <= 0 || greylist <= 0 {
			return errors.New("fabric: network timeouts must be positive")
		}
		c.dialTimeout, c.greylist = dial, greylist
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.log = l
		}
		return nil
	}
}
