package voucher

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// MaxArgBytes bounds a transaction's JSON argument.
const MaxArgBytes = 64 << 10

// Contract holds the programme's rules. It is stateless: all state lives in
// the Context of each call, so one Contract serves any number of ledgers.
type Contract struct {
	// roleMSPs pins each role to the organisations allowed to assert it, so
	// one bureau's CA cannot mint the other bureau's role. Empty: any MSP.
	roleMSPs map[Role][]string
}

// Option configures a Contract.
type Option func(*Contract)

// WithRoleMSPs allows role only for callers whose MSP id is in mspIDs.
func WithRoleMSPs(role Role, mspIDs ...string) Option {
	return func(c *Contract) { c.roleMSPs[role] = slices.Clone(mspIDs) }
}

// New returns a contract.
func New(opts ...Option) *Contract {
	c := &Contract{roleMSPs: map[Role][]string{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

type handler struct {
	readOnly bool
	run      func(c *Contract, ctx Context, caller Identity, arg []byte) (any, error)
}

// bind decodes the argument strictly into A and calls f.
func bind[A any](f func(c *Contract, ctx Context, caller Identity, a A) (any, error)) func(*Contract, Context, Identity, []byte) (any, error) {
	return func(c *Contract, ctx Context, caller Identity, arg []byte) (any, error) {
		var a A
		if err := decodeArg(arg, &a); err != nil {
			return nil, err
		}
		return f(c, ctx, caller, a)
	}
}

var handlers = map[string]handler{
	"RegisterAgency":      {false, bind((*Contract).registerAgency)},
	"SuspendAgency":       {false, bind((*Contract).suspendAgency)},
	"ReinstateAgency":     {false, bind((*Contract).reinstateAgency)},
	"RecordCertification": {false, bind((*Contract).recordCertification)},
	"RecordService":       {false, bind((*Contract).recordService)},
	"Claim":               {false, bind((*Contract).claim)},
	"Redeem":              {false, bind((*Contract).redeem)},
	"Reimburse":           {false, bind((*Contract).reimburse)},
	"Reject":              {false, bind((*Contract).reject)},
	"Revoke":              {false, bind((*Contract).revoke)},
	"SetPolicy":           {false, bind((*Contract).setPolicy)},
	"GetPolicy":           {true, bind((*Contract).getPolicy)},
	"GetAgency":           {true, bind((*Contract).getAgency)},
	"ListAgencies":        {true, bind((*Contract).listAgencies)},
	"GetCertification":    {true, bind((*Contract).getCertification)},
	"GetVoucher":          {true, bind((*Contract).getVoucher)},
	"ListVouchers":        {true, bind((*Contract).listVouchers)},
	"GetVoucherHistory":   {true, bind((*Contract).getVoucherHistory)},
}

// Functions lists the transaction names, sorted.
func Functions() []string {
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsReadOnly reports whether fn only reads state.
func IsReadOnly(fn string) bool {
	h, ok := handlers[fn]
	return ok && h.readOnly
}

// Invoke runs transaction fn with its JSON argument as the context's caller
// and returns the JSON result. A rejection is an *Error and writes nothing
// the caller must keep: adapters discard the transaction's writes on error.
func (c *Contract) Invoke(ctx Context, fn string, arg []byte) ([]byte, error) {
	out, err := c.run(ctx, fn, arg)
	if err != nil {
		return nil, err
	}
	return marshalJSON(out)
}

// Replay runs transaction fn as Invoke does, for its writes and event only:
// it does not encode the result, which a ledger replaying its own history
// (recovery, verification) would throw away.
func (c *Contract) Replay(ctx Context, fn string, arg []byte) error {
	_, err := c.run(ctx, fn, arg)
	return err
}

func (c *Contract) run(ctx Context, fn string, arg []byte) (any, error) {
	h, ok := handlers[fn]
	if !ok {
		return nil, errorf(CodeInvalidArgument, "unknown transaction %q", fn)
	}
	caller, err := ctx.Caller()
	if err != nil {
		return nil, errorf(CodeForbidden, "caller identity: %v", err)
	}
	if err := c.checkCaller(caller); err != nil {
		return nil, err
	}
	out, err := h.run(c, ctx, caller, arg)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, &Error{Code: CodeInternal, Message: fmt.Sprintf("%s: %v", fn, err)}
	}
	return out, nil
}

// checkCaller refuses identities that carry no usable role.
func (c *Contract) checkCaller(id Identity) error {
	if id.Role == "" {
		if id.OrgAdmin {
			return nil
		}
		return errorf(CodeForbidden, "identity %q carries no hongshan.role", id.Name)
	}
	if !id.Role.Valid() {
		return errorf(CodeForbidden, "identity %q has unknown role %q", id.Name, id.Role)
	}
	if msps, ok := c.roleMSPs[id.Role]; ok && !slices.Contains(msps, id.MSPID) {
		return errorf(CodeForbidden, "role %s may not be asserted by organisation %s", id.Role, id.MSPID)
	}
	if id.Role == RoleAgency {
		if err := ValidateUSCC(id.AgencyID); err != nil {
			return errorf(CodeForbidden, "agency identity %q has no valid hongshan.agency", id.Name)
		}
	} else if id.AgencyID != "" {
		return errorf(CodeForbidden, "identity %q of role %s must not carry an agency", id.Name, id.Role)
	}
	return nil
}

func decodeArg(arg []byte, v any) error {
	if len(arg) > MaxArgBytes {
		return errorf(CodeInvalidArgument, "argument is %d bytes, over the limit of %d", len(arg), MaxArgBytes)
	}
	if len(bytes.TrimSpace(arg)) == 0 {
		arg = []byte("{}")
	}
	// One JSON object and nothing after it; member names exactly as
	// documented, each at most once; no unknown members; valid UTF-8.
	if err := unmarshalArg(arg, v); err != nil {
		return errorf(CodeInvalidArgument, "argument: %v", err)
	}
	return nil
}
