package voucher

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Page size bounds of every listing.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
	// maxScanPerPage bounds how many entries one filtered page examines; a
	// page cut short by it still carries a cursor to continue from.
	maxScanPerPage = 2000
)

func jsonUnmarshal(b []byte, v any) error {
	if err := unmarshalState(b, v); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	return nil
}

// dateOf is the Beijing-time calendar date of an RFC 3339 instant.
func dateOf(at string) string {
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return ""
	}
	return t.In(cst).Format(dateLayout)
}

func pageSize(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 0 || limit > MaxPageSize:
		return 0, errorf(CodeInvalidArgument, "limit must be between 1 and %d", MaxPageSize)
	}
	return limit, nil
}

// Cursors are the last key of the previous page, base64url, and must lie
// under the listing's own prefix.
func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeCursor(cursor, prefix string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return "", errorf(CodeInvalidArgument, "cursor is not one this listing returned")
	}
	return string(b), nil
}

func (c *Contract) getAgency(ctx Context, caller Identity, a IDArgs) (any, error) {
	if err := ValidateUSCC(a.ID); err != nil {
		return nil, err
	}
	if !canReadAgency(caller, a.ID) {
		return nil, errorf(CodeNotFound, "agency %s is not registered", a.ID)
	}
	ag, err := loadAgency(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return agencyView(ctx, ag)
}

func agencyView(ctx Context, ag Agency) (AgencyView, error) {
	view := AgencyView{Agency: ag, Caps: []CapUsage{}}
	it, err := ctx.GetStateByPartialCompositeKey(objCap, []string{ag.ID}, "")
	if err != nil {
		return AgencyView{}, fmt.Errorf("scan caps: %w", err)
	}
	defer func() { _ = it.Close() }()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return AgencyView{}, fmt.Errorf("scan caps: %w", err)
		}
		var u CapUsage
		if err := jsonUnmarshal(kv.Value, &u); err != nil {
			return AgencyView{}, err
		}
		view.Caps = append(view.Caps, u)
	}
	sort.Slice(view.Caps, func(i, j int) bool { return view.Caps[i].Period < view.Caps[j].Period })
	return view, nil
}

func (c *Contract) listAgencies(ctx Context, caller Identity, a ListArgs) (any, error) {
	if caller.Role == RoleAgency {
		ag, err := loadAgency(ctx, caller.AgencyID)
		if err != nil {
			return Page[AgencyView]{Items: []AgencyView{}}, nil
		}
		view, err := agencyView(ctx, ag)
		return Page[AgencyView]{Items: []AgencyView{view}}, err
	}
	limit, err := pageSize(a.Limit)
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor(a.Cursor, CompositeKey(objAgency))
	if err != nil {
		return nil, err
	}
	it, err := ctx.GetStateByPartialCompositeKey(objAgency, nil, after)
	if err != nil {
		return nil, fmt.Errorf("scan agencies: %w", err)
	}
	defer func() { _ = it.Close() }()
	page := Page[AgencyView]{Items: []AgencyView{}}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("scan agencies: %w", err)
		}
		if len(page.Items) == limit {
			page.NextCursor = encodeCursor(lastKey(page.Items))
			break
		}
		var ag Agency
		if err := jsonUnmarshal(kv.Value, &ag); err != nil {
			return nil, err
		}
		view, err := agencyView(ctx, ag)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, view)
	}
	return page, nil
}

func lastKey(items []AgencyView) string { return agencyKey(items[len(items)-1].ID) }

func (c *Contract) getVoucher(ctx Context, caller Identity, a VoucherIDArgs) (any, error) {
	return visibleVoucher(ctx, caller, a.ID)
}

func (c *Contract) listVouchers(ctx Context, caller Identity, a ListVouchersArgs) (any, error) {
	limit, err := pageSize(a.Limit)
	if err != nil {
		return nil, err
	}
	agencyID := a.AgencyID
	if caller.Role == RoleAgency {
		if agencyID != "" && agencyID != caller.AgencyID {
			return Page[Voucher]{Items: []Voucher{}}, nil
		}
		agencyID = caller.AgencyID
	}
	if agencyID != "" {
		if err := ValidateUSCC(agencyID); err != nil {
			return nil, err
		}
	}
	if a.Status != "" && !a.Status.Valid() {
		return nil, errorf(CodeInvalidArgument, "status %q is not a voucher status", clip(string(a.Status)))
	}
	if a.Period != "" && a.Period != ProgramPeriod {
		if _, err := ParseDate("period", a.Period+"-01-01"); err != nil {
			return nil, errorf(CodeInvalidArgument, "period must be a year like 2024 or %q", ProgramPeriod)
		}
	}
	objectType, attrs := objVoucher, []string(nil)
	if agencyID != "" {
		objectType, attrs = objVoucherByAg, []string{agencyID}
	}
	after, err := decodeCursor(a.Cursor, CompositeKey(objectType, attrs...))
	if err != nil {
		return nil, err
	}
	it, err := ctx.GetStateByPartialCompositeKey(objectType, attrs, after)
	if err != nil {
		return nil, fmt.Errorf("scan vouchers: %w", err)
	}
	defer func() { _ = it.Close() }()
	page := Page[Voucher]{Items: []Voucher{}}
	for scanned := 0; it.HasNext(); scanned++ {
		if len(page.Items) == limit || scanned == maxScanPerPage {
			page.NextCursor = encodeCursor(after)
			break
		}
		kv, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("scan vouchers: %w", err)
		}
		after = kv.Key
		var v Voucher
		if objectType == objVoucherByAg {
			_, keyAttrs := SplitCompositeKey(kv.Key)
			if v, err = loadVoucher(ctx, keyAttrs[len(keyAttrs)-1]); err != nil {
				return nil, err
			}
		} else if err := jsonUnmarshal(kv.Value, &v); err != nil {
			return nil, err
		}
		if (a.Status == "" || v.Status == a.Status) && (a.Period == "" || v.Period == a.Period) {
			page.Items = append(page.Items, v)
		}
	}
	return page, nil
}

func (c *Contract) getVoucherHistory(ctx Context, caller Identity, a VoucherIDArgs) (any, error) {
	if _, err := visibleVoucher(ctx, caller, a.ID); err != nil {
		return nil, err
	}
	it, err := ctx.GetHistoryForKey(voucherKey(a.ID))
	if err != nil {
		return nil, fmt.Errorf("voucher history: %w", err)
	}
	defer func() { _ = it.Close() }()
	items := []HistoryItem{}
	for it.HasNext() {
		h, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("voucher history: %w", err)
		}
		if h.IsDelete {
			continue
		}
		var v Voucher
		if err := jsonUnmarshal(h.Value, &v); err != nil {
			return nil, err
		}
		items = append(items, HistoryItem{TxID: h.TxID, At: v.UpdatedAt, Action: v.LastAction, Actor: v.LastActor, Status: v.Status})
	}
	// Fabric returns history newest first; the contract promises oldest first.
	sort.SliceStable(items, func(i, j int) bool { return items[i].At < items[j].At })
	return items, nil
}
