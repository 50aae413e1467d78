package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
)

// commands is the command tree: one subcommand per job of each role.
func commands() []*command {
	return []*command{
		{name: "whoami", summary: "Show the principal your token belongs to", run: whoamiCmd},
		{name: "principal", summary: "Manage the gateway's principals (科技局 admins)", subs: []*command{
			{name: "add", args: []string{"NAME"}, summary: "Create a principal and print its token once", run: principalAddCmd,
				long: "Roles: scitech (科技局), finance (财政局), auditor (审计), agency (服务机构; needs --agency).\nThe token is printed once and stored by the gateway only as a hash."},
			{name: "revoke", args: []string{"NAME"}, summary: "Revoke a principal's token", run: principalRevokeCmd},
			{name: "list", summary: "List principals", run: principalListCmd},
			{name: "passwd", args: []string{"NAME"}, summary: "Set a principal's web-console password (科技局 for anyone; anyone for itself)", run: principalPasswdCmd,
				long: "The password is read from the first line of --password-file (- for standard input), never\nfrom the command line. Changing your own password once it is set needs --current-password-file."},
		}},
		{name: "agency", summary: "Register and manage service agencies and incubators", subs: []*command{
			{name: "register", summary: "Register an agency (科技局)", run: agencyRegisterCmd},
			{name: "show", args: []string{"ID"}, summary: "Show an agency with its cap usage per period", run: agencyShowCmd},
			{name: "list", summary: "List agencies", run: agencyListCmd},
			{name: "cap", args: []string{"ID"}, summary: "Show an agency's cap usage in one period", run: agencyCapCmd},
			{name: "suspend", args: []string{"ID"}, summary: "Suspend an agency: it can no longer claim (科技局)", run: agencyReasonCmd((*client.Client).SuspendAgency)},
			{name: "reinstate", args: []string{"ID"}, summary: "Reinstate a suspended agency (科技局)", run: agencyReasonCmd((*client.Client).ReinstateAgency)},
		}},
		{name: "policy", summary: "Show or change the programme policy", subs: []*command{
			{name: "show", summary: "Show the policy in force", run: policyShowCmd},
			{name: "set", summary: "Install a new policy version (科技局)", run: policySetCmd,
				long: "Flags not given keep the current policy's value. Vouchers already issued keep\nthe version they were judged by."},
		}},
		{name: "cert", summary: "High-tech enterprise certifications", subs: []*command{
			{name: "record", summary: "Record a certificate from the official recognition list (科技局)", run: certRecordCmd},
		}},
		{name: "service", summary: "Service records of agencies", subs: []*command{
			{name: "record", summary: "Record your agency's service to an enterprise (agency)", run: serviceRecordCmd,
				long: "Give the evidence's SHA-256 with --evidence-sha256, or --evidence-file to hash\na file locally: only the hash goes to the ledger, never the file."},
		}},
		{name: "claim", summary: "Claim the reward for a certified enterprise you served (agency)", run: claimCmd},
		{name: "voucher", summary: "Vouchers: list, show, history, redeem, reimburse, reject, revoke", subs: []*command{
			{name: "list", summary: "List vouchers (an agency sees only its own)", run: voucherListCmd},
			{name: "show", args: []string{"ID"}, summary: "Show a voucher", run: voucherShowCmd},
			{name: "history", args: []string{"ID"}, summary: "Show a voucher's history, oldest first", run: voucherHistoryCmd},
			{name: "redeem", args: []string{"ID"}, summary: "Ask for payment of an issued voucher (owning agency)", run: voucherRedeemCmd},
			{name: "reimburse", args: []string{"ID"}, summary: "Record the treasury's payment of a redeemed voucher (财政局)", run: voucherReimburseCmd},
			{name: "reject", args: []string{"ID"}, summary: "Reject a voucher; its amount leaves the cap (财政局)", run: voucherReasonCmd((*client.Client).Reject)},
			{name: "revoke", args: []string{"ID"}, summary: "Revoke an issued voucher; its amount leaves the cap (科技局)", run: voucherReasonCmd((*client.Client).Revoke)},
		}},
		{name: "ledger", summary: "Ledger integrity", subs: []*command{
			{name: "verify", summary: "Recompute the ledger's hash chain (财政局, auditor); exit 1 if broken", run: ledgerVerifyCmd},
		}},
		reportCommand(),
	}
}

