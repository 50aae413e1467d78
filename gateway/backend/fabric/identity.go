package fabric

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	mspclient "github.com/hyperledger/fabric-sdk-go/pkg/client/msp"
	mspapi "github.com/hyperledger/fabric-sdk-go/pkg/common/providers/msp"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// The Fabric CA attributes the chaincode reads (chaincode/fabric).
const (
	attrRole   = "hongshan.role"
	attrAgency = "hongshan.agency"
)

// attrOID is Fabric CA's attribute extension: JSON {"attrs":{...}}.
var attrOID = asn1.ObjectIdentifier{1, 2, 3, 4, 5, 6, 7, 8, 1}

// renewBefore re-enrols an identity whose certificate expires sooner.
const renewBefore = 24 * time.Hour

// orgFor is the bureau whose CA issues a role's identities: the contract
// pins scitech and agency to the S&T bureau's MSP and finance to the finance
// bureau's; auditors may be anywhere and are enrolled at the S&T bureau.
func (b *Backend) orgFor(role voucher.Role) (*orgClient, error) {
	switch role {
	case voucher.RoleSciTech, voucher.RoleAgency, voucher.RoleAuditor:
		return b.scitech, nil
	case voucher.RoleFinance:
		return b.finance, nil
	}
	return nil, &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf("unknown role %q", role)}
}

// enrollmentID is the CA name of a principal.
func (b *Backend) enrollmentID(name string) string { return b.cfg.idPrefix + name }

func checkCaller(c backend.Caller) error {
	if c.Name == "" || strings.ContainsAny(c.Name, " @:/\\") {
		return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf("principal name %q cannot be a CA enrollment id", c.Name)}
	}
	if !c.Role.Valid() {
		return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: fmt.Sprintf("unknown role %q", c.Role)}
	}
	if (c.Role == voucher.RoleAgency) != (c.AgencyID != "") {
		return &voucher.Error{Code: voucher.CodeInvalidArgument, Message: "only an agency principal carries an agency id, and it must"}
	}
	return nil
}

// wantAttrs are the certificate attributes a caller's identity must carry.
func wantAttrs(c backend.Caller) map[string]string {
	m := map[string]string{attrRole: string(c.Role)}
	if c.AgencyID != "" {
		m[attrAgency] = c.AgencyID
	}
	return m
}

