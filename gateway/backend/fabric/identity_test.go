package fabric

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/core"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

const agencyUSCC = "914403001922038216"

// issue makes a self-signed certificate carrying Fabric CA attributes.
func issue(t *testing.T, attrs map[string]string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hongshan.alice"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
	}
	if attrs != nil {
		v, _ := json.Marshal(map[string]any{"attrs": attrs})
		tmpl.ExtraExtensions = []pkix.Extension{{Id: attrOID, Value: v}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCertFits(t *testing.T) {
	later := time.Now().Add(365 * 24 * time.Hour)
	agency := backend.Caller{Name: "alice", Role: voucher.RoleAgency, AgencyID: agencyUSCC}
	finance := backend.Caller{Name: "bob", Role: voucher.RoleFinance}

	ok := issue(t, map[string]string{attrRole: "agency", attrAgency: agencyUSCC, "hf.EnrollmentID": "hongshan.alice"}, later)
	if err := certFits(ok, agency); err != nil {
		t.Errorf("matching certificate refused: %v", err)
	}
	cases := map[string]struct {
		cert   []byte
		caller backend.Caller
	}{
		"other agency":          {issue(t, map[string]string{attrRole: "agency", attrAgency: "91110000600037341L"}, later), agency},
		"other role":            {ok, finance},
		"no attributes":         {issue(t, nil, later), finance},
		"stale agency on clerk": {issue(t, map[string]string{attrRole: "finance", attrAgency: agencyUSCC}, later), finance},
		"about to expire":       {issue(t, map[string]string{attrRole: "finance"}, time.Now().Add(time.Hour)), finance},
		"not PEM":               {[]byte("junk"), finance},
	}
	for name, c := range cases {
		if err := certFits(c.cert, c.caller); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOrgForPinsRolesToBureaus(t *testing.T) {
	b := &Backend{scitech: &orgClient{name: "SciTechBureau"}, finance: &orgClient{name: "FinanceBureau"}}
	for role, want := range map[voucher.Role]string{
		voucher.RoleSciTech: "SciTechBureau",
		voucher.RoleAgency:  "SciTechBureau",
		voucher.RoleAuditor: "SciTechBureau",
		voucher.RoleFinance: "FinanceBureau",
	} {
		org, err := b.orgFor(role)
		if err != nil || org.name != want {
			t.Errorf("%s: %v %v", role, org, err)
		}
	}
	if _, err := b.orgFor("janitor"); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Errorf("unknown role: %v", err)
	}
}

func TestCheckCaller(t *testing.T) {
	good := []backend.Caller{
		{Name: "alice", Role: voucher.RoleAgency, AgencyID: agencyUSCC},
		{Name: "kjj.clerk-1", Role: voucher.RoleSciTech},
	}
	for _, c := range good {
		if err := checkCaller(c); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []backend.Caller{
		{Name: "", Role: voucher.RoleSciTech},
		{Name: "a b", Role: voucher.RoleSciTech},
		{Name: "x@y", Role: voucher.RoleSciTech},
		{Name: "alice", Role: voucher.RoleAgency},
		{Name: "bob", Role: voucher.RoleFinance, AgencyID: agencyUSCC},
		{Name: "eve", Role: "root"},
	}
	for _, c := range bad {
		if err := checkCaller(c); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
			t.Errorf("%+v accepted: %v", c, err)
		}
	}
}

func TestCAErrorClassification(t *testing.T) {
	if !isAlreadyRegistered(errors.New(`Response from server: Error Code: 74 - Identity 'hongshan.alice' is already registered`)) {
		t.Error("already registered not recognised")
	}
	if isAlreadyRegistered(errors.New("Error Code: 71 - Authorization failure")) {
		t.Error("authorization failure taken for already registered")
	}
	if err := caError("enroll", errors.New(`POST failure of request: Post "https://127.0.0.1:27154/enroll": dial tcp: connection refused`)); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("CA down: %v", err)
	}
	if err := caError("register", errors.New("Error Code: 71 - Authorization failure")); errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("refusal taken for unavailability: %v", err)
	}
}

func TestWalletOverlayAndPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wallet")
	if err := prepareWallet(dir); err != nil {
		t.Fatal(err)
	}
	// A key file written loosely (as the SDK's key store dir is) is tightened.
	loose := filepath.Join(dir, walletKeyDir, "keystore", "abc_sk")
	if err := os.WriteFile(loose, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, walletKeyDir, "keystore"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := secureWallet(dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, walletKeyDir, "keystore"): 0o700, loose: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), want)
		}
	}

	profile := configOverlay{"client.credentialstore.path": "/network/state", "client.organization": "SciTechBureau"}
	cfg := defaultConfig()
	cfg.walletDir = dir
	p := withOverlay(func() ([]core.ConfigBackend, error) { return []core.ConfigBackend{profile}, nil }, cfg)
	backends, err := p()
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(key string) any {
		for _, b := range backends {
			if v, ok := b.Lookup(key); ok {
				return v
			}
		}
		return nil
	}
	if got := lookup("client.credentialStore.path"); got != filepath.Join(dir, walletCertDir) {
		t.Errorf("credential store %v", got)
	}
	if got := lookup("client.credentialStore.cryptoStore.path"); got != filepath.Join(dir, walletKeyDir) {
		t.Errorf("crypto store %v", got)
	}
	if got := lookup("client.peer.timeout.discovery.greylistExpiry"); got != DefaultGreylist {
		t.Errorf("greylist %v", got)
	}
	if got := lookup("client.organization"); got != "SciTechBureau" {
		t.Errorf("other keys must fall through to the profile: %v", got)
	}
}
