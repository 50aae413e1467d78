package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hongshan-ledger/hongshan/chaincode/voucher"
	"github.com/hongshan-ledger/hongshan/client"
	"github.com/hongshan-ledger/hongshan/e2e/internal/harness"
)

// This file is the Fabric-only part of the suite: it reads the chain
// directly through network/peer.sh (the peer CLI as a bureau's user, no
// gateway involved) and stops and starts network processes through
// network/stop-node.sh and start-node.sh. On the embedded ledger its tests
// skip.

// Bounds of the fault scenarios.
const (
	// nodeCmdTimeout bounds one network script call (peer CLI, stop, start).
	nodeCmdTimeout = 90 * time.Second
	// catchUpTimeout bounds how long a restarted orderer may take to reach
	// the peers' height.
	catchUpTimeout = 90 * time.Second
	// reconnectTimeout bounds how long the gateway may take to serve writes
	// again once a restarted peer is healthy.
	reconnectTimeout = 90 * time.Second
	// faultPoll is the interval between probes while waiting on a fault.
	faultPoll = 250 * time.Millisecond
	// maxMetricsBytes bounds a /metrics answer read.
	maxMetricsBytes = 4 << 20
)

// needFabric skips t unless the suite runs on Fabric.
func needFabric(t *testing.T) {
	t.Helper()
	if backend != "fabric" {
		t.Skip("Fabric only: set HONGSHAN_E2E_BACKEND=fabric")
	}
}

// fabricNet is the network that `make network-up` started, as
// network/.state/network.env describes it.
type fabricNet struct {
	dir string            // network/
	env map[string]string // network.env, HONGSHAN_ names
}

func openFabricNet(t *testing.T) *fabricNet {
	t.Helper()
	dir := filepath.Join(repoRoot, "network")
	f, err := os.Open(filepath.Join(dir, ".state", "network.env"))
	if err != nil {
		t.Fatalf("network.env (run `make network-up`): %v", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "HONGSHAN_") {
			env[k] = strings.Trim(v, `'"`)
		}
	}
	ok(t, "read network.env", sc.Err())
	return &fabricNet{dir: dir, env: env}
}

// get is a network.env value; the test fails if it is missing.
func (n *fabricNet) get(t *testing.T, name string) string {
	t.Helper()
	v, found := n.env["HONGSHAN_"+name]
	if !found || v == "" {
		t.Fatalf("network.env has no HONGSHAN_%s", name)
	}
	return v
}

// script runs one of network/'s scripts and returns its standard output.
func (n *fabricNet) script(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), nodeCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(c, "bash", append([]string{filepath.Join(n.dir, name)}, args...)...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// query evaluates the contract's read-only fn on org's peer as the
// bureau's enrolled user (network/peer.sh ORG --as USER chaincode query)
// and decodes its answer into out.
func (n *fabricNet) query(t *testing.T, org, fn string, arg, out any) {
	t.Helper()
	raw, err := json.Marshal(arg)
	ok(t, "marshal "+fn, err)
	call, err := json.Marshal(map[string][]string{"Args": {fn, string(raw)}})
	ok(t, "marshal "+fn, err)
	user := n.get(t, strings.ToUpper(org)+"_USER")
	stdout, err := n.script(t, "peer.sh", org, "--as", user, "chaincode", "query",
		"-C", n.get(t, "CHANNEL"), "-n", n.get(t, "CC_NAME"), "-c", string(call))
	ok(t, "peer.sh "+org+" chaincode query "+fn, err)
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("peer.sh %s %s: not the expected JSON (%v): %s", org, fn, err, stdout)
	}
}

// chainVouchers lists every voucher of an agency on org's peer, page by page.
func (n *fabricNet) chainVouchers(t *testing.T, org, agencyID string) []voucher.Voucher {
	t.Helper()
	var all []voucher.Voucher
	args := voucher.ListVouchersArgs{AgencyID: agencyID, Limit: voucher.MaxPageSize}
	for range 1000 { // pages; far more than a test writes
		var page voucher.Page[voucher.Voucher]
		n.query(t, org, "ListVouchers", args, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		args.Cursor = page.NextCursor
	}
	t.Fatalf("ListVouchers of %s on the chain does not end", agencyID)
	return nil
}

// stop stops a network process; the test restarts it at the end if it
// is still stopped, so a failed test leaves the network whole.
func (n *fabricNet) stop(t *testing.T, node string) {
	t.Helper()
	_, err := n.script(t, "stop-node.sh", node)
	ok(t, "stop "+node, err)
	t.Cleanup(func() {
		// t.Context() has ended by now: start with a context of its own.
		c, cancel := context.WithTimeout(context.Background(), nodeCmdTimeout)
		defer cancel()
		cmd := exec.CommandContext(c, "bash", filepath.Join(n.dir, "start-node.sh"), node)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cleanup: start %s: %v\n%s", node, err, out)
		}
	})
}