// --- principals -------------------------------------------------------------

func whoamiCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		p, err := c.Whoami(ctx)
		if err != nil {
			return err
		}
		return a.emit(p, func(w io.Writer) error {
			return writeFields(w, field{"Name", p.Name}, field{"Role", string(p.Role)}, field{"Agency", p.AgencyID})
		})
	}
}

func principalAddCmd(l *leafFlagSet) action {
	role := l.req("role", "`ROLE`: scitech, finance, auditor or agency")
	agency := l.str("agency", "", "the agency's `USCC`, for role agency")
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		p, err := c.CreatePrincipal(ctx, client.NewPrincipal{Name: pos[0], Role: voucher.Role(*role), AgencyID: *agency})
		if err != nil {
			return err
		}
		return a.emit(p, func(w io.Writer) error {
			if err := writeFields(w, field{"Name", p.Name}, field{"Role", string(p.Role)}, field{"Agency", p.AgencyID}, field{"Token", p.Token}); err != nil {
				return err
			}
			_, err := fmt.Fprintln(a.stderr, "The token is shown only this once: give it to its holder now (they can keep it in a file for --token-file).")
			return err
		})
	}
}

func principalRevokeCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		if err := c.RevokePrincipal(ctx, pos[0]); err != nil {
			return err
		}
		out := struct {
			Name    string `json:"name"`
			Revoked bool   `json:"revoked"`
		}{pos[0], true}
		return a.emit(out, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Revoked principal %s.\n", pos[0])
			return err
		})
	}
}

func principalListCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		ps, err := c.ListPrincipals(ctx)
		if err != nil {
			return err
		}
		return a.emit(struct {
			Items []client.Principal `json:"items"`
		}{ps}, func(w io.Writer) error {
			t := newTable(column{title: "NAME"}, column{title: "ROLE"}, column{title: "AGENCY"}, column{title: "CREATED"}, column{title: "STATUS"})
			for _, p := range ps {
				status := "active"
				if p.Revoked {
					status = "revoked"
				}
				t.row(p.Name, string(p.Role), p.AgencyID, date(p.CreatedAt), status)
			}
			return t.flush(w)
		})
	}
}

// --- agencies ---------------------------------------------------------------

func agencyRegisterCmd(l *leafFlagSet) action {
	id := l.req("id", "the agency's `USCC` (统一社会信用代码)")
	name := l.req("name", "the agency's registered `NAME`")
	kind := l.str("kind", voucher.KindServiceAgency, "`KIND`: service_agency or incubator")
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		ag, err := c.RegisterAgency(ctx, voucher.RegisterAgencyArgs{ID: *id, Name: *name, Kind: *kind})
		if err != nil {
			return err
		}
		return a.emit(ag, func(w io.Writer) error { return writeAgency(w, ag) })
	}
}

func agencyShowCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		ag, err := c.GetAgency(ctx, pos[0])
		if err != nil {
			return err
		}
		return a.emit(ag, func(w io.Writer) error { return writeAgency(w, ag) })
	}
}

