package voucher

func validateAgencyKind(kind string) error {
	if kind != KindServiceAgency && kind != KindIncubator {
		return errorf(CodeInvalidArgument, "kind must be %q or %q", KindServiceAgency, KindIncubator)
	}
	return nil
}

func (c *Contract) registerAgency(ctx Context, caller Identity, a RegisterAgencyArgs) (any, error) {
	if err := requireRole(caller, "RegisterAgency", RoleSciTech); err != nil {
		return nil, err
	}
	if err := ValidateUSCC(a.ID); err != nil {
		return nil, err
	}
	if err := checkText("name", a.Name, 200, true); err != nil {
		return nil, err
	}
	if err := validateAgencyKind(a.Kind); err != nil {
		return nil, err
	}
	found, err := exists(ctx, agencyKey(a.ID))
	if err != nil {
		return nil, err
	}
	if found {
		return nil, errorf(CodeAlreadyExists, "agency %s is already registered", a.ID)
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	ag := Agency{ID: a.ID, Name: a.Name, Kind: a.Kind, Status: AgencyActive, RegisteredAt: now.at, UpdatedAt: now.at}
	raw, err := putEncoded(ctx, agencyKey(ag.ID), ag)
	if err != nil {
		return nil, err
	}
	return ag, emit(ctx, Event{Type: EventAgencyRegistered, TxID: ctx.TxID(), At: now.at, Actor: actorOf(caller), Agency: &ag}, eventRaw{agency: raw})
}

func (c *Contract) suspendAgency(ctx Context, caller Identity, a AgencyReasonArgs) (any, error) {
	return c.setAgencyStatus(ctx, caller, "SuspendAgency", a, AgencyActive, AgencySuspended, EventAgencySuspended, true)
}

func (c *Contract) reinstateAgency(ctx Context, caller Identity, a AgencyReasonArgs) (any, error) {
	return c.setAgencyStatus(ctx, caller, "ReinstateAgency", a, AgencySuspended, AgencyActive, EventAgencyReinstated, false)
}

func (c *Contract) setAgencyStatus(ctx Context, caller Identity, action string, a AgencyReasonArgs, from, to, eventType string, reasonRequired bool) (any, error) {
	if err := requireRole(caller, action, RoleSciTech); err != nil {
		return nil, err
	}
	if err := ValidateUSCC(a.ID); err != nil {
		return nil, err
	}
	if err := checkText("reason", a.Reason, 500, reasonRequired); err != nil {
		return nil, err
	}
	ag, err := loadAgency(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if ag.Status != from {
		return nil, errorf(CodeInvalidState, "agency %s is %s, not %s", a.ID, ag.Status, from)
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	ag.Status, ag.Reason, ag.UpdatedAt = to, a.Reason, now.at
	raw, err := putEncoded(ctx, agencyKey(ag.ID), ag)
	if err != nil {
		return nil, err
	}
	return ag, emit(ctx, Event{Type: eventType, TxID: ctx.TxID(), At: now.at, Actor: actorOf(caller), Agency: &ag}, eventRaw{agency: raw})
}

func loadAgency(ctx Context, id string) (Agency, error) {
	var ag Agency
	found, err := getJSON(ctx, agencyKey(id), &ag)
	if err != nil {
		return Agency{}, err
	}
	if !found {
		return Agency{}, errorf(CodeNotFound, "agency %s is not registered", id)
	}
	return ag, nil
}

// activeCallerAgency is the calling agency's record, which must be
// registered and active.
func activeCallerAgency(ctx Context, caller Identity) (Agency, error) {
	var ag Agency
	found, err := getJSON(ctx, agencyKey(caller.AgencyID), &ag)
	if err != nil {
		return Agency{}, err
	}
	if !found {
		return Agency{}, errorf(CodeForbidden, "agency %s of identity %q is not registered", caller.AgencyID, caller.Name)
	}
	if ag.Status != AgencyActive {
		return Agency{}, errorf(CodeAgencySuspended, "agency %s is suspended", ag.ID)
	}
	return ag, nil
}
