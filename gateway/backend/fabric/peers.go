package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/client"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/deliverclient"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/deliverclient/seek"
)

// Peers commit each block on their own schedule: the commit event Submit
// waits for comes from one peer, and the other may still be a few
// milliseconds behind. A transaction endorsed by the lagging peer right
// after would read the state before the write (an agency's Claim right after
// its RecordService answers NO_SERVICE_RECORD). So the backend follows every
// channel peer's committed height with a filtered-block stream of its own,
// and Submit returns only when every followed peer has the block: the next
// request, endorsed or evaluated anywhere, sees the write.

// maxPeerLag bounds how long Submit waits for the other peers after its
// commit event; a peer that takes longer is treated as lagging, not as a
// failure of the transaction (the receipt stands).
const maxPeerLag = 2 * time.Second

// peerHeights is the committed height of each followed peer.
type peerHeights struct {
	mu      sync.Mutex
	heights map[string]uint64 // by peer URL without scheme
	live    map[string]bool   // the peer's stream is connected
	changed chan struct{}     // closed and replaced on every change
}

func newPeerHeights() *peerHeights {
	return &peerHeights{heights: map[string]uint64{}, live: map[string]bool{}, changed: make(chan struct{})}
}

func (p *peerHeights) set(peer string, height uint64, live bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if height > p.heights[peer] {
		p.heights[peer] = height
	}
	p.live[peer] = live
	close(p.changed)
	p.changed = make(chan struct{})
}

// lagging lists the live peers below height, and the channel that closes
// at the next change.
func (p *peerHeights) lagging(height uint64) ([]string, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var behind []string
	for peer, live := range p.live {
		if live && p.heights[peer] < height {
			behind = append(behind, peer)
		}
	}
	return behind, p.changed
}

// waitFor blocks until every live peer has committed height blocks, ctx
// ends or maxWait passes; it returns the peers still behind.
func (p *peerHeights) waitFor(ctx context.Context, height uint64, maxWait time.Duration) []string {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		behind, changed := p.lagging(height)
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return behind
		case <-ctx.Done():
			return behind
		}
	}
}

// waitLive waits until n peers are followed live, ctx ends or maxWait
// passes, and reports how many are.
func (p *peerHeights) waitLive(ctx context.Context, n int, maxWait time.Duration) int {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		p.mu.Lock()
		live, changed := 0, p.changed
		for _, l := range p.live {
			if l {
				live++
			}
		}
		p.mu.Unlock()
		if live >= n {
			return live
		}
		select {
		case <-changed:
		case <-timer.C:
			return live
		case <-ctx.Done():
			return live
		}
	}
}

func trimScheme(url string) string {
	for _, s := range []string{"grpcs://", "grpc://"} {
		url = strings.TrimPrefix(url, s)
	}
	return url
}

// onePeer narrows a discovery service to one peer, so that a deliver
// client connects to exactly that peer.
type onePeer struct {
	inner fab.DiscoveryService
	url   string
}

func (o onePeer) GetPeers() ([]fab.Peer, error) {
	peers, err := o.inner.GetPeers()
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		if trimScheme(p.URL()) == o.url {
			return []fab.Peer{p}, nil
		}
	}
	return nil, fmt.Errorf("peer %s is not among the discovered peers", o.url)
}

// followPeers starts one follower per channel peer of the profile and
// returns how many peers there are.
func (b *Backend) followPeers() (int, error) {
	sdkCtx, err := b.sdk.Context()()
	if err != nil {
		return 0, fmt.Errorf("fabric: sdk context: %w", err)
	}
	peers := sdkCtx.EndpointConfig().ChannelPeers(b.cfg.channel)
	if len(peers) == 0 {
		return 0, fmt.Errorf("fabric: the profile lists no peer for channel %s", b.cfg.channel)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-b.closed
		cancel()
	}()
	names := map[string]string{} // URL without scheme → the profile's peer name
	for name, pc := range sdkCtx.EndpointConfig().NetworkConfig().Peers {
		names[trimScheme(pc.URL)] = name
	}
	for _, p := range peers {
		url := trimScheme(p.URL)
		name, ok := names[url]
		if !ok {
			name = url
		}
		b.streams.Add(1)
		go func() {
			defer b.streams.Done()
			b.followPeer(ctx, name, url)
		}()
	}
	return len(peers), nil
}

// followPeer keeps a filtered-block stream to one peer, reconnecting with
// backoff until ctx ends.
func (b *Backend) followPeer(ctx context.Context, name, url string) {
	wait := reconnectMin
	for {
		err := b.followPeerOnce(ctx, name, url)
		b.heights.set(url, 0, false)
		if ctx.Err() != nil {
			return
		}
		b.log.Debug("fabric peer follower reconnecting", "peer", name, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		wait = min(wait*2, reconnectMax)
	}
}

func (b *Backend) followPeerOnce(ctx context.Context, name, url string) error {
	info, err := b.ledger.QueryInfo(ledger.WithTargetEndpoints(name), ledger.WithParentContext(ctx))
	if err != nil {
		return fmt.Errorf("height: %w", err)
	}
	if info.BCI == nil {
		return errors.New("height: empty answer")
	}
	chCtx, err := b.serviceChCtx()
	if err != nil {
		return err
	}
	chCfg, err := chCtx.ChannelService().ChannelConfig()
	if err != nil {
		return err
	}
	discovery, err := chCtx.ChannelService().Discovery()
	if err != nil {
		return err
	}
	ec, err := deliverclient.New(chCtx, chCfg, onePeer{inner: discovery, url: url},
		deliverclient.WithSeekType(seek.FromBlock),
		deliverclient.WithBlockNum(info.BCI.Height),
		client.WithReconnect(false),
		client.WithMaxConnectAttempts(1),
	)
	if err != nil {
		return err
	}
	defer ec.Close()
	if err := ec.Connect(); err != nil {
		return err
	}
	reg, events, err := ec.RegisterFilteredBlockEvent()
	if err != nil {
		return err
	}
	defer ec.Unregister(reg)
	// Live only once the stream is up: blocks committed from here on reach us.
	b.heights.set(url, info.BCI.Height, true)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return errors.New("stream closed")
			}
			if ev.FilteredBlock != nil {
				b.heights.set(url, ev.FilteredBlock.Number+1, true)
			}
		}
	}
}
