package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/shopspring/decimal"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// The REST bodies of the writes. They are the contract's arguments without
// the ids that come from the path, so a body can never name another voucher
// or agency than its URL.
type (
	reasonBody struct {
		Reason string `json:"reason"`
	}
	emptyBody     struct{}
	reimburseBody struct {
		PaymentRef string `json:"payment_ref"`
		AmountCNY  string `json:"amount"`
		PaidOn     string `json:"paid_on"`
	}
)

// commit runs fn as p on the ledger and waits until the read model holds its
// block, so the next read sees the write. It returns the contract's JSON
// result.
func (a *API) commit(c *gin.Context, p auth.Principal, fn string, arg any) ([]byte, error) {
	argJSON, err := json.Marshal(arg)
	if err != nil {
		return nil, fmt.Errorf("encode %s argument: %w", fn, err)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.cfg.commitTimeout)
	defer cancel()
	start := time.Now()
	rcpt, err := a.be.Submit(ctx, p.Caller(), fn, argJSON)
	outcome := "committed"
	if err != nil {
		outcome = string(classify(err).Code)
	}
	a.metrics.observeCommit(fn, outcome, time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	a.metrics.sawHeight(rcpt.BlockNumber + 1)
	if err := a.reads.WaitFor(ctx, rcpt.BlockNumber); err != nil {
		// The write is durable; only read-your-writes is late. Answer it.
		c.Set(ctxKeyWarning, fmt.Sprintf("read model did not reach block %d in time: %v", rcpt.BlockNumber, err))
	}
	return rcpt.Payload, nil
}

func writeJSON(c *gin.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	c.Data(status, "application/json", b)
	return nil
}

func writePayload(c *gin.Context, status int, payload []byte) error {
	c.Data(status, "application/json", payload)
	return nil
}

func (a *API) registerAgency(c *gin.Context, p auth.Principal) error {
	var body voucher.RegisterAgencyArgs
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := voucher.ValidateUSCC(body.ID); err != nil {
		return err
	}
	out, err := a.commit(c, p, "RegisterAgency", body)
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/agencies/"+body.ID)
	return writePayload(c, http.StatusCreated, out)
}

// agencyAction suspends or reinstates the agency of the path.
func (a *API) agencyAction(fn string) Handler {
	return func(c *gin.Context, p auth.Principal) error {
		id, err := agencyIDParam(c)
		if err != nil {
			return err
		}
		var body reasonBody
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		out, err := a.commit(c, p, fn, voucher.AgencyReasonArgs{ID: id, Reason: body.Reason})
		if err != nil {
			return err
		}
		return writePayload(c, http.StatusOK, out)
	}
}

func (a *API) setPolicy(c *gin.Context, p auth.Principal) error {
	var body voucher.SetPolicyArgs
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	out, err := a.commit(c, p, "SetPolicy", body)
	if err != nil {
		return err
	}
	return writePayload(c, http.StatusOK, out)
}

func (a *API) recordCertification(c *gin.Context, p auth.Principal) error {
	var body voucher.RecordCertificationArgs
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	out, err := a.commit(c, p, "RecordCertification", body)
	if err != nil {
		return err
	}
	return writePayload(c, http.StatusCreated, out)
}

// recordService records a service of the caller's own agency: the contract
// takes the agency from the caller, never from the body.
func (a *API) recordService(c *gin.Context, p auth.Principal) error {
	var body voucher.RecordServiceArgs
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	out, err := a.commit(c, p, "RecordService", body)
	if err != nil {
		return err
	}
	return writePayload(c, http.StatusCreated, out)
}

// claim serialises the agency's claims in its lane, refuses a claim the cap
// cannot hold without writing to the ledger, and otherwise submits it. The
// contract stays the authority and may still refuse.
func (a *API) claim(c *gin.Context, p auth.Principal) error {
	var body voucher.ClaimArgs
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := voucher.ValidateUSCC(body.EnterpriseID); err != nil {
		return err
	}
	if _, err := voucher.ValidateCertificateNo(body.CertificateNo); err != nil {
		return err
	}
	release, err := a.lanes.acquire(c.Request.Context(), p.AgencyID)
	if err != nil {
		return err
	}
	defer release()
	if err := a.capPrecheck(p.AgencyID, body); err != nil {
		return err
	}
	out, err := a.commit(c, p, "Claim", &body) // a pointer: no copy boxed into the interface
	if err != nil {
		return err
	}
	var v struct {
		ID string `json:"id"`
	}
	if jsonv2.Unmarshal(out, &v, jsonv1.DefaultOptionsV1()) == nil && v.ID != "" {
		c.Header("Location", "/v1/vouchers/"+v.ID)
	}
	return writePayload(c, http.StatusCreated, out)
}

// capPrecheck answers CAP_EXCEEDED when the read model shows that the
// agency's remaining cap in the certificate's period is below the unit
// reward. It speaks only when the claim would otherwise reach the contract's
// cap check (certificate known, same enterprise, first-time, inside a policy
// window, agency active); in every other case the contract decides. Called
// inside the agency's lane, after the previous claim's block is applied, so
// the usage it reads is current for this gateway. Everything it reads comes
// from one snapshot of the read model (ClaimFacts).
func (a *API) capPrecheck(agencyID string, claim voucher.ClaimArgs) error {
	f, err := a.reads.ClaimFacts(agencyID, claim.CertificateNo)
	if err != nil || !f.CertificationKnown {
		return err
	}
	cert := f.Certification
	if cert.EnterpriseID != claim.EnterpriseID || cert.Kind != voucher.CertFirst {
		return nil
	}
	if !f.AgencyKnown || f.Agency.Status != voucher.AgencyActive {
		return nil
	}
	if !f.PolicyKnown {
		// As PolicyFor answers a stored issue date that is not a date
		// (the contract never records one).
		if _, err := time.Parse(time.DateOnly, cert.IssuedOn); err != nil {
			return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf("date %q is not YYYY-MM-DD", cert.IssuedOn)}
		}
		return nil
	}
	usage, period := f.Cap, f.Period
	if !remainingBelow(usage.RemainingCNY, f.Policy.UnitRewardCNY) {
		return nil
	}
	a.metrics.capPrechecked.Inc()
	return &voucher.Error{
		Code: voucher.CodeCapExceeded,
		Message: fmt.Sprintf("agency %s has %s left of its %s cap for period %s",
			agencyID, usage.RemainingCNY, usage.LimitCNY, period),
		Details: map[string]string{"remaining": usage.RemainingCNY, "limit": usage.LimitCNY, "period": period},
	}
}

