package voucher

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// makeUSCC builds a valid Urumqi USCC from n: 91 + 650104 + an
// organisation code made from n + both check characters.
func makeUSCC(n int) string {
	body := fmt.Sprintf("%08d", n%100000000)
	org, _ := orgCodeCheck(body)
	s := "91650104" + body + string(org)
	sum := 0
	for i := 0; i < 17; i++ {
		sum += indexUSCC(s[i]) * usccWeights[i]
	}
	return s + string(usccAlphabet[(31-sum%31)%31])
}

func indexUSCC(c byte) int {
	for i := 0; i < len(usccAlphabet); i++ {
		if usccAlphabet[i] == c {
			return i
		}
	}
	return -1
}

func evidence(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var (
	sciTech = Identity{MSPID: "SciTechBureauMSP", Name: "scitech-clerk", Role: RoleSciTech}
	finance = Identity{MSPID: "FinanceBureauMSP", Name: "finance-clerk", Role: RoleFinance}
	auditor = Identity{MSPID: "SciTechBureauMSP", Name: "auditor", Role: RoleAuditor}
	admin   = Identity{MSPID: "FinanceBureauMSP", Name: "Admin", OrgAdmin: true}
)

func agencyIdentity(n int) Identity {
	return Identity{MSPID: "SciTechBureauMSP", Name: fmt.Sprintf("agency-%d", n), Role: RoleAgency, AgencyID: makeUSCC(n)}
}

func enterpriseID(n int) string { return makeUSCC(50000000 + n) }

// certNo is a 2024 Xinjiang certificate number.
func certNo(n int) string { return fmt.Sprintf("GR202465%06d", n) }

// world is a ledger with agencies 1..agencies registered and certificates
// 1..certs recorded (first-time, 2024-11-20) for enterprises 1..certs.
type world struct {
	l *memLedger
	c *Contract
}

func newWorld(tb interface {
	Helper()
	Fatalf(string, ...any)
}, agencies, certs int) *world {
	w := &world{l: newMemLedger(), c: New()}
	for i := 1; i <= agencies; i++ {
		if _, err := w.l.invoke(w.c, sciTech, "RegisterAgency", RegisterAgencyArgs{ID: makeUSCC(i), Name: fmt.Sprintf("服务机构%d", i), Kind: KindServiceAgency}); err != nil {
			tb.Fatalf("register: %v", err)
		}
	}
	for i := 1; i <= certs; i++ {
		if _, err := w.l.invoke(w.c, sciTech, "RecordCertification", RecordCertificationArgs{
			EnterpriseID: enterpriseID(i), EnterpriseName: fmt.Sprintf("企业%d", i), CertificateNo: certNo(i), IssuedOn: "2024-11-20", Kind: CertFirst,
		}); err != nil {
			tb.Fatalf("certify: %v", err)
		}
	}
	return w
}

func serviceArgs(enterprise int, ref string) RecordServiceArgs {
	return RecordServiceArgs{EnterpriseID: enterpriseID(enterprise), ContractRef: ref, StartedOn: "2024-01-15", EvidenceSHA256: evidence(ref)}
}
