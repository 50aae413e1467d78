package projection

import (
	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// maxCachedPolicies bounds the versions the policy cache holds. The
// contract adds a version per SetPolicy, a few a year; a read model with
// more than this decodes them per call instead of caching them.
const maxCachedPolicies = 256

// cachedPolicies is every policy version, decoded, as the policies bucket
// held them at its sequence seq. It is never modified once published.
type cachedPolicies struct {
	seq uint64
	all []voucher.Policy
}

// The policy cache is keyed by the policies bucket's sequence, which the
// writer advances in the same write transaction as every policy it puts
// (writer.event). A reader compares the sequence its own transaction sees
// with the cached one, so it never uses versions of another block height
// than the rest of what it reads, whatever the timing of commits and
// cache updates. ApplyBlocks also drops the cache after a commit that
// changed a policy, and a Store starts with none: a rebuilt read model
// (Open of another schema) begins empty.

// policiesOf is policies(tx) from the cache when it holds tx's state of
// the policies bucket. The slice is shared: callers must not modify it.
func (s *Store) policiesOf(tx *bolt.Tx) ([]voucher.Policy, error) {
	seq := tx.Bucket(bucketPolicies).Sequence()
	if c := s.policyCache.Load(); c != nil && c.seq == seq {
		return c.all, nil
	}
	all, err := policies(tx)
	if err == nil && len(all) <= maxCachedPolicies {
		s.policyCache.Store(&cachedPolicies{seq: seq, all: all})
	}
	return all, err
}

// dropPolicyCache forgets the decoded versions (after a policy change).
func (s *Store) dropPolicyCache() { s.policyCache.Store(nil) }