// start starts a stopped network process and waits until it is healthy.
func (n *fabricNet) start(t *testing.T, node string) {
	t.Helper()
	_, err := n.script(t, "start-node.sh", node)
	ok(t, "start "+node, err)
}

// metric reads one channel-labelled gauge from a node's operations
// endpoint (host:port); found is false while the node does not answer.
func (n *fabricNet) metric(t *testing.T, opsAddr, name string) (value float64, found bool) {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(c, http.MethodGet, "http://"+opsAddr+"/metrics", nil)
	ok(t, "metrics request", err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	series := fmt.Sprintf("%s{channel=%q}", name, n.get(t, "CHANNEL"))
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// height is a node's ledger height on the channel (0 while it does not
// answer).
func (n *fabricNet) height(t *testing.T, opsAddr string) uint64 {
	t.Helper()
	v, _ := n.metric(t, opsAddr, "ledger_blockchain_height")
	return uint64(v)
}

// orderers are the orderer nodes' names; ordererOps is one's operations
// address.
var orderers = []string{"orderer1", "orderer2", "orderer3"}

func (n *fabricNet) ordererOps(t *testing.T, name string) string {
	return n.get(t, strings.ToUpper(name)+"_OPERATIONS_ADDRESS")
}

// raftLeader is the orderer that reports itself the raft leader, polled
// until one does.
func (n *fabricNet) raftLeader(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(catchUpTimeout)
	for time.Now().Before(deadline) {
		for _, o := range orderers {
			if v, found := n.metric(t, n.ordererOps(t, o), "consensus_etcdraft_is_leader"); found && v == 1 {
				return o
			}
		}
		time.Sleep(faultPoll) // polling the orderers' metrics, bounded by the deadline
	}
	t.Fatalf("no orderer reports itself raft leader within %v", catchUpTimeout)
	return ""
}

// TestVoucherOnChain claims a voucher through the gateway, takes it through
// redemption, and reads it back from both bureaus' peers with the peer CLI
// (network/peer.sh … chaincode query GetVoucher, GetVoucherHistory): the
// voucher the gateway answered is the one on the chain, with the same
// history, endorsed and committed on both bureaus' ledgers.
func TestVoucherOnChain(t *testing.T) {
	needFabric(t)
	net := openFabricNet(t)
	s := startSystem(t)
	id := registerAgency(t, s.admin, "链上核对服务机构", voucher.KindServiceAgency)
	ag := s.newParty(t, "chain-agency", voucher.RoleAgency, id)
	e := certify(t, s.admin, "2025-05-20", voucher.CertFirst)
	serve(t, ag, e)
	v := claim(t, ag, e)
	redeemed, err := ag.c.Redeem(ctx(t), v.ID)
	ok(t, "redeem", err)
	hist, err := s.admin.VoucherHistory(ctx(t), v.ID)
	ok(t, "history through the gateway", err)

	for _, org := range []string{"scitech", "finance"} {
		var onChain voucher.Voucher
		net.query(t, org, "GetVoucher", voucher.VoucherIDArgs{ID: v.ID}, &onChain)
		if onChain != redeemed {
			t.Fatalf("peer0.%s holds\n%+v\nthe gateway answered\n%+v", org, onChain, redeemed)
		}
		var chainHist []voucher.HistoryItem
		net.query(t, org, "GetVoucherHistory", voucher.VoucherIDArgs{ID: v.ID}, &chainHist)
		if len(chainHist) != len(hist) || len(hist) != 2 {
			t.Fatalf("history on peer0.%s %+v, through the gateway %+v", org, chainHist, hist)
		}
		for i := range hist {
			if chainHist[i].TxID != hist[i].TxID || chainHist[i].Status != hist[i].Status || chainHist[i].Actor != hist[i].Actor {
				t.Fatalf("history step %d on peer0.%s %+v, through the gateway %+v", i, org, chainHist[i], hist[i])
			}
		}
	}
	t.Logf("voucher %s read back from both peers; actor on the chain %q", v.ID, hist[0].Actor)
}

// TestOrdererDown stops the raft leader among the three orderers: claims
// still commit on the other two (a new leader is elected); restarted, the
// orderer catches up to the peers' height (its ledger_blockchain_height on
// its operations endpoint), and claims commit with all three again.
func TestOrdererDown(t *testing.T) {
	needFabric(t)
	net := openFabricNet(t)
	s := startSystem(t)
	aud := s.newParty(t, "orderer-fault-auditor", voucher.RoleAuditor, "")
	id := registerAgency(t, s.admin, "排序节点故障测试机构", voucher.KindServiceAgency)
	ag := s.newParty(t, "orderer-fault-agency", voucher.RoleAgency, id)
	chk := newChecker(aud.c)
	chk.track(id)
	const perPhase = 4
	dates := make([]string, 2*perPhase)
	for i := range dates {
		dates[i] = "2024-06-15"
	}
	es := prepare(t, s.admin, []party{ag}, dates)[0]
	peerOps := net.get(t, "SCITECH_PEER_OPERATIONS_ADDRESS")

	leader := net.raftLeader(t)
	before := net.height(t, net.ordererOps(t, leader))
	net.stop(t, leader)
	t0 := time.Now()
	for _, e := range es[:perPhase] {
		chk.expect(claim(t, ag, e))
	}
	t.Logf("%s (raft leader) stopped: %d claims committed in %v", leader, perPhase, time.Since(t0).Round(time.Millisecond))
	chk.check(t, "claims with an orderer down")
	stoppedAt := net.height(t, net.ordererOps(t, leader))
	if stoppedAt != 0 {
		t.Fatalf("%s still answers on its operations endpoint (height %d) after stop-node.sh", leader, stoppedAt)
	}

	net.start(t, leader)
	target := net.height(t, peerOps)
	if target < before+perPhase/2 {
		t.Fatalf("peer0.scitech at height %d, the orderer stopped at %d: the claims did not add blocks", target, before)
	}
	t0 = time.Now()
	for {
		h := net.height(t, net.ordererOps(t, leader))
		if h >= target {
			t.Logf("%s restarted: from height %d to %d (the peers') in %v", leader, before, h, time.Since(t0).Round(time.Millisecond))
			break
		}
		if time.Since(t0) > catchUpTimeout {
			t.Fatalf("%s restarted: height %d, peers at %d, after %v", leader, h, target, catchUpTimeout)
		}
		time.Sleep(faultPoll) // polling the orderer's metrics, bounded by catchUpTimeout
	}
	for _, e := range es[perPhase:] {
		chk.expect(claim(t, ag, e))
	}
	chk.check(t, "claims after the orderer came back")
	// Every orderer holds the chain the peers hold.
	final := net.height(t, peerOps)
	for _, o := range orderers {
		deadline := time.Now().Add(catchUpTimeout)
		for net.height(t, net.ordererOps(t, o)) < final {
			if time.Now().After(deadline) {
				t.Fatalf("%s stays below height %d", o, final)
			}
			time.Sleep(faultPoll) // polling the orderer's metrics, bounded by the deadline
		}
	}
}

// TestPeerRestart stops the S&T bureau's peer (the one the gateway's block
// stream and commit events come from, and one of the two endorsers every
// write needs): writes are refused as UNAVAILABLE while it is down, reads
// keep being served from the read model; once it is back the same gateway
// process, not restarted, commits again within reconnectTimeout, and a new
// voucher is readable at once (its block stream reconnected).
func TestPeerRestart(t *testing.T) {
	needFabric(t)
	net := openFabricNet(t)
	s := startSystem(t)
	aud := s.newParty(t, "peer-fault-auditor", voucher.RoleAuditor, "")
	id := registerAgency(t, s.admin, "节点重启测试机构", voucher.KindServiceAgency)
	ag := s.newParty(t, "peer-fault-agency", voucher.RoleAgency, id)
	chk := newChecker(aud.c)
	chk.track(id)
	es := prepare(t, s.admin, []party{ag}, []string{"2024-06-15", "2024-06-15"})[0]
	before := claim(t, ag, es[0])
	chk.expect(before)
	pid := s.gw.PID()

	net.stop(t, "peer0.scitech")
	register := func(c context.Context) error {
		_, err := s.admin.RegisterAgency(c, voucher.RegisterAgencyArgs{
			ID: registerID(), Name: "节点重启探测", Kind: voucher.KindServiceAgency})
		return err
	}
	wantCode(t, "write with a bureau's peer down", register(ctx(t)), "UNAVAILABLE")
	got, err := aud.c.GetVoucher(ctx(t), before.ID)
	ok(t, "read with a peer down", err)
	if got.ID != before.ID {
		t.Fatalf("read with a peer down: %+v", got)
	}

	net.start(t, "peer0.scitech")
	t0 := time.Now()
	attempts := 0
	for {
		attempts++
		err := register(ctx(t))
		if err == nil {
			break
		}
		if !client.IsCode(err, "UNAVAILABLE") {
			t.Fatalf("write after the peer restarted: %v, want success or UNAVAILABLE", err)
		}
		if time.Since(t0) > reconnectTimeout {
			t.Fatalf("the gateway does not write again within %v of the peer's restart: %v", reconnectTimeout, err)
		}
		time.Sleep(faultPoll) // polling a recovering network, bounded by reconnectTimeout
	}
	t.Logf("writes succeed again %v after the peer was healthy (%d attempts)", time.Since(t0).Round(time.Millisecond), attempts)
	if s.gw.PID() != pid {
		t.Fatalf("the gateway process changed (%d → %d): it was restarted", pid, s.gw.PID())
	}
	after := claim(t, ag, es[1])
	chk.expect(after)
	got, err = aud.c.GetVoucher(ctx(t), after.ID)
	ok(t, "read a new voucher after the peer restarted", err)
	if got != after {
		t.Fatalf("voucher after the restart %+v, claim answered %+v", got, after)
	}
	chk.check(t, "peer restart")
}

// registerID is a fresh agency id.
func registerID() string { return harness.UrumqiUSCC(usccSerials.Next()) }

// compareWithChain checks, on Fabric, that the gateway's read model and
// the chain agree after a kill -9 and restart: per agency the same
// vouchers with the same statuses, and for a sample of them the same
// history (no event applied twice, none skipped).
func compareWithChain(t *testing.T, auditor *client.Client, agencyIDs []string) {
	t.Helper()
	net := openFabricNet(t)
	const historySample = 8
	sampled := 0
	for _, agency := range agencyIDs {
		onChain := map[string]voucher.Voucher{}
		for _, v := range net.chainVouchers(t, "scitech", agency) {
			onChain[v.ID] = v
		}
		n := 0
		for v, err := range auditor.AllVouchers(ctx(t), voucher.ListVouchersArgs{AgencyID: agency, Limit: voucher.MaxPageSize}) {
			ok(t, "list", err)
			n++
			c, found := onChain[v.ID]
			if !found || c.Status != v.Status || c.CertificateNo != v.CertificateNo {
				t.Fatalf("voucher %s (%s) through the gateway; on the chain %+v (found %v)", v.ID, v.Status, c, found)
			}
			if sampled < historySample {
				sampled++
				h, err := auditor.VoucherHistory(ctx(t), v.ID)
				ok(t, "history", err)
				var ch []voucher.HistoryItem
				net.query(t, "scitech", "GetVoucherHistory", voucher.VoucherIDArgs{ID: v.ID}, &ch)
				if len(h) != len(ch) {
					t.Fatalf("voucher %s: %d history steps through the gateway, %d on the chain", v.ID, len(h), len(ch))
				}
			}
		}
		if n != len(onChain) {
			t.Fatalf("agency %s: %d vouchers through the gateway, %d on the chain", agency, n, len(onChain))
		}
	}
}

// resumedFrom is the block the gateway's last block stream started from,
// from its log ("fabric block stream connected", from_block): after a
// restart the projection resumes from its checkpoint, not from block 0.
func resumedFrom(t *testing.T, logPath string) (from uint64, found bool) {
	t.Helper()
	f, err := os.Open(logPath)
	ok(t, "gateway log", err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg       string `json:"msg"`
			FromBlock uint64 `json:"from_block"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "fabric block stream connected" {
			from, found = rec.FromBlock, true
		}
	}
	ok(t, "read the gateway log", sc.Err())
	return from, found
}
