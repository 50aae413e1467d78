package auth

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

const agencyID = "91330100716105852F"

func openStore(t *testing.T, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err := Open(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func codeOf(err error) voucher.Code { return voucher.CodeOf(err) }

func TestCreateAuthenticateRevoke(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	var enrolled []backend.Caller
	enroll := func(_ context.Context, c backend.Caller) error { enrolled = append(enrolled, c); return nil }

	p, token, err := s.Create(ctx, NewPrincipal{Name: "acme.ops", Role: voucher.RoleAgency, AgencyID: agencyID}, enroll)
	if err != nil {
		t.Fatal(err)
	}
	if len(enrolled) != 1 || enrolled[0] != (backend.Caller{Name: "acme.ops", Role: voucher.RoleAgency, AgencyID: agencyID}) {
		t.Fatalf("enroll calls = %+v", enrolled)
	}
	got, err := s.Authenticate(token)
	if err != nil || got.Name != p.Name || got.Role != voucher.RoleAgency || got.AgencyID != agencyID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	// Second call is served from the cache and gives the same answer.
	if got2, err := s.Authenticate(token); err != nil || got2 != got {
		t.Fatalf("cached Authenticate = %+v, %v", got2, err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if got3, err := s.AuthenticateRequest(req); err != nil || got3.Name != p.Name {
		t.Fatalf("AuthenticateRequest = %+v, %v", got3, err)
	}

	if _, err := s.Revoke("acme.ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(token); codeOf(err) != CodeUnauthenticated {
		t.Fatalf("after revoke: %v", err)
	}
	// The name is not reused.
	if _, _, err := s.Create(ctx, NewPrincipal{Name: "acme.ops", Role: voucher.RoleAuditor}, nil); codeOf(err) != voucher.CodeAlreadyExists {
		t.Fatalf("reuse of a revoked name: %v", err)
	}
	if rp, ok, err := s.Get("acme.ops"); err != nil || !ok || !rp.Revoked || rp.RevokedAt == nil {
		t.Fatalf("Get after revoke = %+v %v %v", rp, ok, err)
	}
	if _, err := s.Revoke("nobody"); codeOf(err) != voucher.CodeNotFound {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	s, _ := openStore(t)
	_, token, err := s.Create(context.Background(), NewPrincipal{Name: "admin", Role: voucher.RoleSciTech}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := newToken()
	for name, header := range map[string]string{
		"missing":     "",
		"basic":       "Basic " + token,
		"no token":    "Bearer ",
		"short":       "Bearer abc",
		"bad chars":   "Bearer " + token[:len(token)-1] + "!",
		"unknown":     "Bearer " + other,
		"hash as key": "Bearer " + HashToken(token),
	} {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		if _, err := s.AuthenticateRequest(req); codeOf(err) != CodeUnauthenticated {
			t.Errorf("%s: err = %v, want UNAUTHENTICATED", name, err)
		}
	}
}

func TestTokenStoredOnlyAsHash(t *testing.T) {
	s, path := openStore(t)
	_, token, err := s.Create(context.Background(), NewPrincipal{Name: "admin", Role: voucher.RoleSciTech}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Sync(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(token)) {
		t.Fatal("the database file contains the token in clear")
	}
	if !bytes.Contains(raw, []byte(HashToken(token))) {
		t.Fatal("the database file does not contain the token hash")
	}
}

func TestCreateValidation(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	long := string(bytes.Repeat([]byte("a"), MaxNameLen+1))
	for _, np := range []NewPrincipal{
		{Name: "", Role: voucher.RoleSciTech},
		{Name: "Admin", Role: voucher.RoleSciTech},
		{Name: "-x", Role: voucher.RoleSciTech},
		{Name: "a b", Role: voucher.RoleSciTech},
		{Name: long, Role: voucher.RoleSciTech},
		{Name: "x", Role: "root"},
		{Name: "x", Role: voucher.RoleAgency},
		{Name: "x", Role: voucher.RoleFinance, AgencyID: agencyID},
	} {
		if _, _, err := s.Create(ctx, np, nil); codeOf(err) != voucher.CodeInvalidArgument {
			t.Errorf("Create(%+v) = %v, want INVALID_ARGUMENT", np, err)
		}
	}
	if n, _ := s.Count(); n != 0 {
		t.Fatalf("invalid creations stored %d principals", n)
	}
	// 64 characters is the longest name.
	if _, _, err := s.Create(ctx, NewPrincipal{Name: long[:MaxNameLen], Role: voucher.RoleAuditor}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestEnrollFailureStoresNothing(t *testing.T) {
	s, _ := openStore(t)
	boom := errors.New("ca down")
	_, _, err := s.Create(context.Background(), NewPrincipal{Name: "fin", Role: voucher.RoleFinance},
		func(context.Context, backend.Caller) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, ok, _ := s.Get("fin"); ok {
		t.Fatal("principal stored although enrolment failed")
	}
}

func TestMaxPrincipals(t *testing.T) {
	s, _ := openStore(t, WithMaxPrincipals(2))
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if _, _, err := s.Create(ctx, NewPrincipal{Name: n, Role: voucher.RoleAuditor}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Create(ctx, NewPrincipal{Name: "c", Role: voucher.RoleAuditor}, nil); codeOf(err) != voucher.CodeInvalidState {
		t.Fatalf("third principal: %v", err)
	}
}

func TestListPages(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	for _, n := range []string{"e", "b", "d", "a", "c"} {
		if _, _, err := s.Create(ctx, NewPrincipal{Name: n, Role: voucher.RoleAuditor}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		items, next, err := s.List(2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range items {
			names = append(names, p.Name)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if got := string(bytes.Join(toBytes(names), []byte(","))); got != "a,b,c,d,e" {
		t.Fatalf("names = %s", got)
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// TestCacheBoundedAndRevokeRace authenticates many principals through a
// tiny cache while revoking some, and checks no revoked token survives.
func TestCacheBoundedAndRevokeRace(t *testing.T) {
	s, _ := openStore(t, WithCacheSize(3))
	ctx := context.Background()
	tokens := map[string]string{}
	for _, n := range []string{"p0", "p1", "p2", "p3", "p4", "p5"} {
		_, tok, err := s.Create(ctx, NewPrincipal{Name: n, Role: voucher.RoleAuditor}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens[n] = tok
	}
	var wg sync.WaitGroup
	for n, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_, _ = s.Authenticate(tok)
			}
		}()
		if n == "p1" || n == "p4" {
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = s.Revoke(n) }()
		}
	}
	wg.Wait()
	s.mu.Lock()
	size := len(s.cache)
	s.mu.Unlock()
	if size > 3 {
		t.Fatalf("cache holds %d entries, bound 3", size)
	}
	for n, tok := range tokens {
		_, err := s.Authenticate(tok)
		revoked := n == "p1" || n == "p4"
		if revoked && err == nil || !revoked && err != nil {
			t.Errorf("%s: revoked=%v err=%v", n, revoked, err)
		}
	}
}

func TestBootstrap(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	admin := NewPrincipal{Name: "admin", Role: voucher.RoleSciTech}
	// keep fails: nothing is stored, so no principal's token is lost.
	created, err := s.Bootstrap(ctx, admin, nil, func(string) error { return errors.New("disk full") })
	if err == nil || created {
		t.Fatalf("Bootstrap with a failing keep = %v, %v", created, err)
	}
	if n, _ := s.Count(); n != 0 {
		t.Fatalf("%d principals after a failed bootstrap", n)
	}
	var kept string
	created, err = s.Bootstrap(ctx, admin, nil, func(tok string) error { kept = tok; return nil })
	if err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v", created, err)
	}
	if p, err := s.Authenticate(kept); err != nil || p.Name != "admin" || p.Role != voucher.RoleSciTech {
		t.Fatalf("kept token authenticates as %+v, %v", p, err)
	}
	// A second start finds principals and creates nothing.
	created, err = s.Bootstrap(ctx, NewPrincipal{Name: "admin2", Role: voucher.RoleSciTech}, nil,
		func(string) error { t.Fatal("keep called on a non-empty store"); return nil })
	if err != nil || created {
		t.Fatalf("second Bootstrap = %v, %v", created, err)
	}
}

// TestTokenSumRoundTrip holds the cache key (the raw SHA-256) and the
// stored hash (its base64url) to each other: Revoke finds the cache entry
// from the stored hash.
func TestTokenSumRoundTrip(t *testing.T) {
	tok, hash, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	sum, ok := decodeTokenSum(hash)
	if !ok || sum != sumToken(tok) || HashToken(tok) != hash {
		t.Fatalf("hash %q does not decode to the token's sum", hash)
	}
	for _, bad := range []string{"", "abc", hash + "A", "!" + hash[1:]} {
		if _, ok := decodeTokenSum(bad); ok {
			t.Errorf("decodeTokenSum(%q) accepted", bad)
		}
	}
}