func writeAgency(w io.Writer, ag voucher.AgencyView) error {
	if err := writeFields(w,
		field{"ID", ag.ID}, field{"Name", ag.Name}, field{"Kind", ag.Kind}, field{"Status", ag.Status},
		field{"Reason", ag.Reason}, field{"Registered", ag.RegisteredAt}, field{"Updated", ag.UpdatedAt},
	); err != nil {
		return err
	}
	if len(ag.Caps) == 0 {
		return nil
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	t := capTable()
	for _, u := range ag.Caps {
		addCapRow(t, u)
	}
	return t.flush(w)
}

func capTable() *table {
	return newTable(column{title: "PERIOD"}, column{title: "LIMIT", right: true}, column{title: "USED", right: true},
		column{title: "REMAINING", right: true}, column{title: "LIVE", right: true})
}

func addCapRow(t *table, u voucher.CapUsage) {
	t.row(u.Period, u.LimitCNY, u.UsedCNY, u.RemainingCNY, strconv.Itoa(u.LiveCount))
}

func agencyListCmd(l *leafFlagSet) action {
	limit := l.Int("limit", 0, "page size, `N` (gateway default when 0)")
	cursor := l.str("cursor", "", "start at this `CURSOR` (printed after a page)")
	all := l.Bool("all", false, "follow cursors and list every agency")
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		t := newTable(column{title: "ID"}, column{title: "NAME"}, column{title: "KIND"}, column{title: "STATUS"})
		return listPages(a, *all, *cursor,
			func(cur string) (voucher.Page[voucher.AgencyView], error) {
				return c.ListAgencies(ctx, client.ListOptions{Limit: *limit, Cursor: cur})
			},
			func(ag voucher.AgencyView) { t.row(ag.ID, ag.Name, ag.Kind, ag.Status) },
			t)
	}
}

func agencyCapCmd(l *leafFlagSet) action {
	period := l.req("period", "the `PERIOD`: a year such as 2024, or program when the cap covers the whole programme")
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		u, err := c.GetCap(ctx, pos[0], *period)
		if err != nil {
			return err
		}
		return a.emit(u, func(w io.Writer) error {
			t := capTable()
			addCapRow(t, u)
			return t.flush(w)
		})
	}
}

func agencyReasonCmd(call func(*client.Client, context.Context, string, string) (voucher.AgencyView, error)) func(*leafFlagSet) action {
	return func(l *leafFlagSet) action {
		reason := l.req("reason", "why, for the audit trail (`TEXT`)")
		return func(ctx context.Context, a *app, pos []string) error {
			ctx, c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			ag, err := call(c, ctx, pos[0], *reason)
			if err != nil {
				return err
			}
			return a.emit(ag, func(w io.Writer) error { return writeAgency(w, ag) })
		}
	}
}

// --- policy -----------------------------------------------------------------

func policyShowCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		p, err := c.GetPolicy(ctx)
		if err != nil {
			return err
		}
		return a.emit(p, func(w io.Writer) error { return writePolicy(w, p) })
	}
}

func writePolicy(w io.Writer, p voucher.Policy) error {
	return writeFields(w,
		field{"Version", strconv.Itoa(p.Version)},
		field{"Unit reward", p.UnitRewardCNY},
		field{"Cap per agency", p.CapPerAgencyCNY},
		field{"Cap scope", p.CapScope},
		field{"Window", p.WindowFrom + " .. " + p.WindowTo},
		field{"Stale after", strconv.Itoa(p.StaleAfterDays) + " days"},
		field{"Set at", p.SetAt},
		field{"Set by", p.SetBy},
	)
}

func policySetCmd(l *leafFlagSet) action {
	unit := l.str("unit-reward", "", "reward per certified enterprise, `AMOUNT` such as 5000.00")
	capAmount := l.str("cap-per-agency", "", "cap per agency and period, `AMOUNT` such as 100000.00")
	scope := l.str("cap-scope", "", "`SCOPE`: year (a cap per certificate year) or program (one cap for the whole programme)")
	from := l.str("window-from", "", "first certificate issue `DATE` the programme covers (YYYY-MM-DD)")
	to := l.str("window-to", "", "last certificate issue `DATE` the programme covers (YYYY-MM-DD)")
	stale := l.str("stale-after-days", "", "`DAYS` after which an unredeemed voucher is reported as stale")
	staleDays := -1
	l.check = func() error {
		set := 0
		l.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "unit-reward", "cap-per-agency", "cap-scope", "window-from", "window-to", "stale-after-days":
				set++
			}
		})
		if set == 0 {
			return errors.New("give at least one of --unit-reward, --cap-per-agency, --cap-scope, --window-from, --window-to, --stale-after-days")
		}
		if *stale != "" {
			n, err := strconv.Atoi(*stale)
			if err != nil || n < 0 {
				return fmt.Errorf("--stale-after-days must be a whole number of days, not %q", *stale)
			}
			staleDays = n
		}
		return nil
	}
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		cur, err := c.GetPolicy(ctx)
		if err != nil {
			return err
		}
		args := voucher.SetPolicyArgs{
			UnitRewardCNY:   firstNonEmpty(*unit, cur.UnitRewardCNY),
			CapPerAgencyCNY: firstNonEmpty(*capAmount, cur.CapPerAgencyCNY),
			CapScope:        firstNonEmpty(*scope, cur.CapScope),
			WindowFrom:      firstNonEmpty(*from, cur.WindowFrom),
			WindowTo:        firstNonEmpty(*to, cur.WindowTo),
			StaleAfterDays:  cur.StaleAfterDays,
		}
		if staleDays >= 0 {
			args.StaleAfterDays = staleDays
		}
		p, err := c.SetPolicy(ctx, args)
		if err != nil {
			return err
		}
		return a.emit(p, func(w io.Writer) error { return writePolicy(w, p) })
	}
}

