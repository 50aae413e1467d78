// Package fabric runs the voucher contract on Hyperledger Fabric. It is a
// thin adapter: the chaincode shim's stub becomes a voucher.Context and every
// transaction goes to voucher.Contract.Invoke. No rule lives here.
package fabric

import (
	"strconv"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

// Chaincode is the shim.Chaincode that serves the voucher contract.
type Chaincode struct {
	contract *voucher.Contract
}

var _ shim.Chaincode = (*Chaincode)(nil)

// New returns the chaincode serving contract.
func New(contract *voucher.Contract) *Chaincode {
	return &Chaincode{contract: contract}
}

// Init does nothing: the contract keeps no set-up state of its own, so the
// chaincode definition needs no --init-required.
func (cc *Chaincode) Init(shim.ChaincodeStubInterface) *peer.Response {
	return shim.Success(nil)
}

// Invoke runs the named transaction with its single JSON argument. A
// rejection is returned as shim.Error(voucher.EncodeError(err)), so a client
// that sees only the message recovers the typed error with
// voucher.DecodeError; the peer then discards the transaction's writes.
func (cc *Chaincode) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	fn, params := stub.GetFunctionAndParameters()
	var arg []byte
	switch len(params) {
	case 0:
		arg = []byte("{}")
	case 1:
		arg = []byte(params[0])
	default:
		return shim.Error(voucher.EncodeError(&voucher.Error{
			Code:    voucher.CodeInvalidArgument,
			Message: "a transaction takes exactly one JSON argument",
			Details: map[string]string{"got": strconv.Itoa(len(params))},
		}))
	}
	out, err := cc.contract.Invoke(newStubContext(stub), fn, arg)
	if err != nil {
		return shim.Error(voucher.EncodeError(err))
	}
	return shim.Success(out)
}
