package main

import (
	"net/http"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/gateway/api"
	"github.com/hongshan-ledger/hongshan/gateway/backend"
	"github.com/hongshan-ledger/hongshan/gateway/projection"
	"github.com/hongshan-ledger/hongshan/gateway/report"
)

// multipartSlackBytes is what a multipart envelope may add to an uploaded
// payment file.
const multipartSlackBytes = 64 << 10

// reportWriteTimeout bounds writing one report or verification answer: a
// full ledger may take minutes, beyond the server's write timeout.
const reportWriteTimeout = 10 * time.Minute

// mountReports serves gateway/report's reconciliation, treasury match and
// ledger verification (which replaces the API's built-in one) behind the
// gateway's authentication. The report handlers check their own roles too.
func mountReports(proj *projection.Store, be backend.Backend) api.Option {
	rs := report.New(proj, be, report.WithErrorWriter(api.WriteError))
	auditors := []voucher.Role{voucher.RoleFinance, voucher.RoleAuditor}
	long := api.WriteTimeout(reportWriteTimeout)
	return api.WithRoutes(func(r *api.Router) {
		r.HandleFunc(http.MethodGet, "/reports/reconciliation", auditors, rs.Reconciliation, long)
		r.HandleFunc(http.MethodPost, "/reports/reconciliation/payments", auditors, rs.TreasuryMatch,
			api.MaxBodyBytes(report.DefaultMaxPaymentBytes+multipartSlackBytes), api.NoIdempotency(), long)
		r.HandleFunc(http.MethodGet, "/ledger/verify", auditors, rs.Verify, long)
	})
}
