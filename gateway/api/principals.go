package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// createdPrincipal is the one answer that shows a token.
type createdPrincipal struct {
	Name      string       `json:"name"`
	Role      voucher.Role `json:"role"`
	AgencyID  string       `json:"agency_id,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	Token     string       `json:"token"`
}

func (a *API) whoami(c *gin.Context, p auth.Principal) error {
	if _, err := queryOf(c); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, p)
}

// createPrincipal creates a principal, enrolls it with the ledger
// (Backend.Enroll) and shows its token once.
func (a *API) createPrincipal(c *gin.Context, _ auth.Principal) error {
	var body auth.NewPrincipal
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	created, token, err := a.principals.Create(c.Request.Context(), body, a.be.Enroll)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	return writeJSON(c, http.StatusCreated, createdPrincipal{
		Name: created.Name, Role: created.Role, AgencyID: created.AgencyID, CreatedAt: created.CreatedAt, Token: token})
}

// revokePrincipal revokes another principal; revoking oneself is refused so
// the last administrator cannot lock everyone out by mistake.
func (a *API) revokePrincipal(c *gin.Context, p auth.Principal) error {
	name := c.Param("name")
	if err := auth.ValidateName(name); err != nil {
		return err
	}
	if name == p.Name {
		return Errorf(voucher.CodeInvalidState, "a principal cannot revoke itself")
	}
	revoked, err := a.principals.Revoke(name)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, revoked)
}

func (a *API) listPrincipals(c *gin.Context, _ auth.Principal) error {
	q, err := queryOf(c, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, cursor, err := pageOf(q)
	if err != nil {
		return err
	}
	if cursor != "" {
		if err := auth.ValidateName(cursor); err != nil {
			return Errorf(voucher.CodeInvalidArgument, "cursor is not one this listing returned")
		}
	}
	items, next, err := a.principals.List(limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, voucher.Page[auth.Principal]{Items: items, NextCursor: next})
}
