package proxy_test

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// world is a proxy, a UA and a prober host on a simulated network in
// simulated time: the prober sends raw datagrams and collects what comes back.
type world struct {
	clock  *sim.VirtualClock
	net    *sim.Network
	proxy  *proxy.Proxy
	ua     *ua.UA
	prober *sim.Conn
	got    []string // datagrams the prober received
	events []string
}

var (
	proxyAddr  = netip.MustParseAddrPort("203.0.113.2:5060")
	uaAddr     = netip.MustParseAddrPort("198.51.100.10:5060")
	proberAddr = netip.MustParseAddrPort("198.51.100.66:5060")
)

func newWorld(handling proxy.Handling) (*world, error) { return newSeededWorld(handling, 1) }

// newSeededWorld is newWorld with the actors' identifiers drawn from seed.
func newSeededWorld(handling proxy.Handling, seed uint64) (*world, error) {
	w := &world{clock: sim.NewVirtualClock(time.Unix(1e9, 0))}
	w.net = sim.NewNetwork(sim.Config{Clock: w.clock, Carrier: sim.Memory})
	open := func(name string, a netip.AddrPort) (*sim.Conn, error) {
		h, err := w.net.AddHost(name, a.Addr())
		if err != nil {
			return nil, err
		}
		return h.ListenPacket(a.Port())
	}
	timers := endpoint.Timers{}
	pc, err := open("proxy", proxyAddr)
	if err != nil {
		return nil, err
	}
	w.proxy = proxy.New(endpoint.New(pc, endpoint.Config{Clock: w.clock, Timers: timers, IDs: endpoint.NewIDs(seed, "proxy")}), proxy.Config{Name: "proxy", Registrar: true, Handling: handling,
		Observe: func(e proxy.Event) { w.events = append(w.events, e.Kind+": "+e.Detail) }})
	uc, err := open("ua", uaAddr)
	if err != nil {
		return nil, err
	}
	w.ua = ua.New(endpoint.New(uc, endpoint.Config{Clock: w.clock, Timers: timers, IDs: endpoint.NewIDs(seed, "ua")}), ua.Config{Name: "bob",
		Observe: func(e ua.Event) { w.events = append(w.events, string(e.Kind)+": "+e.Detail) }})
	if w.prober, err = open("prober", proberAddr); err != nil {
		return nil, err
	}
	w.prober.SetReceiver(func(p []byte, _ netip.AddrPort) { w.got = append(w.got, string(p)) })
	return w, nil
}

// settle runs simulated time until nothing is pending, at most n events.
func (w *world) settle(n int) {
	for i := 0; i < n && w.clock.Step(); i++ {
	}
}

func (w *world) close() {
	_ = w.proxy.Close()
	_ = w.ua.Close()
	_ = w.net.Close()
}

func options(to netip.AddrPort, branch string) []byte {
	return []byte(fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:prober@%s>;tag=p1\r\nTo: <sip:%s>\r\nCall-ID: probe-%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		to, proberAddr, proberAddr.Addr(), to, branch, branch))
}

// alive reports whether both actors still answer OPTIONS with 200.
func (w *world) alive() error {
	w.got = nil
	for i, to := range []netip.AddrPort{proxyAddr, uaAddr} {
		if _, err := w.prober.WriteToAddrPort(options(to, fmt.Sprintf("alive%d", i)), to); err != nil {
			return err
		}
	}
	w.settle(1000)
	ok := 0
	for _, g := range w.got {
		if strings.HasPrefix(g, "SIP/2.0 200") && strings.Contains(g, "probe-alive") {
			ok++
		}
	}
	if ok != 2 {
		return fmt.Errorf("%d of 2 actors answered OPTIONS after the input; got %q", ok, w.got)
	}
	return nil
}
