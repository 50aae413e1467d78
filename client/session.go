package client

import (
	"context"
	"net/http"
	"net/url"
)

// PasswordChange sets a principal's web-console password. Current is
// needed when a principal changes its own password that is already set;
// role scitech sets another principal's without it. New is 10 to 128
// characters. The gateway ends the principal's other console sessions.
type PasswordChange struct {
	Current string `json:"current_password,omitempty"`
	New     string `json:"new_password"`
}

// SetPassword sets the console password of the principal name
// (PUT /v1/principals/{name}/password). It is never retried: a repeat
// after a lost answer would be refused for a wrong current password.
func (c *Client) SetPassword(ctx context.Context, name string, pc PasswordChange) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/principals/" + url.PathEscape(name) + "/password", body: pc}, nil)
}
