// Package fabric is the gateway's backend.Backend on a Hyperledger Fabric
// network, through fabric-sdk-go.
//
// Every principal of the gateway gets its own Fabric CA identity (Enroll),
// kept in a wallet on disk, and every Submit or Evaluate is signed with the
// caller's own certificate, so the chaincode authorises the real caller from
// the certificate's hongshan.role and hongshan.agency attributes. Block
// events, ledger queries and integrity checks run as the S&T bureau CA's
// registrar (the profile's "service identity"), which reads but never
// invokes the contract.
//
// This package links fabric-sdk-go (fabric-protos-go); never import it into
// a binary or test binary that also links fabric-chaincode-go/v2.
package fabric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"
	mspclient "github.com/hyperledger/fabric-sdk-go/pkg/client/msp"
	sdklogging "github.com/hyperledger/fabric-sdk-go/pkg/common/logging"
	contextapi "github.com/hyperledger/fabric-sdk-go/pkg/common/providers/context"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/core"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
	mspapi "github.com/hyperledger/fabric-sdk-go/pkg/common/providers/msp"
	sdkconfig "github.com/hyperledger/fabric-sdk-go/pkg/core/config"
	"github.com/hyperledger/fabric-sdk-go/pkg/fabsdk"

	"github.com/hongshan-ledger/hongshan/gateway/backend"
)

// Backend is a backend.Backend on a Fabric channel.
type Backend struct {
	cfg config
	log *slog.Logger
	sdk *fabsdk.FabricSDK

	// orgs by role group: the S&T bureau's (scitech, agency, auditor) and
	// the finance bureau's.
	scitech, finance *orgClient

	// service is the registrar's identity and the clients that run as it.
	service      mspapi.SigningIdentity
	serviceChCtx contextapi.ChannelProvider
	ledger       *ledger.Client
	// commitEvents is the service identity's filtered-block event service;
	// every Submit waits for its commit on it, so principals need no event
	// stream of their own.
	commitEvents fab.EventService
	// heights follows every peer's committed height (peers.go).
	heights *peerHeights

	clients *clientCache
	// conflicts counts retried submissions (MVCC, phantom reads).
	conflicts atomic.Int64
	// enrollMu serialises enrolments: they are rare and touch the CA and
	// the wallet together.
	enrollMu sync.Mutex

	closeOnce sync.Once
	closed    chan struct{}
	streams   sync.WaitGroup
}

var _ backend.Backend = (*Backend)(nil)

// orgClient is one bureau: its MSP, its CA client and its peers.
type orgClient struct {
	name  string
	mspID string
	ca    *mspclient.Client
	peers []string
}

// Open connects to the network the connection profile describes. It enrols
// the S&T bureau CA's registrar into the wallet if it is not there yet and
// checks that the channel answers; a network that is down is an error
// wrapping backend.ErrUnavailable.
func Open(ctx context.Context, opts ...Option) (*Backend, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.profile); err != nil {
		return nil, fmt.Errorf("fabric: connection profile: %w", err)
	}
	if err := prepareWallet(cfg.walletDir); err != nil {
		return nil, err
	}

	sdk, err := fabsdk.New(withOverlay(sdkconfig.FromFile(cfg.profile), cfg))
	if err != nil {
		return nil, fmt.Errorf("fabric: load profile %s: %w", cfg.profile, err)
	}
	quietSDK()

	b := &Backend{
		cfg:     cfg,
		log:     cfg.log.With("backend", "fabric"),
		sdk:     sdk,
		clients: newClientCache(cfg.clientCache, sdk.CloseContext),
		heights: newPeerHeights(),
		closed:  make(chan struct{}),
	}
	if err := b.init(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	// Key files the SDK wrote at start-up (the registrar's) get the same
	// treatment as principals'.
	if err := secureWallet(cfg.walletDir); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Backend) init(ctx context.Context) error {
	var err error
	if b.scitech, err = b.newOrgClient(b.cfg.scitechOrg); err != nil {
		return err
	}
	if b.finance, err = b.newOrgClient(b.cfg.financeOrg); err != nil {
		return err
	}
	if b.service, err = b.registrarIdentity(ctx, b.scitech); err != nil {
		return err
	}
	b.serviceChCtx = b.sdk.ChannelContext(b.cfg.channel, fabsdk.WithIdentity(b.service))
	if b.ledger, err = ledger.New(b.serviceChCtx); err != nil {
		return unavailable("ledger client", err)
	}
	chCtx, err := b.serviceChCtx()
	if err != nil {
		return unavailable("channel context", err)
	}
	if b.commitEvents, err = chCtx.ChannelService().EventService(); err != nil {
		return unavailable("event service", err)
	}
	info, err := b.Info(ctx)
	if err != nil {
		return err
	}
	peers, err := b.followPeers()
	if err != nil {
		return err
	}
	if live := b.heights.waitLive(ctx, peers, followStartTimeout); live < peers {
		b.log.Warn("fabric: not every peer's height is followed yet", "live", live, "peers", peers)
	}
	b.log.Info("fabric backend ready",
		"profile", b.cfg.profile, "channel", b.cfg.channel, "chaincode", b.cfg.chaincode,
		"height", info.Height, "peers", peers, "service_identity", b.service.Identifier().ID, "wallet", b.cfg.walletDir)
	return nil
}