// --- certifications, services, claims ---------------------------------------

func certRecordCmd(l *leafFlagSet) action {
	eid := l.req("enterprise-id", "the enterprise's `USCC`")
	ename := l.req("enterprise-name", "the enterprise's `NAME` as on the recognition list")
	no := l.req("cert-no", "certificate `NUMBER`, e.g. GR202465000123")
	issued := l.req("issued-on", "issue `DATE` (YYYY-MM-DD); its year must be the certificate number's")
	kind := l.str("kind", voucher.CertFirst, "`KIND`: first (首次认定) or renewal (重新认定; earns no reward)")
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		cert, err := c.RecordCertification(ctx, voucher.RecordCertificationArgs{
			EnterpriseID: *eid, EnterpriseName: *ename, CertificateNo: *no, IssuedOn: *issued, Kind: *kind,
		})
		if err != nil {
			return err
		}
		return a.emit(cert, func(w io.Writer) error {
			return writeFields(w,
				field{"Certificate", cert.CertificateNo}, field{"Enterprise", cert.EnterpriseID},
				field{"Name", cert.EnterpriseName}, field{"Issued on", cert.IssuedOn}, field{"Kind", cert.Kind},
				field{"Recorded", cert.RecordedAt}, field{"Transaction", cert.RecordedTx})
		})
	}
}

func serviceRecordCmd(l *leafFlagSet) action {
	eid := l.req("enterprise-id", "the served enterprise's `USCC`")
	ref := l.req("contract-ref", "your service contract's reference, `REF`")
	started := l.req("started-on", "the `DATE` the service started (YYYY-MM-DD); on or before the certificate's issue date")
	sum := l.str("evidence-sha256", "", "SHA-256 of the evidence, 64 `HEX` digits")
	file := l.str("evidence-file", "", "evidence `PATH` to hash locally with SHA-256 (the file is not sent)")
	l.check = func() error {
		if (*sum == "") == (*file == "") {
			return errors.New("give exactly one of --evidence-sha256 and --evidence-file")
		}
		return nil
	}
	return func(ctx context.Context, a *app, _ []string) error {
		digest := strings.ToLower(strings.TrimSpace(*sum))
		if *file != "" {
			d, err := hashFile(*file)
			if err != nil {
				return err
			}
			digest = d
		}
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		rec, err := c.RecordService(ctx, voucher.RecordServiceArgs{
			EnterpriseID: *eid, ContractRef: *ref, StartedOn: *started, EvidenceSHA256: digest,
		})
		if err != nil {
			return err
		}
		return a.emit(rec, func(w io.Writer) error {
			return writeFields(w,
				field{"ID", rec.ID}, field{"Agency", rec.AgencyID}, field{"Enterprise", rec.EnterpriseID},
				field{"Contract", rec.ContractRef}, field{"Started on", rec.StartedOn},
				field{"Evidence SHA-256", rec.EvidenceSHA256}, field{"Recorded", rec.RecordedAt})
		})
	}
}

