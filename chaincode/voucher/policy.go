package voucher

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// DefaultPolicy is the policy in force before 科技局 sets any: 三（九） of the
// 2023–2025 action plan, with our reading of the cap period (DOMAIN.md).
func DefaultPolicy() Policy {
	return Policy{
		Version:         1,
		UnitRewardCNY:   "5000.00",
		CapPerAgencyCNY: "100000.00",
		CapScope:        CapScopeYear,
		WindowFrom:      "2023-03-01",
		WindowTo:        "2026-02-28",
		StaleAfterDays:  180,
	}
}

// MaxStaleAfterDays bounds the report's unredeemed-voucher threshold.
const MaxStaleAfterDays = 3650

// headPolicyVersion is the newest stored version, 0 when none is stored.
func headPolicyVersion(ctx Context) (int, error) {
	b, err := ctx.GetState(CompositeKey(objPolicyHead))
	if err != nil {
		return 0, fmt.Errorf("read policy head: %w", err)
	}
	if len(b) == 0 {
		return 0, nil
	}
	var v int
	if _, err := fmt.Sscanf(string(b), "%d", &v); err != nil {
		return 0, fmt.Errorf("decode policy head: %w", err)
	}
	return v, nil
}

// policyVersion reads one version. Version 1 is the default and is never
// stored: SetPolicy starts at 2.
func policyVersion(ctx Context, version int) (Policy, bool, error) {
	if version == 1 {
		return DefaultPolicy(), true, nil
	}
	var p Policy
	found, err := getJSON(ctx, policyKey(version), &p)
	return p, found, err
}

// currentPolicy is the newest version.
func currentPolicy(ctx Context) (Policy, error) {
	head, err := headPolicyVersion(ctx)
	if err != nil {
		return Policy{}, err
	}
	if head == 0 {
		return DefaultPolicy(), nil
	}
	p, _, err := policyVersion(ctx, head)
	return p, err
}

// policyFor is the newest version whose window holds issuedOn: each claim is
// judged by the policy in force for its certificate.
func policyFor(ctx Context, issuedOn string) (Policy, bool, error) {
	head, err := headPolicyVersion(ctx)
	if err != nil {
		return Policy{}, false, err
	}
	if head == 0 {
		head = 1
	}
	for v := head; v >= 1; v-- {
		p, found, err := policyVersion(ctx, v)
		if err != nil {
			return Policy{}, false, err
		}
		if found && p.Covers(issuedOn) {
			return p, true, nil
		}
	}
	return Policy{}, false, nil
}

// Covers reports whether a certificate issued on date falls in the window.
func (p Policy) Covers(date string) bool {
	return date >= p.WindowFrom && date <= p.WindowTo
}

// PeriodOf is the cap period of a certificate issued on date.
func (p Policy) PeriodOf(issuedOn string) string {
	if p.CapScope == CapScopeProgram {
		return ProgramPeriod
	}
	return issuedOn[:4]
}

func validatePolicyArgs(a SetPolicyArgs) (unit, capCNY decimal.Decimal, err error) {
	if unit, err = ParseMoney("unit_reward", a.UnitRewardCNY); err != nil {
		return
	}
	if capCNY, err = ParseMoney("cap_per_agency", a.CapPerAgencyCNY); err != nil {
		return
	}
	if capCNY.LessThan(unit) {
		err = errorf(CodeInvalidArgument, "cap_per_agency %s is below unit_reward %s", FormatMoney(capCNY), FormatMoney(unit))
		return
	}
	if a.CapScope != CapScopeYear && a.CapScope != CapScopeProgram {
		err = errorf(CodeInvalidArgument, "cap_scope must be %q or %q", CapScopeYear, CapScopeProgram)
		return
	}
	from, err := ParseDate("window_from", a.WindowFrom)
	if err != nil {
		return
	}
	to, err := ParseDate("window_to", a.WindowTo)
	if err != nil {
		return
	}
	if to.Before(from) {
		err = errorf(CodeInvalidArgument, "window_to %s is before window_from %s", a.WindowTo, a.WindowFrom)
		return
	}
	if a.StaleAfterDays < 0 || a.StaleAfterDays > MaxStaleAfterDays {
		err = errorf(CodeInvalidArgument, "stale_after_days must be between 1 and %d, or 0 for the default", MaxStaleAfterDays)
	}
	return
}

func (c *Contract) setPolicy(ctx Context, caller Identity, a SetPolicyArgs) (any, error) {
	if err := requireRole(caller, "SetPolicy", RoleSciTech); err != nil {
		return nil, err
	}
	unit, capCNY, err := validatePolicyArgs(a)
	if err != nil {
		return nil, err
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	head, err := headPolicyVersion(ctx)
	if err != nil {
		return nil, err
	}
	if head == 0 {
		head = 1 // the default is version 1
	}
	stale := a.StaleAfterDays
	if stale == 0 {
		stale = DefaultPolicy().StaleAfterDays
	}
	p := Policy{
		Version:         head + 1,
		UnitRewardCNY:   FormatMoney(unit),
		CapPerAgencyCNY: FormatMoney(capCNY),
		CapScope:        a.CapScope,
		WindowFrom:      a.WindowFrom,
		WindowTo:        a.WindowTo,
		StaleAfterDays:  stale,
		SetAt:           now.at,
		SetBy:           actorOf(caller),
	}
	raw, err := putEncoded(ctx, policyKey(p.Version), p)
	if err != nil {
		return nil, err
	}
	if err := ctx.PutState(CompositeKey(objPolicyHead), []byte(fmt.Sprint(p.Version))); err != nil {
		return nil, fmt.Errorf("write policy head: %w", err)
	}
	return p, emit(ctx, Event{Type: EventPolicySet, TxID: ctx.TxID(), At: now.at, Actor: actorOf(caller), Policy: &p}, eventRaw{policy: raw})
}

func (c *Contract) getPolicy(ctx Context, _ Identity, a GetPolicyArgs) (any, error) {
	if a.Version < 0 {
		return nil, errorf(CodeInvalidArgument, "version must not be negative")
	}
	if a.Version == 0 {
		return currentPolicy(ctx)
	}
	p, found, err := policyVersion(ctx, a.Version)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errorf(CodeNotFound, "policy version %d does not exist", a.Version)
	}
	return p, nil
}
