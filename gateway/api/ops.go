package api

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hongshan-ledger/hongshan/gateway/auth"
)

// OpenAPI is the API's OpenAPI 3.1 description, served at /openapi.yaml.
// docs/openapi.yaml is a copy kept identical by a test.
//
//go:embed openapi.yaml
var OpenAPI []byte

// verifyTimeout bounds one full ledger verification.
const verifyTimeout = 5 * time.Minute

func (a *API) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", OpenAPI)
}

// healthz answers while the process serves HTTP at all.
func (a *API) healthz(c *gin.Context) {
	_ = writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the ledger answers and the read model has applied
// every block up to the ledger's head as seen by this probe, within the
// probe's time; 503 UNAVAILABLE otherwise. (A busy ledger is always a block
// or two ahead of its read model: the probe waits for those instead of
// flapping.)
func (a *API) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.cfg.readyProbeTimeout)
	defer cancel()
	info, err := a.be.Info(ctx)
	if err != nil {
		writeError(c, Errorf(CodeUnavailable, "the %s ledger does not answer: %v", a.be.Name(), err))
		return
	}
	a.metrics.sawHeight(info.Height)
	height, _ := a.reads.Head()
	if height < info.Height {
		if err := a.reads.WaitFor(ctx, info.Height-1); err != nil {
			height, _ = a.reads.Head()
			writeError(c, Errorf(CodeUnavailable, "the read model has applied %d of %d blocks", height, info.Height))
			return
		}
		height, _ = a.reads.Head()
	}
	_ = writeJSON(c, http.StatusOK, map[string]any{
		"status": "ready", "backend": a.be.Name(), "ledger_height": info.Height, "projection_height": height})
}

// verify recomputes the ledger's hash chain (one verification at a time).
func (a *API) verify(c *gin.Context, _ auth.Principal) error {
	if _, err := queryOf(c); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), verifyTimeout)
	defer cancel()
	// A full check may outlast the server's write timeout: extend this
	// answer's deadline only (unsupported writers, as in tests, ignore it).
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(verifyTimeout + 30*time.Second))
	select {
	case a.verifySem <- struct{}{}:
		defer func() { <-a.verifySem }()
	case <-ctx.Done():
		return Errorf(CodeUnavailable, "another verification is running; retry later")
	}
	res, err := a.be.Verify(ctx, nil)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return writeJSON(c, http.StatusOK, res)
}
