package voucher

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// transitions are the only status changes DOMAIN.md allows.
var transitions = map[Status][]Status{
	StatusIssued:              {StatusRedemptionRequested, StatusRejected, StatusRevoked},
	StatusRedemptionRequested: {StatusReimbursed, StatusRejected},
}

// CanTransition reports whether a voucher may move from one status to
// another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

func loadCap(ctx Context, agencyID, period string, limit decimal.Decimal) (CapUsage, error) {
	u := CapUsage{AgencyID: agencyID, Period: period, UsedCNY: "0.00"}
	if _, err := getJSON(ctx, capKey(agencyID, period), &u); err != nil {
		return CapUsage{}, err
	}
	u.LimitCNY = FormatMoney(limit)
	u.RemainingCNY = FormatMoney(decimal.Max(decimal.Zero, limit.Sub(mustMoney(u.UsedCNY))))
	return u, nil
}

func (c *Contract) claim(ctx Context, caller Identity, a ClaimArgs) (any, error) {
	if err := requireRole(caller, "Claim", RoleAgency); err != nil {
		return nil, err
	}
	if err := ValidateUSCC(a.EnterpriseID); err != nil {
		return nil, err
	}
	if _, err := ValidateCertificateNo(a.CertificateNo); err != nil {
		return nil, err
	}
	if _, err := activeCallerAgency(ctx, caller); err != nil {
		return nil, err
	}
	var cert Certification
	found, err := getJSON(ctx, certKey(a.CertificateNo), &cert)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errorf(CodeNotCertified, "certificate %s is not on the recognition list", a.CertificateNo)
	}
	if cert.EnterpriseID != a.EnterpriseID {
		return nil, errorf(CodeNotCertified, "certificate %s does not belong to enterprise %s", a.CertificateNo, a.EnterpriseID)
	}
	if cert.Kind != CertFirst {
		return nil, errorf(CodeNotEligible, "certificate %s is a %s; only first-time recognition earns a reward", cert.CertificateNo, cert.Kind)
	}
	policy, found, err := policyFor(ctx, cert.IssuedOn)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errorf(CodeNotEligible, "certificate %s issued on %s is outside every programme window", cert.CertificateNo, cert.IssuedOn)
	}
	liveID, err := ctx.GetState(certLiveKey(cert.CertificateNo))
	if err != nil {
		return nil, fmt.Errorf("read live voucher of %s: %w", cert.CertificateNo, err)
	}
	if len(liveID) > 0 {
		return nil, errorf(CodeAlreadyClaimed, "certificate %s already backs a live voucher", cert.CertificateNo)
	}
	service, err := qualifyingService(ctx, caller.AgencyID, cert)
	if err != nil {
		return nil, err
	}
	unit := mustMoney(policy.UnitRewardCNY)
	period := policy.PeriodOf(cert.IssuedOn)
	usage, err := loadCap(ctx, caller.AgencyID, period, mustMoney(policy.CapPerAgencyCNY))
	if err != nil {
		return nil, err
	}
	if mustMoney(usage.RemainingCNY).LessThan(unit) {
		return nil, &Error{
			Code:    CodeCapExceeded,
			Message: fmt.Sprintf("agency %s has %s left of its %s cap for period %s", caller.AgencyID, usage.RemainingCNY, usage.LimitCNY, period),
			Details: map[string]string{"remaining": usage.RemainingCNY, "limit": usage.LimitCNY, "period": period},
		}
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	v := Voucher{
		ID:       deriveID("V-"+period+"-", "voucher", ctx.TxID()),
		AgencyID: caller.AgencyID, EnterpriseID: cert.EnterpriseID, CertificateNo: cert.CertificateNo,
		ServiceRecordID: service.ID, Period: period, AmountCNY: FormatMoney(unit), PolicyVersion: policy.Version,
		Status: StatusIssued, IssuedAt: now.at, UpdatedAt: now.at, LastAction: "Claim", LastActor: actorOf(caller),
	}
	taken, err := keyTaken(ctx, voucherKey(v.ID))
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, errorf(CodeAlreadyExists, "voucher id %s is taken", v.ID)
	}
	usage = usage.add(unit, 1)
	var raw eventRaw
	if raw.voucher, err = putEncoded(ctx, voucherKey(v.ID), v); err != nil {
		return nil, err
	}
	if err := ctx.PutState(voucherByAgencyKey(v.AgencyID, v.ID), marker); err != nil {
		return nil, err
	}
	if err := ctx.PutState(certLiveKey(v.CertificateNo), []byte(v.ID)); err != nil {
		return nil, err
	}
	if raw.cap, err = putEncoded(ctx, capKey(usage.AgencyID, usage.Period), usage); err != nil {
		return nil, err
	}
	return v, emit(ctx, Event{Type: EventVoucherIssued, TxID: ctx.TxID(), At: now.at, Actor: actorOf(caller), Voucher: &v, Cap: &usage}, raw)
}