// hashFile is the hex SHA-256 of a file, streamed.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &usageError{msg: fmt.Sprintf("evidence file: %v", err)}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", &usageError{msg: fmt.Sprintf("evidence file: %v", err)}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func claimCmd(l *leafFlagSet) action {
	eid := l.req("enterprise-id", "the certified enterprise's `USCC`")
	no := l.req("cert-no", "its certificate `NUMBER`")
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		v, err := c.Claim(ctx, voucher.ClaimArgs{EnterpriseID: *eid, CertificateNo: *no})
		if err != nil {
			return err
		}
		return a.emit(v, func(w io.Writer) error { return writeVoucher(w, v) })
	}
}

// --- vouchers ---------------------------------------------------------------

func writeVoucher(w io.Writer, v voucher.Voucher) error {
	return writeFields(w,
		field{"ID", v.ID}, field{"Status", string(v.Status)}, field{"Amount", v.AmountCNY},
		field{"Agency", v.AgencyID}, field{"Enterprise", v.EnterpriseID}, field{"Certificate", v.CertificateNo},
		field{"Service record", v.ServiceRecordID}, field{"Period", v.Period},
		field{"Policy version", strconv.Itoa(v.PolicyVersion)}, field{"Issued", v.IssuedAt},
		field{"Redemption asked", v.RedemptionRequestedAt}, field{"Reimbursed", v.ReimbursedAt},
		field{"Payment ref", v.PaymentRef}, field{"Paid amount", v.PaidAmountCNY}, field{"Paid on", v.PaidOn},
		field{"Closed", v.ClosedAt}, field{"Reason", v.Reason}, field{"Updated", v.UpdatedAt},
		field{"Last action", strings.TrimSpace(v.LastAction + " by " + v.LastActor)},
	)
}

func voucherListCmd(l *leafFlagSet) action {
	agency := l.str("agency", "", "only this agency's vouchers (`USCC`)")
	status := l.str("status", "", "only this `STATUS`: issued, redemption_requested, reimbursed, rejected, revoked")
	period := l.str("period", "", "only this `PERIOD`, e.g. 2024")
	limit := l.Int("limit", 0, "page size, `N` (gateway default when 0)")
	cursor := l.str("cursor", "", "start at this `CURSOR` (printed after a page)")
	all := l.Bool("all", false, "follow cursors and list every matching voucher")
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		t := newTable(column{title: "ID"}, column{title: "AGENCY"}, column{title: "ENTERPRISE"}, column{title: "CERTIFICATE"},
			column{title: "PERIOD"}, column{title: "STATUS"}, column{title: "AMOUNT", right: true}, column{title: "ISSUED"})
		f := voucher.ListVouchersArgs{AgencyID: *agency, Status: voucher.Status(*status), Period: *period, Limit: *limit}
		return listPages(a, *all, *cursor,
			func(cur string) (voucher.Page[voucher.Voucher], error) {
				g := f
				g.Cursor = cur
				return c.ListVouchers(ctx, g)
			},
			func(v voucher.Voucher) {
				t.row(v.ID, v.AgencyID, v.EnterpriseID, v.CertificateNo, v.Period, string(v.Status), v.AmountCNY, date(v.IssuedAt))
			},
			t)
	}
}

// maxListPages bounds --all, so a listing cannot run forever.
const maxListPages = 100_000

// listPages prints one page, or with all every page, streaming: table rows
// page by page, JSON as one {"items": [...], "next_cursor": ""} document
// written item by item.
func listPages[T any](a *app, all bool, cursor string, page func(cursor string) (voucher.Page[T], error), addRow func(T), t *table) error {
	jsonOut := a.global.output == formatJSON
	if jsonOut {
		if _, err := io.WriteString(a.stdout, "{\n  \"items\": ["); err != nil {
			return err
		}
	}
	n := 0
	next := ""
	for pages := 0; ; pages++ {
		if pages == maxListPages {
			return fmt.Errorf("listing has over %d pages; narrow it with filters", maxListPages)
		}
		p, err := page(cursor)
		if err != nil {
			return err
		}
		for _, it := range p.Items {
			if jsonOut {
				if err := writeJSONItem(a.stdout, n, it); err != nil {
					return err
				}
			} else {
				addRow(it)
			}
			n++
		}
		if !jsonOut && (len(p.Items) > 0 || pages == 0) {
			if err := t.flush(a.stdout); err != nil {
				return err
			}
		}
		next = p.NextCursor
		if !all || next == "" || next == cursor {
			break
		}
		cursor = next
	}
	if !all && next != "" && !jsonOut {
		fmt.Fprintf(a.stderr, "More: --cursor %s (or --all)\n", next)
	}
	if all {
		next = ""
	}
	if jsonOut {
		sep := "\n  "
		if n == 0 {
			sep = ""
		}
		nc, _ := jsonString(next)
		_, err := fmt.Fprintf(a.stdout, "%s],\n  \"next_cursor\": %s\n}\n", sep, nc)
		return err
	}
	return nil
}

func voucherShowCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		v, err := c.GetVoucher(ctx, pos[0])
		if err != nil {
			return err
		}
		return a.emit(v, func(w io.Writer) error { return writeVoucher(w, v) })
	}
}

func voucherHistoryCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		h, err := c.VoucherHistory(ctx, pos[0])
		if err != nil {
			return err
		}
		return a.emit(h, func(w io.Writer) error {
			t := newTable(column{title: "AT"}, column{title: "ACTION"}, column{title: "ACTOR"}, column{title: "STATUS"}, column{title: "TX"})
			for _, it := range h {
				t.row(it.At, it.Action, it.Actor, string(it.Status), it.TxID)
			}
			return t.flush(w)
		})
	}
}

func voucherRedeemCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		v, err := c.Redeem(ctx, pos[0])
		if err != nil {
			return err
		}
		return a.emit(v, func(w io.Writer) error { return writeVoucher(w, v) })
	}
}

func voucherReimburseCmd(l *leafFlagSet) action {
	ref := l.req("payment-ref", "the treasury's payment `REF` (国库集中支付凭证号), used once")
	amount := l.req("amount", "the `AMOUNT` paid, equal to the voucher's, e.g. 5000.00")
	paid := l.req("paid-on", "the payment `DATE` (YYYY-MM-DD)")
	return func(ctx context.Context, a *app, pos []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		v, err := c.Reimburse(ctx, pos[0], client.Payment{PaymentRef: *ref, AmountCNY: *amount, PaidOn: *paid})
		if err != nil {
			return err
		}
		return a.emit(v, func(w io.Writer) error { return writeVoucher(w, v) })
	}
}

func voucherReasonCmd(call func(*client.Client, context.Context, string, string) (voucher.Voucher, error)) func(*leafFlagSet) action {
	return func(l *leafFlagSet) action {
		reason := l.req("reason", "why, for the audit trail (`TEXT`)")
		return func(ctx context.Context, a *app, pos []string) error {
			ctx, c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			v, err := call(c, ctx, pos[0], *reason)
			if err != nil {
				return err
			}
			return a.emit(v, func(w io.Writer) error { return writeVoucher(w, v) })
		}
	}
}

// --- ledger -----------------------------------------------------------------

func ledgerVerifyCmd(l *leafFlagSet) action {
	return func(ctx context.Context, a *app, _ []string) error {
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		r, err := c.Verify(ctx)
		if err != nil {
			return err
		}
		err = a.emit(r, func(w io.Writer) error {
			ok := "yes"
			if !r.OK {
				ok = "NO"
			}
			bad := ""
			if r.FirstBadBlock != nil {
				bad = strconv.FormatUint(*r.FirstBadBlock, 10)
			}
			return writeFields(w,
				field{"Verified", ok}, field{"Height", strconv.FormatUint(r.Height, 10)},
				field{"Head hash", r.HeadHash}, field{"Checked blocks", strconv.FormatUint(r.CheckedBlocks, 10)},
				field{"First bad block", bad}, field{"Detail", r.Detail})
		})
		if err != nil {
			return err
		}
		if !r.OK {
			msg := "the ledger does not verify"
			if r.FirstBadBlock != nil {
				msg += fmt.Sprintf(": first bad block %d", *r.FirstBadBlock)
			}
			if r.Detail != "" {
				msg += ": " + r.Detail
			}
			return &findingError{msg: msg}
		}
		return nil
	}
}
