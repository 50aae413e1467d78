package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSetPassword(t *testing.T) {
	rec := &recorder{replies: []reply{{status: http.StatusNoContent, body: ""},
		{status: http.StatusForbidden, contentType: "application/problem+json",
			body: `{"code":"FORBIDDEN","status":403,"detail":"the current password is wrong"}`}}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, err := New(srv.URL, WithToken("tok"), WithRetry(3, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.SetPassword(ctx, "fin.ops", PasswordChange{New: "new-password-1"}); err != nil {
		t.Fatal(err)
	}
	err = c.SetPassword(ctx, "fin.ops", PasswordChange{Current: "old", New: "new-password-2"})
	if !IsCode(err, "FORBIDDEN") {
		t.Fatalf("err = %v, want FORBIDDEN", err)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (a PUT is never retried)", len(reqs))
	}
	if reqs[0].Method != http.MethodPut || reqs[0].Path != "/v1/principals/fin.ops/password" ||
		reqs[0].Body != `{"new_password":"new-password-1"}` {
		t.Fatalf("first request %+v", reqs[0])
	}
	if reqs[1].Body != `{"current_password":"old","new_password":"new-password-2"}` {
		t.Fatalf("second body %s", reqs[1].Body)
	}
}
