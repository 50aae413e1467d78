package voucher

func (c *Contract) recordCertification(ctx Context, caller Identity, a RecordCertificationArgs) (any, error) {
	if err := requireRole(caller, "RecordCertification", RoleSciTech); err != nil {
		return nil, err
	}
	if err := ValidateUSCC(a.EnterpriseID); err != nil {
		return nil, err
	}
	if err := checkText("enterprise_name", a.EnterpriseName, 200, true); err != nil {
		return nil, err
	}
	year, err := ValidateCertificateNo(a.CertificateNo)
	if err != nil {
		return nil, err
	}
	if _, err := ParseDate("issued_on", a.IssuedOn); err != nil {
		return nil, err
	}
	if a.IssuedOn[:4] != year {
		return nil, errorf(CodeInvalidArgument, "certificate %s is of year %s but issued_on is %s", a.CertificateNo, year, a.IssuedOn)
	}
	if a.Kind != CertFirst && a.Kind != CertRenewal {
		return nil, errorf(CodeInvalidArgument, "kind must be %q or %q", CertFirst, CertRenewal)
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	if a.IssuedOn > now.date {
		return nil, errorf(CodeInvalidArgument, "issued_on %s is in the future", a.IssuedOn)
	}
	found, err := exists(ctx, certKey(a.CertificateNo))
	if err != nil {
		return nil, err
	}
	if found {
		return nil, errorf(CodeAlreadyExists, "certificate %s is already recorded", a.CertificateNo)
	}
	cert := Certification{
		CertificateNo: a.CertificateNo, EnterpriseID: a.EnterpriseID, EnterpriseName: a.EnterpriseName,
		IssuedOn: a.IssuedOn, Kind: a.Kind, RecordedAt: now.at, RecordedTx: ctx.TxID(),
	}
	raw, err := putEncoded(ctx, certKey(cert.CertificateNo), cert)
	if err != nil {
		return nil, err
	}
	return cert, emit(ctx, Event{Type: EventCertificationRecorded, TxID: ctx.TxID(), At: now.at, Actor: actorOf(caller), Certification: &cert}, eventRaw{certification: raw})
}

func (c *Contract) recordService(ctx Context, caller Identity, a RecordServiceArgs) (any, error) {
	if err := requireRole(caller, "RecordService", RoleAgency); err != nil {
		return nil, err
	}
	if err := ValidateUSCC(a.EnterpriseID); err != nil {
		return nil, err
	}
	if err := checkText("contract_ref", a.ContractRef, 100, true); err != nil {
		return nil, err
	}
	if _, err := ParseDate("started_on", a.StartedOn); err != nil {
		return nil, err
	}
	if err := ValidateSHA256("evidence_sha256", a.EvidenceSHA256); err != nil {
		return nil, err
	}
	if a.EnterpriseID == caller.AgencyID {
		return nil, errorf(CodeInvalidArgument, "an agency cannot record a service to itself")
	}
	now, err := nowOf(ctx)
	if err != nil {
		return nil, err
	}
	if a.StartedOn > now.date {
		return nil, errorf(CodeInvalidArgument, "started_on %s is in the future", a.StartedOn)
	}
	if _, err := activeCallerAgency(ctx, caller); err != nil {
		return nil, err
	}
	refKey := serviceRefKey(caller.AgencyID, a.EnterpriseID, a.ContractRef)
	found, err := exists(ctx, refKey)
	if err != nil {
		return nil, err
	}
	if found {
		return nil, errorf(CodeAlreadyExists, "contract %q with enterprise %s is already recorded", a.ContractRef, a.EnterpriseID)
	}
	rec := ServiceRecord{
		ID: deriveID("SR-", "service", ctx.TxID()), AgencyID: caller.AgencyID, EnterpriseID: a.EnterpriseID,
		ContractRef: a.ContractRef, StartedOn: a.StartedOn, EvidenceSHA256: a.EvidenceSHA256,
		RecordedAt: now.at, RecordedTx: ctx.TxID(),
	}
	raw, err := putEncoded(ctx, serviceKey(rec.AgencyID, rec.EnterpriseID, rec.ID), rec)
	if err != nil {
		return nil, err
	}
	if err := ctx.PutState(refKey, []byte(rec.ID)); err != nil {
		return nil, err
	}
	return rec, emit(ctx, Event{Type: EventServiceRecorded, TxID: ctx.TxID(), At: now.at, Actor: actorOf(caller), Service: &rec}, eventRaw{service: raw})
}

func (c *Contract) getCertification(ctx Context, _ Identity, a IDArgs) (any, error) {
	if _, err := ValidateCertificateNo(a.ID); err != nil {
		return nil, err
	}
	var cert Certification
	found, err := getJSON(ctx, certKey(a.ID), &cert)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errorf(CodeNotFound, "certificate %s is not recorded", a.ID)
	}
	return cert, nil
}
