package embedded

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Defaults of the options.
const (
	DefaultMaxBatch = 512
	DefaultQueueLen = 4096
	// DefaultMmapSize is the initial bbolt mapping. bbolt must remap (and so
	// wait for every open read transaction) when the file outgrows its
	// mapping; a large virtual mapping costs no memory and keeps long reads
	// from stalling commits.
	DefaultMmapSize = 1 << 30
)

// CommitStats describes one committed block, for metrics.
type CommitStats struct {
	// Block is the committed block's number; the ledger's height is Block+1.
	Block uint64
	// Txs is the number of transactions in the block.
	Txs int
	// Rejected is the number of transactions of the batch the contract
	// refused; they are not in the block.
	Rejected int
	// Elapsed runs from taking the batch off the queue to the fsync
	// returning: the commit latency every transaction of the batch waited.
	Elapsed time.Duration
	// Sync is the bbolt commit alone (page writes and fsync).
	Sync time.Duration
}

// Invoker runs one transaction of a contract; voucher.Contract.Invoke is one.
type Invoker func(ctx voucher.Context, fn string, arg []byte) ([]byte, error)

type config struct {
	maxBatch   int
	queueLen   int
	mmapSize   int
	log        *slog.Logger
	invoke     Invoker
	replay     func(ctx voucher.Context, fn string, arg []byte) error
	isReadOnly func(fn string) bool
	observe    func(CommitStats)
	beforeSync func() // tests: called by the syncer before each fdatasync
}

// Option configures Open.
type Option func(*config) error

// WithMaxBatch bounds the transactions of one block (1..65536).
func WithMaxBatch(n int) Option {
	return func(c *config) error {
		if n < 1 || n > maxTxsPerBlock {
			return fmt.Errorf("max batch %d is outside 1..%d", n, maxTxsPerBlock)
		}
		c.maxBatch = n
		return nil
	}
}

// WithQueueLen bounds the transactions waiting for the committer. A Submit
// that finds the queue full waits for room until its context ends.
func WithQueueLen(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1<<20 {
			return fmt.Errorf("queue length %d is outside 1..%d", n, 1<<20)
		}
		c.queueLen = n
		return nil
	}
}

// WithMmapSize sets bbolt's initial memory mapping in bytes (see
// DefaultMmapSize).
func WithMmapSize(bytes int) Option {
	return func(c *config) error {
		if bytes < 0 {
			return fmt.Errorf("negative mmap size %d", bytes)
		}
		c.mmapSize = bytes
		return nil
	}
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.log = l
		}
		return nil
	}
}

// WithContract runs c instead of voucher.New().
func WithContract(ct *voucher.Contract) Option {
	return func(c *config) error {
		if ct == nil {
			return fmt.Errorf("nil contract")
		}
		c.invoke = ct.Invoke
		c.replay = ct.Replay
		c.isReadOnly = voucher.IsReadOnly
		return nil
	}
}

// WithCommitObserver calls fn after every committed block, on the committer
// goroutine: fn must be quick (update a metric, not log at length).
func WithCommitObserver(fn func(CommitStats)) Option {
	return func(c *config) error {
		c.observe = fn
		return nil
	}
}

// withInvoker replaces the contract, for tests of the ledger machinery.
func withInvoker(invoke Invoker, isReadOnly func(string) bool) Option {
	return func(c *config) error {
		c.invoke = invoke
		c.replay = func(ctx voucher.Context, fn string, arg []byte) error {
			_, err := invoke(ctx, fn, arg)
			return err
		}
		c.isReadOnly = isReadOnly
		return nil
	}
}

// withBeforeSync calls fn on the syncer before each fdatasync, for tests
// that hold a block between execution and durability.
func withBeforeSync(fn func()) Option {
	return func(c *config) error {
		c.beforeSync = fn
		return nil
	}
}
