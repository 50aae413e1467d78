package auth

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	ctx := context.Background()
	h1, err := hashPassword(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hashPassword(ctx, "correct horse battery")
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the documented parameters", h1)
	}
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{
		"correct horse battery":  true,
		"correct horse battery ": false,
		"Correct horse battery":  false,
		"":                       false,
	} {
		if ok, err := verifyPassword(ctx, h1, pw); err != nil || ok != want {
			t.Errorf("verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	// Malformed or hostile stored hashes match nothing and never panic.
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5",
		strings.Replace(h1, "$v=19$", "$v=18$", 1)} {
		if ok, _ := verifyPassword(ctx, bad, "correct horse battery"); ok {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"123456789":                    false, // 9 characters
		"1234567890":                   true,
		"红山科技创新券的密码一":                  true, // 11 characters, 33 bytes
		strings.Repeat("x", 128):       true,
		strings.Repeat("x", 129):       false,
		"tab\tinside password":         false,
		string([]byte{0xff, 'a', 'b'}): false,
	} {
		err := ValidatePassword(pw)
		if (err == nil) != ok {
			t.Errorf("ValidatePassword(%q) = %v, want ok=%v", pw, err, ok)
		}
		if err != nil && voucher.CodeOf(err) != voucher.CodeInvalidArgument {
			t.Errorf("code %s", voucher.CodeOf(err))
		}
	}
}

func TestCheckPassword(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if _, _, err := s.Create(ctx, NewPrincipal{Name: "fin", Role: voucher.RoleFinance, Password: "short"}, nil); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Fatalf("short password at creation: %v", err)
	}
	if _, _, err := s.Create(ctx, NewPrincipal{Name: "fin", Role: voucher.RoleFinance, Password: "finance-pass-1"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, NewPrincipal{Name: "aud", Role: voucher.RoleAuditor}, nil); err != nil {
		t.Fatal(err)
	}
	p, err := s.CheckPassword(ctx, "fin", "finance-pass-1")
	if err != nil || p.Name != "fin" || p.Role != voucher.RoleFinance {
		t.Fatalf("CheckPassword = %+v, %v", p, err)
	}
	// Every failure is the same error: wrong password, unknown name, no
	// password set, malformed name.
	for _, c := range [][2]string{{"fin", "finance-pass-2"}, {"nobody", "finance-pass-1"}, {"aud", ""},
		{"aud", "anything-at-all"}, {"Not A Name", "finance-pass-1"}} {
		_, err := s.CheckPassword(ctx, c[0], c[1])
		if !IsBadPassword(err) || voucher.CodeOf(err) != CodeUnauthenticated {
			t.Errorf("CheckPassword(%q, %q) = %v, want the bad-password error", c[0], c[1], err)
		}
	}
	// The hash, never the password, is stored.
	err = s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketPrincipals).Get([]byte("fin"))
		if strings.Contains(string(raw), "finance-pass-1") {
			t.Error("the password is stored in clear")
		}
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if !strings.HasPrefix(rec.PasswordHash, "$argon2id$") {
			t.Errorf("stored hash %q", rec.PasswordHash)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// SetPassword replaces the old one; a revoked principal can no longer
	// sign in nor get a password.
	if err := s.SetPassword(ctx, "aud", "auditor-pass-1"); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasPassword("aud"); !has {
		t.Fatal("HasPassword after SetPassword is false")
	}
	if err := s.SetPassword(ctx, "fin", "finance-pass-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "fin", "finance-pass-1"); !IsBadPassword(err) {
		t.Fatalf("old password still accepted: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "fin", "finance-pass-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, "nobody", "whatever-pass"); voucher.CodeOf(err) != voucher.CodeNotFound {
		t.Fatalf("SetPassword of an unknown principal: %v", err)
	}
	if err := s.SetPassword(ctx, "fin", "short"); voucher.CodeOf(err) != voucher.CodeInvalidArgument {
		t.Fatalf("short password: %v", err)
	}
	if _, err := s.Revoke("fin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "fin", "finance-pass-2"); !IsBadPassword(err) {
		t.Fatalf("revoked principal signed in: %v", err)
	}
	if err := s.SetPassword(ctx, "fin", "finance-pass-3"); voucher.CodeOf(err) != voucher.CodeInvalidState {
		t.Fatalf("SetPassword of a revoked principal: %v", err)
	}
}
