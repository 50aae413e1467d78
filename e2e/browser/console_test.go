package browser

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
	"github.com/hongshan-ledger/hongshan/e2e/internal/harness"
)

// The people of the scenario and their passwords.
const (
	adminPW   = "admin-password-1"
	financePW = "finance-password-1"
	auditorPW = "auditor-password-1"
	agencyPW  = "agency-password-1"
)

// scenario is the gateway under test and what the API set up: principals
// with passwords. Everything else is done in the browser.
type scenario struct {
	gw          *harness.Gateway
	agencyID    string
	agencyToken string
	enterprises []string // USCCs of the enterprises on the recognition list
	certs       []string // their certificate numbers
}

func startScenario(t *testing.T) *scenario {
	t.Helper()
	gw, err := harness.Start(context.Background(), harness.Config{
		Bin: gatewayBin, Dir: repoRoot, DataDir: filepath.Join(t.TempDir(), "data"), Backend: "embedded",
		LogPath: filepath.Join(t.TempDir(), "gateway.log"), ReadyTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		if err := gw.Stop(); err != nil {
			t.Errorf("stop gateway: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway log (end):\n%s", gw.LogTail())
		}
	})
	token, err := gw.AdminToken()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(gw.URL(), client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := &scenario{gw: gw, agencyID: harness.UrumqiUSCC(7001)}
	for i := 1; i <= 3; i++ {
		s.enterprises = append(s.enterprises, harness.UrumqiUSCC(8000+i))
		s.certs = append(s.certs, harness.CertNo(2024, 8000+i))
	}
	// The first administrator sets its own first password with its token.
	if err := admin.SetPassword(ctx, "admin", client.PasswordChange{New: adminPW}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		np client.NewPrincipal
		pw string
	}{
		{client.NewPrincipal{Name: "fin.wang", Role: voucher.RoleFinance}, financePW},
		{client.NewPrincipal{Name: "audit.li", Role: voucher.RoleAuditor}, auditorPW},
		{client.NewPrincipal{Name: "tianshan.ops", Role: voucher.RoleAgency, AgencyID: s.agencyID}, agencyPW},
	} {
		created, err := admin.CreatePrincipal(ctx, p.np)
		if err != nil {
			t.Fatal(err)
		}
		if err := admin.SetPassword(ctx, p.np.Name, client.PasswordChange{New: p.pw}); err != nil {
			t.Fatal(err)
		}
		if p.np.Role == voucher.RoleAgency {
			s.agencyToken = created.Token
		}
	}
	return s
}

// signIn signs in from the sign-in page with the keyboard only: type the
// name, Tab, the password, Enter.
func (p *page) signIn(name, password string) {
	p.t.Helper()
	p.waitJS("the sign-in form", `document.activeElement && document.activeElement.id === 'signin-name'`)
	p.do("type the credentials",
		chromedp.SendKeys(chromedp.ID("signin-name"), name+"\t"),
		chromedp.SendKeys(chromedp.ID("signin-password"), password+"\n"))
}

func (p *page) signOut() {
	p.t.Helper()
	p.clickButton(".topbar", "退出登录")
	p.waitText(".notice", "您已安全退出")
	p.waitJS("the sign-in form", `document.getElementById('signin-name') !== null`)
}

// go navigates to a section by its hash and waits for its title.
func (p *page) section(hash, title string) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => { location.hash = %s; return true })()`, js(hash)))
	p.waitText("h1.page-title", title)
}

// waitDone waits until no "loading" placeholder is left.
func (p *page) waitDone() {
	p.t.Helper()
	p.waitJS("the page to load", `document.querySelector('.loading') === null`)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// beijingToday is the date the console and the ledger call today.
func beijingToday() string {
	return time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
}

// TestConsole drives every role's work through the console in Chromium:
// sign-in per role, agencies, policy, the certification import, service
// record with the evidence hashed in the browser, claims up to a
// cap-exceeded claim shown in Chinese, redeem, reimburse, the report
// download and the treasury match, the ledger check, a voucher's timeline,
// the language switch and sign-out.
func TestConsole(t *testing.T) {
	requireBrowser(t)
	s := startScenario(t)
	p := newPage(t, s.gw.URL())
	ctx := context.Background()

	// --- the sign-in page: Chinese by default, wrong password in words.
	p.open("/")
	p.waitText("h1", "红山科技创新券")
	if lang := eval[string](p, `document.documentElement.lang`); lang != "zh-CN" {
		t.Fatalf("page language %q, want zh-CN", lang)
	}
	p.checkLabels("sign-in")
	p.screenshot("signin")
	p.signIn("admin", "not-the-password")
	p.waitText(".notice.error", "用户名或密码不正确")

	// --- 科技局: agency, policy, the recognition list.
	p.fill("#signin-password", "")
	p.do("type the password", chromedp.SendKeys(chromedp.ID("signin-password"), adminPW+"\n"))
	p.waitText("nav", "服务机构")
	p.waitText("h1.page-title", "服务机构")
	p.waitDone()
	p.checkLabels("scitech agencies")

	p.fill(`input[name="id"]`, s.agencyID)
	p.fill(`input[name="name"]`, "天山科技服务中心")
	p.submit(`input[name="id"]`)
	p.waitText(".notice.ok", "已登记“天山科技服务中心”")
	p.waitDone()
	p.waitText("table", "天山科技服务中心")

	p.section("#/policy", "政策参数")
	p.waitDone()
	p.waitText("main", "现行政策")
	// Room for two vouchers: the third claim exceeds the cap.
	p.fill(`input[name="cap_per_agency"]`, "10000.00")
	p.submit(`input[name="cap_per_agency"]`)
	p.waitText(".notice.ok", "已生效")
	p.waitDone()
	p.waitText("dl.facts", "¥10,000.00")
	p.screenshot("scitech-policy")

	p.section("#/certifications", "高企认定")
	p.checkLabels("scitech certifications")
	header := "\ufeff序号,统一社会信用代码,企业名称,证书编号,发证日期,认定类型\n"
	bad := header + "1," + s.enterprises[0] + ",乌鲁木齐甲科技有限公司," + s.certs[0] + ",2024-06-01,首次认定\n" +
		"2,91650104000000119X,坏代码企业," + s.certs[1] + ",2024/6/2,首次认定\n"
	p.upload(`input[name="file"]`, writeFile(t, "bad.csv", bad))
	p.submit(`input[name="file"]`)
	p.waitText(".notice.error", "未登记任何证书")
	p.waitText("table", "统一社会信用代码格式不正确")
	p.screenshot("scitech-import-refused")
	good := header
	for i := range s.enterprises {
		good += fmt.Sprintf("%d,%s,乌鲁木齐%c科技有限公司,%s,2024/6/%d,首次认定\n", i+1, s.enterprises[i], []rune("甲乙丙")[i], s.certs[i], i+1)
	}
	p.upload(`input[name="file"]`, writeFile(t, "good.csv", good))
	p.submit(`input[name="file"]`)
	p.waitText(".notice.ok", "导入完成：新登记 3 条")
	p.waitText("table", "已登记")
	p.screenshot("scitech-import")
	p.section("#/users", "用户管理")
	p.waitDone()
	p.waitText("table", "tianshan.ops")
	p.checkLabels("scitech users")
	p.screenshot("scitech-users")
	p.section("#/agencies", "服务机构")
	p.waitDone()
	p.screenshot("scitech-home")
	p.signOut()

	// --- the agency: service record (hashed here), claims, the cap, redeem.
	p.signIn("tianshan.ops", agencyPW)
	p.waitText("h1.page-title", "本机构概况")
	p.waitDone()
	p.waitText(".cap", "已用 ¥0.00 / 上限 ¥10,000.00")

	p.section("#/service", "登记服务")
	p.checkLabels("agency service")
	evidence := "服务合同 HT-2024-001：天山科技服务中心为乌鲁木齐甲科技有限公司提供高企认定辅导。\n"
	sum := sha256.Sum256([]byte(evidence))
	p.fill(`input[name="enterprise_id"]`, s.enterprises[0])
	p.fill(`input[name="contract_ref"]`, "HT-2024-001")
	p.fill(`input[name="started_on"]`, "2024-01-15")
	p.upload(`input[name="evidence_file"]`, writeFile(t, "contract.txt", evidence))
	p.waitJS("the evidence digest", fmt.Sprintf(`document.getElementById('evidence-sha256').value === %s`, js(hex.EncodeToString(sum[:]))))
	p.submit(`input[name="enterprise_id"]`)
	p.waitText(".notice.ok", "已登记服务记录")
	p.screenshot("agency-service")
	// The other two services through the API, as a script would.
	ag, err := client.New(s.gw.URL(), client.WithToken(s.agencyToken))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if _, err := ag.RecordService(ctx, voucher.RecordServiceArgs{EnterpriseID: s.enterprises[i],
			ContractRef: fmt.Sprintf("HT-2024-00%d", i+1), StartedOn: "2024-01-15",
			EvidenceSHA256: harness.Evidence("contract", s.enterprises[i])}); err != nil {
			t.Fatal(err)
		}
	}

	p.section("#/claim", "申领创新券")
	p.checkLabels("agency claim")
	for i := range 2 {
		p.fill(`input[name="enterprise_id"]`, s.enterprises[i])
		p.fill(`input[name="certificate_no"]`, s.certs[i])
		p.submit(`input[name="certificate_no"]`)
		// The form clears its last answer on submit, so this is the new one.
		p.waitText(".notice.ok", "已申领创新券")
		p.waitText(".notice.ok", "¥5,000.00")
	}
	p.fill(`input[name="enterprise_id"]`, s.enterprises[2])
	p.fill(`input[name="certificate_no"]`, s.certs[2])
	p.submit(`input[name="certificate_no"]`)
	p.waitText(".notice.error", "已超出本机构的奖励上限")
	p.waitText(".notice.error", "2024 年度剩余额度 ¥0.00")
	p.screenshot("agency-cap-exceeded")

	p.section("#/overview", "本机构概况")
	p.waitDone()
	p.waitText(".cap", "已用 ¥10,000.00 / 上限 ¥10,000.00")
	p.waitJS("two vouchers", `document.querySelectorAll('tbody tr').length === 2`)
	p.screenshot("agency-home")
	p.clickButton("tbody", "申请兑付")
	p.waitJS("the redeem dialog", `document.querySelector('dialog[open]') !== null`)
	p.clickButton("dialog[open]", "申请兑付")
	p.waitText(".notice.ok", "等待市财政局处理")
	p.waitDone()
	p.waitText("tbody", "待兑付")
	voucherID := eval[string](p, `[...document.querySelectorAll('tbody tr')].find(r => r.innerText.includes('待兑付')).querySelector('code').innerText`)
	p.signOut()

	// --- 财政局: the queue, reimburse, the report download, the treasury match.
	p.signIn("fin.wang", financePW)
	p.waitText("h1.page-title", "兑付队列")
	p.waitDone()
	p.waitText("tbody", voucherID)
	p.screenshot("finance-home")
	p.clickButton("tbody", "兑付")
	p.waitJS("the reimburse dialog", `document.querySelector('dialog[open]') !== null`)
	p.checkLabels("reimburse dialog")
	if got := eval[string](p, `document.querySelector('dialog[open] input[name=amount]').value`); got != "5000.00" {
		t.Fatalf("amount prefilled %q, want 5000.00", got)
	}
	today := beijingToday()
	if got := eval[string](p, `document.querySelector('dialog[open] input[name=paid_on]').value`); got != today {
		t.Fatalf("paid_on prefilled %q, want today %s", got, today)
	}
	// The payment reference is required: an empty one is not sent.
	p.clickButton("dialog[open]", "兑付")
	if ok := eval[bool](p, `document.querySelector('dialog[open] input[name=payment_ref]').matches(':invalid')`); !ok {
		t.Fatal("an empty payment reference is accepted")
	}
	p.fill(`dialog[open] input[name="payment_ref"]`, "GK2024-000001")
	p.screenshot("finance-reimburse")
	p.clickButton("dialog[open]", "兑付")
	p.waitText(".notice.ok", "已兑付 "+voucherID)
	p.waitDone()
	p.waitText("main", "没有待兑付的创新券")

	p.section("#/reports", "对账报表")
	p.waitDone()
	eval[bool](p, `(() => { const s = document.querySelector('select[name=period]'); s.value = '2024'; s.dispatchEvent(new Event('change')); return true })()`)
	p.waitDone()
	p.waitText("table", "天山科技服务中心")
	p.click(`a[data-format="csv"]`)
	csv := p.download(".csv")
	if !bytes.HasPrefix(csv, []byte("\xef\xbb\xbf")) || !bytes.Contains(csv, []byte(s.agencyID)) {
		t.Fatalf("downloaded CSV (BOM, agency %s): %.300q", s.agencyID, csv)
	}
	p.click(`a[data-format="xlsx"]`)
	if xlsx := p.download(".xlsx"); !bytes.HasPrefix(xlsx, []byte("PK")) {
		t.Fatalf("downloaded XLSX is not a zip: %.20q", xlsx)
	}

	p.section("#/treasury", "国库支付核对")
	p.checkLabels("treasury")
	payments := fmt.Sprintf("支付凭证号,机构代码,金额,支付日期\nGK2024-000001,%s,5000.00,%s\n", s.agencyID, today)
	p.upload(`input[name="file"]`, writeFile(t, "treasury.csv", payments))
	p.submit(`input[name="file"]`)
	p.waitText(".notice.ok", "全部 1 笔支付与账本一致")
	p.screenshot("finance-treasury")
	p.signOut()

	// --- 审计: reports with the chart, the ledger check, a voucher's timeline.
	p.signIn("audit.li", auditorPW)
	p.waitText("h1.page-title", "对账报表")
	p.waitDone()
	p.waitJS("the charts", `document.querySelectorAll('svg.chart').length >= 2`)
	p.screenshot("auditor-home")

	p.section("#/ledger", "账本校验")
	p.clickButton("main", "开始校验")
	p.waitText(".verdict.ok", "校验通过")

	p.section("#/voucher?id="+voucherID, "查询创新券")
	p.waitDone()
	p.waitJS("three steps", `document.querySelectorAll('ol.timeline li').length === 3`)
	steps := eval[string](p, `document.querySelector('ol.timeline').innerText`)
	for _, want := range []string{"申领", "申请兑付", "兑付", "已兑付", "tianshan.ops", "fin.wang"} {
		if !strings.Contains(steps, want) {
			t.Errorf("timeline lacks %q:\n%s", want, steps)
		}
	}
	p.screenshot("auditor-timeline")

	// --- English by a switch, remembered across a reload.
	p.click("#lang-switch")
	p.waitText("nav", "Ledger check")
	p.open("/?reload=1#/reports") // a new document, not a hash change

	p.waitText("h1.page-title", "Reconciliation")
	p.waitDone()
	if lang := eval[string](p, `document.documentElement.lang`); lang != "en" {
		t.Fatalf("page language %q after the switch, want en", lang)
	}
	p.screenshot("auditor-home-en")
	p.click("#lang-switch")
	p.waitText("nav", "账本校验")

	// --- sign-out ends the session: a reload shows the sign-in page.
	p.signOut()

	// 科技局's home again, now with vouchers: the cap chart has a bar.
	p.signIn("admin", adminPW)
	p.waitText("h1.page-title", "服务机构")
	p.waitDone()
	p.waitText("table", "¥10,000.00 / ¥10,000.00")
	p.screenshot("scitech-home-with-vouchers")
	p.signOut()
	p.open("/?reload=2#/reports")
	p.waitJS("the sign-in form after reload", `document.getElementById('signin-name') !== null`)

	// The keyboard reaches the form: Tab from the name field lands on the password.
	p.do("tab", chromedp.SendKeys(chromedp.ID("signin-name"), "\t"))
	if id := eval[string](p, `document.activeElement.id`); id != "signin-password" {
		t.Errorf("Tab from the name field focused %q", id)
	}
	if problems := p.pageProblems(); len(problems) > 0 {
		t.Fatalf("the page reported problems:\n%s", strings.Join(problems, "\n"))
	}
}