// Enroll gives caller a Fabric CA identity with its role (and agency)
// attributes in the certificate and keeps it in the wallet. It is
// idempotent: an identity already in the wallet with the right attributes
// and time left is kept; an identity the CA already knows (an earlier
// gateway, a lost wallet) is updated to the attributes and re-enrolled with
// a fresh secret, so the registrar never needs the old one.
func (b *Backend) Enroll(ctx context.Context, caller backend.Caller) error {
	if err := checkCaller(caller); err != nil {
		return err
	}
	org, err := b.orgFor(caller.Role)
	if err != nil {
		return err
	}
	b.enrollMu.Lock()
	defer b.enrollMu.Unlock()
	if err := ctx.Err(); err != nil {
		return unavailable("enroll", err)
	}
	id := b.enrollmentID(caller.Name)
	if si, err := org.ca.GetSigningIdentity(id); err == nil {
		if identityFits(si, caller) == nil {
			return nil
		}
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	var attrs []mspclient.Attribute
	for name, value := range wantAttrs(caller) {
		attrs = append(attrs, mspclient.Attribute{Name: name, Value: value, ECert: true})
	}
	_, err = org.ca.Register(&mspclient.RegistrationRequest{Name: id, Type: "client", Attributes: attrs, Secret: secret})
	if err != nil && isAlreadyRegistered(err) {
		// Update attributes (dropping an agency id the caller no longer
		// has) and set a secret we know.
		if !containsKey(wantAttrs(caller), attrAgency) {
			attrs = append(attrs, mspclient.Attribute{Name: attrAgency, Value: "", ECert: true})
		}
		_, err = org.ca.ModifyIdentity(&mspclient.IdentityRequest{ID: id, Type: "client", Attributes: attrs, Secret: secret})
	}
	if err != nil {
		return caError("register "+id+" at "+org.name, err)
	}
	if err := org.ca.Enroll(id, mspclient.WithSecret(secret)); err != nil {
		return caError("enroll "+id+" at "+org.name, err)
	}
	si, err := org.ca.GetSigningIdentity(id)
	if err != nil {
		return fmt.Errorf("fabric: wallet lost %s right after enrolment: %w", id, err)
	}
	if err := identityFits(si, caller); err != nil {
		return fmt.Errorf("fabric: CA issued %s a certificate without the expected attributes: %w", id, err)
	}
	if err := secureWallet(b.cfg.walletDir); err != nil {
		return err
	}
	// A cached client signs with the previous certificate: drop it.
	b.clients.remove(clientKey(caller))
	b.log.Info("principal enrolled", "principal", caller.Name, "enrollment_id", id, "msp", org.mspID, "role", caller.Role)
	return nil
}

// signingIdentity is caller's identity from the wallet, enrolling it first
// when the wallet does not hold a fitting one (a wallet restored without
// some identity, or a principal created before the backend was Fabric).
func (b *Backend) signingIdentity(ctx context.Context, caller backend.Caller) (mspapi.SigningIdentity, error) {
	if err := checkCaller(caller); err != nil {
		return nil, err
	}
	org, err := b.orgFor(caller.Role)
	if err != nil {
		return nil, err
	}
	id := b.enrollmentID(caller.Name)
	si, err := org.ca.GetSigningIdentity(id)
	if err == nil && identityFits(si, caller) == nil {
		return si, nil
	}
	if err != nil && !errors.Is(err, mspclient.ErrUserNotFound) {
		return nil, fmt.Errorf("fabric: wallet: %s: %w", id, err)
	}
	if err := b.Enroll(ctx, caller); err != nil {
		return nil, err
	}
	return org.ca.GetSigningIdentity(id)
}

// identityFits checks that si's certificate carries exactly the caller's
// role and agency and is not about to expire.
func identityFits(si mspapi.SigningIdentity, c backend.Caller) error {
	return certFits(si.EnrollmentCertificate(), c)
}

// certFits is identityFits on the PEM certificate.
func certFits(certPEM []byte, c backend.Caller) error {
	cert, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	if time.Until(cert.NotAfter) < renewBefore {
		return fmt.Errorf("certificate expires %s", cert.NotAfter.Format(time.RFC3339))
	}
	got, err := certAttrs(cert)
	if err != nil {
		return err
	}
	want := wantAttrs(c)
	for _, name := range []string{attrRole, attrAgency} {
		if got[name] != want[name] {
			return fmt.Errorf("certificate has %s=%q, principal needs %q", name, got[name], want[name])
		}
	}
	return nil
}

func parseCert(pemBytes []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("enrollment certificate is not PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}

// certAttrs reads Fabric CA's attribute extension.
func certAttrs(cert *x509.Certificate) (map[string]string, error) {
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(attrOID) {
			var v struct {
				Attrs map[string]string `json:"attrs"`
			}
			if err := json.Unmarshal(ext.Value, &v); err != nil {
				return nil, fmt.Errorf("attribute extension: %w", err)
			}
			return v.Attrs, nil
		}
	}
	return map[string]string{}, nil
}

// registrarIdentity is the org CA's registrar from the profile, enrolled
// into the wallet on first use.
func (b *Backend) registrarIdentity(ctx context.Context, org *orgClient) (mspapi.SigningIdentity, error) {
	sdkCtx, err := b.sdk.Context()()
	if err != nil {
		return nil, fmt.Errorf("fabric: sdk context: %w", err)
	}
	orgCfg := sdkCtx.EndpointConfig().NetworkConfig().Organizations[strings.ToLower(org.name)]
	if len(orgCfg.CertificateAuthorities) == 0 {
		return nil, fmt.Errorf("fabric: organisation %s lists no certificate authority", org.name)
	}
	caCfg, ok := sdkCtx.IdentityConfig().CAConfig(orgCfg.CertificateAuthorities[0])
	if !ok || caCfg.Registrar.EnrollID == "" {
		return nil, fmt.Errorf("fabric: CA %s of %s has no registrar in the profile", orgCfg.CertificateAuthorities[0], org.name)
	}
	reg := caCfg.Registrar
	if si, err := org.ca.GetSigningIdentity(reg.EnrollID); err == nil {
		return si, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, unavailable("enroll registrar", err)
	}
	if err := org.ca.Enroll(reg.EnrollID, mspclient.WithSecret(reg.EnrollSecret)); err != nil {
		return nil, caError("enroll registrar "+reg.EnrollID, err)
	}
	return org.ca.GetSigningIdentity(reg.EnrollID)
}

// isAlreadyRegistered recognises Fabric CA's "already registered" answer
// (error code 74) to a registration.
func isAlreadyRegistered(err error) bool {
	s := err.Error()
	return strings.Contains(s, "already registered") || strings.Contains(s, "Code: 74")
}

// caError classifies a CA failure: a CA that cannot be reached is
// backend.ErrUnavailable; a refusal (authorization, bad request) is not.
func caError(what string, err error) error {
	s := strings.ToLower(err.Error())
	for _, transient := range []string{"connection refused", "no such host", "timeout", "deadline exceeded", "eof", "connection reset", "http request failed"} {
		if strings.Contains(s, transient) {
			return unavailable(what, err)
		}
	}
	return fmt.Errorf("fabric: %s: %w", what, err)
}

func newSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("fabric: secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func containsKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
