package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrincipalPasswd(t *testing.T) {
	f, url := newFakeGateway(t)
	f.on("PUT /v1/principals/fin/password", 204, "")
	env := map[string]string{"HONGSHAN_URL": url, "HONGSHAN_TOKEN": "tok"}
	dir := t.TempDir()
	newPW := filepath.Join(dir, "new")
	curPW := filepath.Join(dir, "cur")
	if err := os.WriteFile(newPW, []byte("correct horse battery\r\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(curPW, []byte("old password 123\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli(t, env, "principal", "passwd", "fin", "--password-file", newPW)
	if code != 0 || !strings.Contains(out, "Password of fin set") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].method != "PUT" || string(reqs[0].body) != `{"new_password":"correct horse battery"}` {
		t.Fatalf("requests %+v", reqs)
	}
	if strings.Contains(out+errOut, "correct horse") {
		t.Fatal("the password is echoed")
	}

	// The current password from a file, the new one from standard input.
	stdin = strings.NewReader("from stdin password\n")
	t.Cleanup(func() { stdin = os.Stdin })
	code, out, _ = cli(t, env, "-o", "json", "principal", "passwd", "fin", "--password-file", "-", "--current-password-file", curPW)
	if code != 0 || !strings.Contains(out, `"password_set": true`) {
		t.Fatalf("exit %d, out %q", code, out)
	}
	if got := string(f.requests()[1].body); got != `{"current_password":"old password 123","new_password":"from stdin password"}` {
		t.Fatalf("body %s", got)
	}

	// Usage errors: no file, a short password, both from stdin. Nothing is sent.
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("short\n"), 0o600)
	for _, args := range [][]string{
		{"principal", "passwd", "fin"},
		{"principal", "passwd", "fin", "--password-file", short},
		{"principal", "passwd", "fin", "--password-file", filepath.Join(dir, "missing")},
		{"principal", "passwd", "fin", "--password-file", "-", "--current-password-file", "-"},
	} {
		if code, _, errOut := cli(t, env, args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errOut, exitUsage)
		}
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests after usage errors, want 2", n)
	}

	// A refusal is exit 1 with the code.
	f.on("PUT /v1/principals/fin/password", 403, `{"code":"FORBIDDEN","status":403,"detail":"the current password is wrong"}`)
	code, _, errOut = cli(t, env, "principal", "passwd", "fin", "--password-file", newPW, "--current-password-file", curPW)
	if code != exitRejected || !strings.Contains(errOut, "FORBIDDEN") {
		t.Fatalf("exit %d, err %q", code, errOut)
	}
}
