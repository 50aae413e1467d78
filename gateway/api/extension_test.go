package api

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// TestExtensionRoutes mounts routes the way the reports package is
// mounted: behind authentication and roles, with their own body limit, and
// replacing the built-in ledger verification.
func TestExtensionRoutes(t *testing.T) {
	readers := []voucher.Role{voucher.RoleFinance, voucher.RoleAuditor}
	h := newHarness(t, WithRoutes(func(r *Router) {
		r.HandleFunc(http.MethodGet, "/ledger/verify", readers, func(c *gin.Context) {
			p, ok := PrincipalOf(c)
			if !ok {
				WriteError(c, Errorf(voucher.CodeInternal, "no principal"))
				return
			}
			// The reports package reads the caller from this gin key.
			if v, _ := c.Get("hongshan.principal"); v != p {
				WriteError(c, Errorf(voucher.CodeInternal, "principal under hongshan.principal is %#v", v))
				return
			}
			c.String(http.StatusOK, "extension verify for "+p.Name)
		})
		r.HandleFunc(http.MethodPost, "/reports/upload", readers, func(c *gin.Context) {
			b, err := io.ReadAll(c.Request.Body)
			if err != nil {
				WriteError(c, err)
				return
			}
			c.String(http.StatusOK, "%d bytes", len(b))
		}, MaxBodyBytes(4096), NoIdempotency())
		r.Handle(http.MethodGet, "/reports/fails", nil, func(*gin.Context, auth.Principal) error {
			return Errorf(voucher.CodeNotFound, "nothing")
		})
	}), WithMaxBodyBytes(1024))

	rec := h.do(req{method: "GET", path: "/v1/ledger/verify", as: "aud"})
	wantStatus(t, rec, 200)
	if rec.Body.String() != "extension verify for aud" {
		t.Fatalf("built-in verify answered: %s", rec.Body)
	}
	wantProblem(t, h.do(req{method: "GET", path: "/v1/ledger/verify"}), 401, CodeUnauthenticated)
	wantProblem(t, h.do(req{method: "GET", path: "/v1/ledger/verify", as: "ag-a"}), 403, voucher.CodeForbidden)

	// 3000 bytes pass the route's own 4096 limit though the default is 1024;
	// Idempotency-Key is ignored on a read-only upload.
	body := strings.Repeat("x", 3000)
	rec = h.do(req{method: "POST", path: "/v1/reports/upload", as: "fin", body: body,
		header: map[string]string{"Content-Type": "text/csv", HeaderIdempotencyKey: "k"}})
	wantStatus(t, rec, 200)
	if rec.Body.String() != "3000 bytes" || rec.Header().Get(HeaderReplayed) != "" {
		t.Fatalf("upload %s", rec.Body)
	}
	rec = h.do(req{method: "POST", path: "/v1/reports/upload", as: "fin", body: strings.Repeat("x", 5000),
		header: map[string]string{"Content-Type": "text/csv"}})
	wantProblem(t, rec, 413, CodePayloadTooLarge)
	// nil roles: any authenticated principal; errors go through the table.
	wantProblem(t, h.do(req{method: "GET", path: "/v1/reports/fails", as: "ag-b"}), 404, voucher.CodeNotFound)
}

// TestConsoleFallback serves the web console for GET and HEAD outside /v1
// only; the API's own 404s and 405s stay problems.
func TestConsoleFallback(t *testing.T) {
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>console "+r.URL.Path+"</html>")
	})
	h := newHarness(t, WithConsole(console))
	for _, path := range []string{"/", "/index.html", "/assets/app.js"} {
		rec := h.do(req{method: "GET", path: path})
		if rec.Code != 200 || rec.Body.String() != "<html>console "+path+"</html>" {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	wantProblem(t, h.do(req{method: "GET", path: "/v1/nothing", as: "admin"}), 404, voucher.CodeNotFound)
	wantProblem(t, h.do(req{method: "GET", path: "/v1"}), 404, voucher.CodeNotFound)
	wantProblem(t, h.do(req{method: "POST", path: "/", body: "{}"}), 404, voucher.CodeNotFound)
	wantStatus(t, h.do(req{method: "GET", path: "/healthz"}), 200)
}