// add returns u with amount and count added (negative to release).
func (u CapUsage) add(amount decimal.Decimal, count int) CapUsage {
	used := mustMoney(u.UsedCNY).Add(amount)
	u.UsedCNY = FormatMoney(used)
	u.RemainingCNY = FormatMoney(decimal.Max(decimal.Zero, mustMoney(u.LimitCNY).Sub(used)))
	u.LiveCount += count
	return u
}

// qualifyingService finds the agency's earliest service to the enterprise
// that started on or before the certificate's issue date.
func qualifyingService(ctx Context, agencyID string, cert Certification) (ServiceRecord, error) {
	it, err := ctx.GetStateByPartialCompositeKey(objService, []string{agencyID, cert.EnterpriseID}, "")
	if err != nil {
		return ServiceRecord{}, fmt.Errorf("scan service records: %w", err)
	}
	defer func() { _ = it.Close() }()
	var best ServiceRecord
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return ServiceRecord{}, fmt.Errorf("scan service records: %w", err)
		}
		var rec ServiceRecord
		if err := jsonUnmarshal(kv.Value, &rec); err != nil {
			return ServiceRecord{}, err
		}
		if rec.StartedOn <= cert.IssuedOn && (best.ID == "" || rec.StartedOn < best.StartedOn) {
			best = rec
		}
	}
	if best.ID == "" {
		return ServiceRecord{}, errorf(CodeNoServiceRecord, "agency %s has no service to enterprise %s that started on or before %s", agencyID, cert.EnterpriseID, cert.IssuedOn)
	}
	return best, nil
}

func loadVoucher(ctx Context, id string) (Voucher, error) {
	if err := validateVoucherID(id); err != nil {
		return Voucher{}, err
	}
	var v Voucher
	found, err := getJSON(ctx, voucherKey(id), &v)
	if err != nil {
		return Voucher{}, err
	}
	if !found {
		return Voucher{}, errorf(CodeNotFound, "voucher %s does not exist", id)
	}
	return v, nil
}

// visibleVoucher loads a voucher the caller may see; another agency's
// voucher is reported as absent, never shown.
func visibleVoucher(ctx Context, caller Identity, id string) (Voucher, error) {
	v, err := loadVoucher(ctx, id)
	if err != nil {
		return Voucher{}, err
	}
	if !canReadAgency(caller, v.AgencyID) {
		return Voucher{}, errorf(CodeNotFound, "voucher %s does not exist", id)
	}
	return v, nil
}

func validateVoucherID(id string) error {
	if id == "" || len(id) > 64 {
		return errorf(CodeInvalidArgument, "voucher id must be 1-64 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' {
			return errorf(CodeInvalidArgument, "voucher id %q has a character other than letters, digits and -", clip(id))
		}
	}
	return nil
}

