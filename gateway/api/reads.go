package api

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// canSee reports whether p may see agency agencyID's data: agencies see only
// their own, every other role sees everything.
func canSee(p auth.Principal, agencyID string) bool {
	return p.Role != voucher.RoleAgency || p.AgencyID == agencyID
}

func voucherNotFound(id string) error {
	return Errorf(voucher.CodeNotFound, "voucher %s does not exist", id)
}

func agencyNotFound(id string) error {
	return Errorf(voucher.CodeNotFound, "agency %s is not registered", id)
}

func (a *API) listAgencies(c *gin.Context, p auth.Principal) error {
	q, err := queryOf(c, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, cursor, err := pageOf(q)
	if err != nil {
		return err
	}
	if p.Role == voucher.RoleAgency {
		page := voucher.Page[voucher.AgencyView]{Items: []voucher.AgencyView{}}
		if cursor == "" {
			if ag, ok, err := a.reads.Agency(p.AgencyID); err != nil {
				return err
			} else if ok {
				page.Items = append(page.Items, ag)
			}
		}
		return writeJSON(c, http.StatusOK, page)
	}
	page, err := a.reads.Agencies(limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, page)
}

// visibleAgency loads an agency p may see; anything else is NOT_FOUND.
func (a *API) visibleAgency(c *gin.Context, p auth.Principal) (voucher.AgencyView, error) {
	id, err := agencyIDParam(c)
	if err != nil {
		return voucher.AgencyView{}, err
	}
	if !canSee(p, id) {
		return voucher.AgencyView{}, agencyNotFound(id)
	}
	ag, ok, err := a.reads.Agency(id)
	if err != nil {
		return voucher.AgencyView{}, err
	}
	if !ok {
		return voucher.AgencyView{}, agencyNotFound(id)
	}
	return ag, nil
}

func (a *API) getAgency(c *gin.Context, p auth.Principal) error {
	if _, err := queryOf(c); err != nil {
		return err
	}
	ag, err := a.visibleAgency(c, p)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ag)
}

// getCap answers an agency's usage in one period: {agency_id, period,
// limit, used, remaining, live_count}.
func (a *API) getCap(c *gin.Context, p auth.Principal) error {
	q, err := queryOf(c, "period")
	if err != nil {
		return err
	}
	period := q.Get("period")
	if period == "" {
		return Errorf(voucher.CodeInvalidArgument, "query parameter period is required (a year, or %q)", voucher.ProgramPeriod)
	}
	if err := validatePeriod(period); err != nil {
		return err
	}
	ag, err := a.visibleAgency(c, p)
	if err != nil {
		return err
	}
	usage, err := a.reads.Cap(ag.ID, period)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, usage)
}

func (a *API) getPolicy(c *gin.Context, _ auth.Principal) error {
	if _, err := queryOf(c); err != nil {
		return err
	}
	pol, err := a.reads.Policy()
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, pol)
}

// listVouchers pages vouchers by agency_id, status and period. An agency
// sees only its own: asking for another agency's gives an empty page.
func (a *API) listVouchers(c *gin.Context, p auth.Principal) error {
	q, err := queryOf(c, "agency_id", "status", "period", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, cursor, err := pageOf(q)
	if err != nil {
		return err
	}
	f := voucher.ListVouchersArgs{AgencyID: q.Get("agency_id"), Status: voucher.Status(q.Get("status")),
		Period: q.Get("period"), Limit: limit, Cursor: cursor}
	if f.AgencyID != "" {
		if err := voucher.ValidateUSCC(f.AgencyID); err != nil {
			return err
		}
	}
	if f.Status != "" && !f.Status.Valid() {
		return Errorf(voucher.CodeInvalidArgument, "status must be one of issued, redemption_requested, reimbursed, rejected, revoked")
	}
	if f.Period != "" {
		if err := validatePeriod(f.Period); err != nil {
			return err
		}
	}
	if p.Role == voucher.RoleAgency {
		if f.AgencyID != "" && f.AgencyID != p.AgencyID {
			return writeJSON(c, http.StatusOK, voucher.Page[voucher.Voucher]{Items: []voucher.Voucher{}})
		}
		f.AgencyID = p.AgencyID
	}
	page, err := a.reads.Vouchers(f)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []voucher.Voucher{}
	}
	return writeJSON(c, http.StatusOK, page)
}

// visibleVoucher loads a voucher p may see; another agency's is NOT_FOUND,
// exactly like one that does not exist.
func (a *API) visibleVoucher(c *gin.Context, p auth.Principal) (voucher.Voucher, error) {
	if _, err := queryOf(c); err != nil {
		return voucher.Voucher{}, err
	}
	id, err := voucherIDParam(c)
	if err != nil {
		return voucher.Voucher{}, err
	}
	v, ok, err := a.reads.Voucher(id)
	if err != nil {
		return voucher.Voucher{}, err
	}
	if !ok || !canSee(p, v.AgencyID) {
		return voucher.Voucher{}, voucherNotFound(id)
	}
	return v, nil
}

func (a *API) getVoucher(c *gin.Context, p auth.Principal) error {
	v, err := a.visibleVoucher(c, p)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

// voucherHistory answers the voucher's steps, oldest first, as a JSON array
// of {tx_id, at, action, actor, status}.
func (a *API) voucherHistory(c *gin.Context, p auth.Principal) error {
	v, err := a.visibleVoucher(c, p)
	if err != nil {
		return err
	}
	items, err := a.reads.VoucherHistory(v.ID)
	if err != nil {
		return fmt.Errorf("history of %s: %w", v.ID, err)
	}
	if items == nil {
		items = []voucher.HistoryItem{}
	}
	return writeJSON(c, http.StatusOK, items)
}
