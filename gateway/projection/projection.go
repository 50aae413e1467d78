// Package projection is the gateway's read model: a bbolt database built
// only from the ledger's committed blocks and their events, checkpointed by
// block number, so it resumes after a restart with no gap and no duplicate.
// Every query and report of the gateway reads it, on both backends.
package projection

import (
	"context"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// Store is the read model. It is safe for concurrent use.
type Store struct{}

// Open opens (or creates) the read model at path.
func Open(path string) (*Store, error) { panic("unimplemented") }

// Close closes the database.
func (s *Store) Close() error { panic("unimplemented") }

// Follow applies b's blocks from the checkpoint on until ctx ends.
func (s *Store) Follow(ctx context.Context, b backend.Backend) error { panic("unimplemented") }

// Apply applies one block; a block at or below the checkpoint is skipped.
func (s *Store) Apply(blk backend.Block) error { panic("unimplemented") }

// Next is the number of the next block to apply (0 when empty).
func (s *Store) Next() uint64 { panic("unimplemented") }

// Head is the last applied block's number+1 (height) and hash.
func (s *Store) Head() (height uint64, hash string) { panic("unimplemented") }

// WaitFor blocks until block number n has been applied or ctx ends.
func (s *Store) WaitFor(ctx context.Context, n uint64) error { panic("unimplemented") }

// Policy is the newest policy version (the contract's default before any
// SetPolicy).
func (s *Store) Policy() (voucher.Policy, error) { panic("unimplemented") }

// PolicyFor is the policy version that judges a certificate issued on date.
func (s *Store) PolicyFor(issuedOn string) (voucher.Policy, bool, error) { panic("unimplemented") }

// Agency returns one agency with its caps; ok is false when unknown.
func (s *Store) Agency(id string) (v voucher.AgencyView, ok bool, err error) { panic("unimplemented") }

// Agencies pages agencies by id.
func (s *Store) Agencies(limit int, cursor string) (voucher.Page[voucher.AgencyView], error) {
	panic("unimplemented")
}

// Cap is an agency's usage in period, with the limit of the policy in force
// when the agency has no voucher there yet.
func (s *Store) Cap(agencyID, period string) (voucher.CapUsage, error) { panic("unimplemented") }

// Certification returns one certificate; ok is false when unknown.
func (s *Store) Certification(no string) (c voucher.Certification, ok bool, err error) {
	panic("unimplemented")
}

// Voucher returns one voucher; ok is false when unknown.
func (s *Store) Voucher(id string) (v voucher.Voucher, ok bool, err error) { panic("unimplemented") }

// Vouchers pages vouchers matching the filter (limit bounded by the caller).
func (s *Store) Vouchers(f voucher.ListVouchersArgs) (voucher.Page[voucher.Voucher], error) {
	panic("unimplemented")
}

// VoucherHistory lists a voucher's steps, oldest first.
func (s *Store) VoucherHistory(id string) ([]voucher.HistoryItem, error) { panic("unimplemented") }

// Snapshot is a consistent read-only view for reports: all iteration
// happens inside one bbolt read transaction, streaming, never loading the
// whole ledger into memory.
type Snapshot interface {
	Head() (height uint64, hash string)
	ForEachAgency(fn func(voucher.Agency) error) error
	ForEachCap(fn func(voucher.CapUsage) error) error
	ForEachCertification(fn func(voucher.Certification) error) error
	ForEachServiceRecord(fn func(voucher.ServiceRecord) error) error
	// ForEachVoucher visits vouchers grouped by agency id, then by id.
	ForEachVoucher(fn func(voucher.Voucher) error) error
	Policies() ([]voucher.Policy, error)
}

// View runs fn on a consistent snapshot.
func (s *Store) View(fn func(Snapshot) error) error { panic("unimplemented") }