// remainingBelow reports whether remaining < unit. Amounts in the plain
// form the ledger stores ("95000.00") are compared as integer cents; any
// other form goes through decimal, and unreadable figures are false (the
// contract judges).
func remainingBelow(remaining, unit string) bool {
	r, ok1 := plainCents(remaining)
	u, ok2 := plainCents(unit)
	if ok1 && ok2 {
		return r < u
	}
	rd, err1 := decimal.NewFromString(remaining)
	ud, err2 := decimal.NewFromString(unit)
	return err1 == nil && err2 == nil && rd.LessThan(ud)
}

// plainCents reads -?digits(.d{1,2})? of at most 15 integer digits as
// cents; ok is false for anything else.
func plainCents(s string) (cents int64, ok bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 15 || (hasFrac && (frac == "" || len(frac) > 2)) {
		return 0, false
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
		}
	}
	for i := 0; i < len(whole); i++ {
		cents = cents*10 + int64(whole[i]-'0')
	}
	for i := range 2 {
		cents *= 10
		if i < len(frac) {
			cents += int64(frac[i] - '0')
		}
	}
	if neg {
		cents = -cents
	}
	return cents, true
}

// redeem asks for the reimbursement of the caller's own voucher. Another
// agency's voucher is NOT_FOUND before anything reaches the ledger.
func (a *API) redeem(c *gin.Context, p auth.Principal) error {
	id, err := voucherIDParam(c)
	if err != nil {
		return err
	}
	var body emptyBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if v, ok, err := a.reads.Voucher(id); err != nil {
		return err
	} else if ok && !canSee(p, v.AgencyID) {
		return voucherNotFound(id)
	}
	out, err := a.commit(c, p, "Redeem", voucher.VoucherIDArgs{ID: id})
	if err != nil {
		return err
	}
	return writePayload(c, http.StatusOK, out)
}

func (a *API) reimburse(c *gin.Context, p auth.Principal) error {
	id, err := voucherIDParam(c)
	if err != nil {
		return err
	}
	var body reimburseBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	out, err := a.commit(c, p, "Reimburse", voucher.ReimburseArgs{
		ID: id, PaymentRef: body.PaymentRef, AmountCNY: body.AmountCNY, PaidOn: body.PaidOn})
	if err != nil {
		return err
	}
	return writePayload(c, http.StatusOK, out)
}

// voucherReason rejects or revokes the voucher of the path.
func (a *API) voucherReason(fn string) Handler {
	return func(c *gin.Context, p auth.Principal) error {
		id, err := voucherIDParam(c)
		if err != nil {
			return err
		}
		var body reasonBody
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		out, err := a.commit(c, p, fn, voucher.VoucherReasonArgs{ID: id, Reason: body.Reason})
		if err != nil {
			return err
		}
		return writePayload(c, http.StatusOK, out)
	}
}