// move changes a voucher's status along an allowed transition, records the
// step and emits its event. release frees the certificate and the cap.
func move(ctx Context, caller Identity, v Voucher, to Status, action, eventType string, edit func(*Voucher, txTime)) (any, error) {
	if !CanTransition(v.Status, to) {
		return nil, errorf(CodeInvalidState, "voucher %s is %s; %s is not allowed", v.ID, v.Status, action)
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	v.Status, v.UpdatedAt, v.LastAction, v.LastActor = to, now.at, action, actorOf(caller)
	edit(&v, now)
	ev := Event{Type: eventType, TxID: ctx.TxID(), At: now.at, Actor: actorOf(caller), Voucher: &v}
	var raw eventRaw
	if !to.Live() {
		usage, capRaw, err := release(ctx, v)
		if err != nil {
			return nil, err
		}
		ev.Cap, raw.cap = &usage, capRaw
	}
	if raw.voucher, err = putEncoded(ctx, voucherKey(v.ID), v); err != nil {
		return nil, err
	}
	return v, emit(ctx, ev, raw)
}

// release gives a closed voucher's amount back to its agency's cap and frees
// its certificate for another claim.
func release(ctx Context, v Voucher) (CapUsage, []byte, error) {
	var u CapUsage
	found, err := getJSON(ctx, capKey(v.AgencyID, v.Period), &u)
	if err != nil {
		return CapUsage{}, nil, err
	}
	if !found {
		return CapUsage{}, nil, fmt.Errorf("cap usage of %s in %s is missing for live voucher %s", v.AgencyID, v.Period, v.ID)
	}
	u = u.add(mustMoney(v.AmountCNY).Neg(), -1)
	raw, err := putEncoded(ctx, capKey(u.AgencyID, u.Period), u)
	if err != nil {
		return CapUsage{}, nil, err
	}
	live, err := ctx.GetState(certLiveKey(v.CertificateNo))
	if err != nil {
		return CapUsage{}, nil, err
	}
	if string(live) == v.ID {
		if err := ctx.DelState(certLiveKey(v.CertificateNo)); err != nil {
			return CapUsage{}, nil, err
		}
	}
	return u, raw, nil
}

func (c *Contract) redeem(ctx Context, caller Identity, a VoucherIDArgs) (any, error) {
	if err := requireRole(caller, "Redeem", RoleAgency); err != nil {
		return nil, err
	}
	v, err := visibleVoucher(ctx, caller, a.ID)
	if err != nil {
		return nil, err
	}
	if _, err := activeCallerAgency(ctx, caller); err != nil {
		return nil, err
	}
	return move(ctx, caller, v, StatusRedemptionRequested, "Redeem", EventRedemptionRequested, func(v *Voucher, now txTime) {
		v.RedemptionRequestedAt = now.at
	})
}

func (c *Contract) reimburse(ctx Context, caller Identity, a ReimburseArgs) (any, error) {
	if err := requireRole(caller, "Reimburse", RoleFinance); err != nil {
		return nil, err
	}
	if err := ValidatePaymentRef(a.PaymentRef); err != nil {
		return nil, err
	}
	amount, err := ParseMoney("amount", a.AmountCNY)
	if err != nil {
		return nil, err
	}
	if _, err := ParseDate("paid_on", a.PaidOn); err != nil {
		return nil, err
	}
	v, err := loadVoucher(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if !CanTransition(v.Status, StatusReimbursed) {
		return nil, errorf(CodeInvalidState, "voucher %s is %s; only a voucher whose redemption was requested can be reimbursed", v.ID, v.Status)
	}
	if !amount.Equal(mustMoney(v.AmountCNY)) {
		return nil, &Error{Code: CodeAmountMismatch,
			Message: fmt.Sprintf("amount %s differs from voucher %s's amount %s", FormatMoney(amount), v.ID, v.AmountCNY),
			Details: map[string]string{"expected": v.AmountCNY}}
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	if a.PaidOn > now.date {
		return nil, errorf(CodeInvalidArgument, "paid_on %s is in the future", a.PaidOn)
	}
	if issued := dateOf(v.IssuedAt); a.PaidOn < issued {
		return nil, errorf(CodeInvalidArgument, "paid_on %s is before the voucher was issued on %s", a.PaidOn, issued)
	}
	refKey := paymentRefKey(a.PaymentRef)
	used, err := ctx.GetState(refKey)
	if err != nil {
		return nil, err
	}
	if len(used) > 0 {
		return nil, errorf(CodeDuplicatePaymentRef, "payment reference %s already paid voucher %s", a.PaymentRef, used)
	}
	if err := ctx.PutState(refKey, []byte(v.ID)); err != nil {
		return nil, err
	}
	return move(ctx, caller, v, StatusReimbursed, "Reimburse", EventVoucherReimbursed, func(v *Voucher, now txTime) {
		v.ReimbursedAt, v.PaymentRef, v.PaidAmountCNY, v.PaidOn = now.at, a.PaymentRef, FormatMoney(amount), a.PaidOn
	})
}

func (c *Contract) reject(ctx Context, caller Identity, a VoucherReasonArgs) (any, error) {
	return c.close(ctx, caller, a, RoleFinance, "Reject", StatusRejected, EventVoucherRejected)
}

func (c *Contract) revoke(ctx Context, caller Identity, a VoucherReasonArgs) (any, error) {
	return c.close(ctx, caller, a, RoleSciTech, "Revoke", StatusRevoked, EventVoucherRevoked)
}

func (c *Contract) close(ctx Context, caller Identity, a VoucherReasonArgs, role Role, action string, to Status, eventType string) (any, error) {
	if err := requireRole(caller, action, role); err != nil {
		return nil, err
	}
	if err := checkText("reason", a.Reason, 500, true); err != nil {
		return nil, err
	}
	v, err := loadVoucher(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return move(ctx, caller, v, to, action, eventType, func(v *Voucher, now txTime) {
		v.ClosedAt, v.Reason = now.at, a.Reason
	})
}
