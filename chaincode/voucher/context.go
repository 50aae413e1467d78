package voucher

import (
	"strings"
	"time"
)

// Context is everything the contract needs from a ledger. The Fabric adapter
// implements it over the chaincode shim; the embedded ledger implements it
// over a bbolt transaction. Nothing else of either ledger leaks into the core.
type Context interface {
	GetState(key string) ([]byte, error)
	PutState(key string, value []byte) error
	DelState(key string) error
	// GetStateByPartialCompositeKey iterates, in key order, over the keys made
	// by CompositeKey(objectType, attrs..., more...), starting after
	// startAfter when it is not empty.
	GetStateByPartialCompositeKey(objectType string, attrs []string, startAfter string) (Iterator, error)
	// GetHistoryForKey lists every committed value of key, oldest first.
	GetHistoryForKey(key string) (HistoryIterator, error)
	TxID() string
	TxTimestamp() (time.Time, error)
	// Caller is the identity that signed the transaction, read from its
	// certificate (Fabric) or from the gateway's authenticated principal
	// (embedded), never from a transaction argument.
	Caller() (Identity, error)
	// SetEvent records the transaction's single event.
	SetEvent(name string, payload []byte) error
}

// FreshKeyChecker is implemented by a context that can check after the
// transaction, instead of by a read now, that a key the contract is about to
// create does not exist yet: a ledger replaying its own history, for which
// the lookup of a random new key is the costliest read there is (ADR 0012).
// DeferFreshCheck reports whether the context takes the check over for key;
// the contract then goes on as if the key were absent, and the context must
// fail the transaction if any version of the key precedes it. Contexts that
// serve live transactions (Fabric, the embedded commit) do not take it over.
type FreshKeyChecker interface {
	DeferFreshCheck(key string) bool
}

// FreshKeyTypes are the object types of the keys whose absence the contract
// may leave to a FreshKeyChecker: the vouchers, whose ids are random.
func FreshKeyTypes() []string { return []string{objVoucher} }

// KV is one state entry returned by a scan.
type KV struct {
	Key   string
	Value []byte
}

// Iterator walks a key range. Callers must Close it.
type Iterator interface {
	HasNext() bool
	Next() (KV, error)
	Close() error
}

// HistoryEntry is one committed write of a key.
type HistoryEntry struct {
	TxID      string
	Timestamp time.Time
	Value     []byte
	IsDelete  bool
}

// HistoryIterator walks a key's history, oldest first. Callers must Close it.
type HistoryIterator interface {
	HasNext() bool
	Next() (HistoryEntry, error)
	Close() error
}

// Identity is the caller as the ledger proved it.
type Identity struct {
	MSPID    string `json:"msp_id"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	AgencyID string `json:"agency_id,omitempty"`
	// OrgAdmin marks an organisation admin certificate with no hongshan.role
	// attribute (the peer CLI's identity): it may read, never write.
	OrgAdmin bool `json:"org_admin,omitempty"`
}

// Role is a caller's job in the programme.
type Role string

// The roles of DOMAIN.md.
const (
	RoleSciTech Role = "scitech"
	RoleFinance Role = "finance"
	RoleAuditor Role = "auditor"
	RoleAgency  Role = "agency"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleSciTech, RoleFinance, RoleAuditor, RoleAgency:
		return true
	}
	return false
}

const compositeKeyNamespace = "\x00"

// CompositeKey builds a key the way Fabric's shim does, so both ledgers sort
// and scan identically: U+0000, the object type, then each attribute, each
// followed by U+0000.
func CompositeKey(objectType string, attrs ...string) string {
	n := len(compositeKeyNamespace) + len(objectType) + 1 + len(attrs)
	for _, a := range attrs {
		n += len(a)
	}
	var k strings.Builder
	k.Grow(n)
	k.WriteString(compositeKeyNamespace)
	k.WriteString(objectType)
	k.WriteByte(0)
	for _, a := range attrs {
		k.WriteString(a)
		k.WriteByte(0)
	}
	return k.String()
}

// SplitCompositeKey is the inverse of CompositeKey.
func SplitCompositeKey(key string) (objectType string, attrs []string) {
	if len(key) == 0 || key[0] != 0 {
		return "", nil
	}
	var parts []string
	start := 1
	for i := 1; i < len(key); i++ {
		if key[i] == 0 {
			parts = append(parts, key[start:i])
			start = i + 1
		}
	}
	if len(parts) == 0 {
		return "", nil
	}
	return parts[0], parts[1:]
}
