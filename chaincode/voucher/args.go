package voucher

// The JSON arguments of each transaction. Every transaction takes exactly one
// argument; unknown fields are rejected.

// RegisterAgencyArgs registers a service agency or incubator.
type RegisterAgencyArgs struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// AgencyReasonArgs suspends or reinstates an agency.
type AgencyReasonArgs struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// RecordCertificationArgs records one certificate of the recognition list.
type RecordCertificationArgs struct {
	EnterpriseID   string `json:"enterprise_id"`
	EnterpriseName string `json:"enterprise_name"`
	CertificateNo  string `json:"certificate_no"`
	IssuedOn       string `json:"issued_on"`
	Kind           string `json:"kind"`
}

// RecordServiceArgs records the calling agency's service to an enterprise.
type RecordServiceArgs struct {
	EnterpriseID   string `json:"enterprise_id"`
	ContractRef    string `json:"contract_ref"`
	StartedOn      string `json:"started_on"`
	EvidenceSHA256 string `json:"evidence_sha256"`
}

// ClaimArgs claims the reward for one certified enterprise.
type ClaimArgs struct {
	EnterpriseID  string `json:"enterprise_id"`
	CertificateNo string `json:"certificate_no"`
}

// VoucherIDArgs names a voucher.
type VoucherIDArgs struct {
	ID string `json:"id"`
}

// ReimburseArgs records the treasury's payment of a redeemed voucher.
type ReimburseArgs struct {
	ID         string `json:"id"`
	PaymentRef string `json:"payment_ref"`
	AmountCNY  string `json:"amount"`
	PaidOn     string `json:"paid_on"`
}

// VoucherReasonArgs rejects or revokes a voucher.
type VoucherReasonArgs struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// SetPolicyArgs installs a new policy version.
type SetPolicyArgs struct {
	UnitRewardCNY   string `json:"unit_reward"`
	CapPerAgencyCNY string `json:"cap_per_agency"`
	CapScope        string `json:"cap_scope"`
	WindowFrom      string `json:"window_from"`
	WindowTo        string `json:"window_to"`
	StaleAfterDays  int    `json:"stale_after_days,omitempty"`
}

// GetPolicyArgs reads a policy version; 0 means the newest.
type GetPolicyArgs struct {
	Version int `json:"version,omitempty"`
}

// IDArgs names an agency or a certificate.
type IDArgs struct {
	ID string `json:"id"`
}

// ListVouchersArgs filters and pages vouchers. An agency caller sees only
// its own, whatever AgencyID says.
type ListVouchersArgs struct {
	AgencyID string `json:"agency_id,omitempty"`
	Status   Status `json:"status,omitempty"`
	Period   string `json:"period,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
}

// ListArgs pages a listing.
type ListArgs struct {
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}
