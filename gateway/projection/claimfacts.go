package projection

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// ClaimFacts is what the gateway's cap pre-check reads for one claim
// (docs/adr/0001-gateway-cap-precheck-and-lanes.md): the certificate, the
// agency, the policy that judges the certificate and the agency's usage in
// the certificate's period, all of one block height. Each part is read
// only when the parts before it were found.
type ClaimFacts struct {
	// Certification is the claimed certificate, as Certification answers;
	// CertificationKnown is false when the read model does not hold it.
	Certification      voucher.Certification
	CertificationKnown bool
	// Agency is the claiming agency without its caps, as Agency answers;
	// AgencyKnown is false when the read model does not hold it.
	Agency      voucher.Agency
	AgencyKnown bool
	// Policy is the version that judges the certificate, as PolicyFor its
	// issue date answers. PolicyKnown is false when no version's window
	// holds that date, or when the date is not YYYY-MM-DD (PolicyFor's
	// INVALID_ARGUMENT; the contract never stores such a date).
	Policy      voucher.Policy
	PolicyKnown bool
	// Period is Policy.PeriodOf the issue date, and Cap the agency's usage
	// in it, as Cap answers.
	Period string
	Cap    voucher.CapUsage
}

// ClaimFacts reads the facts of a claim by agencyID of certificateNo in
// one read transaction, with point lookups only (the agency's other caps
// are not read) and the policy versions from the policy cache. It is
// Certification, Agency, PolicyFor and Cap in one snapshot.
func (s *Store) ClaimFacts(agencyID, certificateNo string) (f ClaimFacts, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		f, err = s.claimFacts(tx, agencyID, certificateNo)
		return err
	})
	return f, err
}

func (s *Store) claimFacts(tx *bolt.Tx, agencyID, certificateNo string) (f ClaimFacts, err error) {
	snap := snapshot{tx: tx}
	if f.Certification, f.CertificationKnown, err = snap.Certification(certificateNo); err != nil || !f.CertificationKnown {
		return f, err
	}
	if f.Agency, f.AgencyKnown, err = snap.Agency(agencyID); err != nil || !f.AgencyKnown {
		return f, err
	}
	issuedOn := f.Certification.IssuedOn
	if _, err := time.Parse(time.DateOnly, issuedOn); err != nil {
		return f, nil
	}
	all, err := s.policiesOf(tx)
	if err != nil {
		return f, err
	}
	if f.Policy, f.PolicyKnown = policyCovering(all, issuedOn); !f.PolicyKnown {
		return f, nil
	}
	f.Period = f.Policy.PeriodOf(issuedOn)
	f.Cap, err = s.capIn(tx, all, agencyID, f.Period)
	return f, err
}