func (b *Backend) newOrgClient(org string) (*orgClient, error) {
	sdkCtx, err := b.sdk.Context()()
	if err != nil {
		return nil, fmt.Errorf("fabric: sdk context: %w", err)
	}
	orgCfg, ok := sdkCtx.EndpointConfig().NetworkConfig().Organizations[strings.ToLower(org)]
	if !ok {
		return nil, fmt.Errorf("fabric: organisation %q is not in the connection profile", org)
	}
	ca, err := mspclient.New(b.sdk.Context(), mspclient.WithOrg(org))
	if err != nil {
		return nil, fmt.Errorf("fabric: CA client of %s: %w", org, err)
	}
	return &orgClient{name: org, mspID: orgCfg.MSPID, ca: ca, peers: orgCfg.Peers}, nil
}

// followStartTimeout bounds how long Open waits for the peer followers.
const followStartTimeout = 5 * time.Second

// Name is "fabric".
func (b *Backend) Name() string { return "fabric" }

// Close stops block streams and releases the SDK's connections.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		close(b.closed)
		b.streams.Wait()
		b.clients.closeAll()
		b.sdk.Close()
	})
	return nil
}

// sdkLogModules are fabric-sdk-go's log modules; loading a profile sets
// each to the profile's client.logging.level.
var sdkLogModules = []string{"", "fabsdk", "fabsdk/client", "fabsdk/core", "fabsdk/fab", "fabsdk/common", "fabsdk/msp", "fabsdk/util", "fabsdk/context"}

// quietSDK keeps only the SDK's warnings and errors: it logs to stdout on
// its own, and at info it reports every TLS dial and key generation.
func quietSDK() {
	for _, m := range sdkLogModules {
		sdklogging.SetLevel(m, sdklogging.WARNING)
	}
}

// unavailable wraps err as backend.ErrUnavailable with what was attempted.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: fabric: %s: %w", backend.ErrUnavailable, what, err)
}

// Wallet layout under the wallet directory: the SDK's certificate store
// (one <enrollment id>@<MSP id>-cert.pem per identity) and its BCCSP key
// store (private keys, 0600).
const (
	walletCertDir = "certs"
	walletKeyDir  = "keys" // the SDK appends "keystore"
)

func prepareWallet(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, walletCertDir), filepath.Join(dir, walletKeyDir), filepath.Join(dir, walletKeyDir, "keystore")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("fabric: wallet: %w", err)
		}
	}
	return secureWallet(dir)
}

// secureWallet makes every directory of the wallet 0700 and every file
// 0600: the SDK creates its key store directory 0755.
func secureWallet(dir string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if d.IsDir() {
			mode = 0o700
		}
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("fabric: wallet permissions: %w", err)
		}
		return nil
	})
}

// withOverlay points the profile's credential and key stores at the
// wallet, whatever the profile says, so identities live with the gateway's
// data, and sets the network timeouts.
func withOverlay(p core.ConfigProvider, cfg config) core.ConfigProvider {
	overlay := configOverlay{
		"client.credentialstore.path":                  filepath.Join(cfg.walletDir, walletCertDir),
		"client.credentialstore.cryptostore.path":      filepath.Join(cfg.walletDir, walletKeyDir),
		"client.peer.timeout.connection":               cfg.dialTimeout,
		"client.orderer.timeout.connection":            cfg.dialTimeout,
		"client.discovery.timeout.connection":          cfg.dialTimeout,
		"client.peer.timeout.discovery.greylistexpiry": cfg.greylist,
	}
	return func() ([]core.ConfigBackend, error) {
		backends, err := p()
		if err != nil {
			return nil, err
		}
		return append([]core.ConfigBackend{overlay}, backends...), nil
	}
}

// configOverlay answers some configuration keys before the profile does.
type configOverlay map[string]any

func (o configOverlay) Lookup(key string) (any, bool) {
	v, ok := o[strings.ToLower(key)]
	return v, ok
}

// errClosed ends streams of a closed backend.
var errClosed = errors.New("fabric: backend closed")
