package fabric

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// The Fabric CA attributes (ECert: true) that carry a principal's job.
const (
	AttrRole   = "hongshan.role"
	AttrAgency = "hongshan.agency"
)

// adminOU is the organisational unit Fabric's NodeOUs give an organisation
// admin certificate.
const adminOU = "admin"

// callerOf reads the signer of the transaction from its X.509 certificate:
// the MSP id from the serialized identity, the name from the subject CN, the
// role and agency from the Fabric CA attributes. Nothing comes from the
// transaction's arguments.
func callerOf(stub cid.ChaincodeStubInterface) (voucher.Identity, error) {
	client, err := cid.New(stub)
	if err != nil {
		return voucher.Identity{}, fmt.Errorf("creator: %w", err)
	}
	cert, err := client.GetX509Certificate()
	if err != nil {
		return voucher.Identity{}, fmt.Errorf("creator certificate: %w", err)
	}
	if cert == nil {
		return voucher.Identity{}, errors.New("creator is not an X.509 identity")
	}
	mspID, err := client.GetMSPID()
	if err != nil {
		return voucher.Identity{}, fmt.Errorf("creator MSP: %w", err)
	}
	role, hasRole, err := client.GetAttributeValue(AttrRole)
	if err != nil {
		return voucher.Identity{}, fmt.Errorf("attribute %s: %w", AttrRole, err)
	}
	agency, _, err := client.GetAttributeValue(AttrAgency)
	if err != nil {
		return voucher.Identity{}, fmt.Errorf("attribute %s: %w", AttrAgency, err)
	}
	return voucher.Identity{
		MSPID:    mspID,
		Name:     cert.Subject.CommonName,
		Role:     voucher.Role(role),
		AgencyID: agency,
		OrgAdmin: !hasRole && slices.Contains(cert.Subject.OrganizationalUnit, adminOU),
	}, nil
}
