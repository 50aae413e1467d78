package voucher

// Status is where a voucher is in its life (DOMAIN.md, "Voucher life").
type Status string

// The voucher statuses.
const (
	StatusIssued              Status = "issued"
	StatusRedemptionRequested Status = "redemption_requested"
	StatusReimbursed          Status = "reimbursed"
	StatusRejected            Status = "rejected"
	StatusRevoked             Status = "revoked"
)

// Live reports whether a voucher in status s holds its certificate and counts
// against the cap.
func (s Status) Live() bool {
	return s == StatusIssued || s == StatusRedemptionRequested || s == StatusReimbursed
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s.Live() || s == StatusRejected || s == StatusRevoked
}

// Agency kinds and statuses.
const (
	KindServiceAgency = "service_agency"
	KindIncubator     = "incubator"

	AgencyActive    = "active"
	AgencySuspended = "suspended"
)

// Certification kinds: only first-time recognition earns a reward.
const (
	CertFirst   = "first"
	CertRenewal = "renewal"
)

// Cap scopes of the policy.
const (
	CapScopeYear    = "year"
	CapScopeProgram = "program"
	// ProgramPeriod is the period label when the cap covers the whole
	// programme.
	ProgramPeriod = "program"
)

// Agency is a registered service agency or incubator.
type Agency struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`
	RegisteredAt string `json:"registered_at"`
	UpdatedAt    string `json:"updated_at"`
}

// AgencyView is an agency with its cap usage per period.
type AgencyView struct {
	Agency
	Caps []CapUsage `json:"caps"`
}

// CapUsage is an agency's live voucher total in one period.
type CapUsage struct {
	AgencyID     string `json:"agency_id"`
	Period       string `json:"period"`
	LimitCNY     string `json:"limit"`
	UsedCNY      string `json:"used"`
	RemainingCNY string `json:"remaining"`
	LiveCount    int    `json:"live_count"`
}

// Certification is a high-tech enterprise certificate from the official
// recognition list.
type Certification struct {
	CertificateNo  string `json:"certificate_no"`
	EnterpriseID   string `json:"enterprise_id"`
	EnterpriseName string `json:"enterprise_name"`
	IssuedOn       string `json:"issued_on"`
	Kind           string `json:"kind"`
	RecordedAt     string `json:"recorded_at"`
	RecordedTx     string `json:"recorded_tx"`
}

// ServiceRecord is an agency's statement that it served an enterprise, with
// the SHA-256 of its evidence (the contract itself stays off the ledger).
type ServiceRecord struct {
	ID             string `json:"id"`
	AgencyID       string `json:"agency_id"`
	EnterpriseID   string `json:"enterprise_id"`
	ContractRef    string `json:"contract_ref"`
	StartedOn      string `json:"started_on"`
	EvidenceSHA256 string `json:"evidence_sha256"`
	RecordedAt     string `json:"recorded_at"`
	RecordedTx     string `json:"recorded_tx"`
}

// Voucher is one reward for one certified enterprise.
type Voucher struct {
	ID                    string `json:"id"`
	AgencyID              string `json:"agency_id"`
	EnterpriseID          string `json:"enterprise_id"`
	CertificateNo         string `json:"certificate_no"`
	ServiceRecordID       string `json:"service_record_id"`
	Period                string `json:"period"`
	AmountCNY             string `json:"amount"`
	PolicyVersion         int    `json:"policy_version"`
	Status                Status `json:"status"`
	IssuedAt              string `json:"issued_at"`
	RedemptionRequestedAt string `json:"redemption_requested_at,omitempty"`
	ReimbursedAt          string `json:"reimbursed_at,omitempty"`
	PaymentRef            string `json:"payment_ref,omitempty"`
	PaidAmountCNY         string `json:"paid_amount,omitempty"`
	PaidOn                string `json:"paid_on,omitempty"`
	ClosedAt              string `json:"closed_at,omitempty"`
	Reason                string `json:"reason,omitempty"`
	UpdatedAt             string `json:"updated_at"`
	// LastAction and LastActor describe the transaction that wrote this
	// version, so the key's history reads as an audit trail.
	LastAction string `json:"last_action"`
	LastActor  string `json:"last_actor"`
}

// Policy is the versioned programme rule set. A certificate is judged by the
// newest version whose window contains its issue date.
type Policy struct {
	Version         int    `json:"version"`
	UnitRewardCNY   string `json:"unit_reward"`
	CapPerAgencyCNY string `json:"cap_per_agency"`
	CapScope        string `json:"cap_scope"`
	WindowFrom      string `json:"window_from"`
	WindowTo        string `json:"window_to"`
	StaleAfterDays  int    `json:"stale_after_days"`
	SetAt           string `json:"set_at,omitempty"`
	SetBy           string `json:"set_by,omitempty"`
}

// HistoryItem is one step of a voucher's life.
type HistoryItem struct {
	TxID   string `json:"tx_id"`
	At     string `json:"at"`
	Action string `json:"action"`
	Actor  string `json:"actor"`
	Status Status `json:"status"`
}

// Page is one page of a listing; NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// Event is the single event of a state-changing transaction. It carries the
// new state of everything the transaction wrote, so a read model can be
// built from events alone.
type Event struct {
	Type          string         `json:"type"`
	TxID          string         `json:"tx_id"`
	At            string         `json:"at"`
	Actor         string         `json:"actor"`
	Agency        *Agency        `json:"agency,omitempty"`
	Certification *Certification `json:"certification,omitempty"`
	Service       *ServiceRecord `json:"service,omitempty"`
	Voucher       *Voucher       `json:"voucher,omitempty"`
	Cap           *CapUsage      `json:"cap,omitempty"`
	Policy        *Policy        `json:"policy,omitempty"`
}

// Event types.
const (
	EventAgencyRegistered      = "AgencyRegistered"
	EventAgencySuspended       = "AgencySuspended"
	EventAgencyReinstated      = "AgencyReinstated"
	EventCertificationRecorded = "CertificationRecorded"
	EventServiceRecorded       = "ServiceRecorded"
	EventVoucherIssued         = "VoucherIssued"
	EventRedemptionRequested   = "VoucherRedemptionRequested"
	EventVoucherReimbursed     = "VoucherReimbursed"
	EventVoucherRejected       = "VoucherRejected"
	EventVoucherRevoked        = "VoucherRevoked"
	EventPolicySet             = "PolicySet"
)
