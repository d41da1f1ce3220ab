package endpoint_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestEndpoint(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "sim/endpoint")
}

var _ = sipnattest.GuardLeaks()

var (
	t0       = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	uacAddr  = netip.MustParseAddrPort("198.51.100.1:5060")
	peerAddr = netip.MustParseAddrPort("198.51.100.2:5060")
)

// bench is an endpoint ("uac") and a raw conn ("peer") on a memory network in
// simulated time that starts at t0. The peer hands every datagram it gets,
// parsed, to onPeer; what the endpoint's core sees is kept in requests and
// stray.
type bench struct {
	clock *sim.VirtualClock
	net   *sim.Network
	ep    *endpoint.Endpoint
	peer  *sim.Conn

	onPeer   func(msg sip.Message, src netip.AddrPort)
	requests []*sip.Request  // Handler.Request
	stray    []*sip.Response // Handler.Response: responses that matched no transaction
	onServe  func(req *sip.Request, tx *endpoint.ServerTx)
}

func newBench(timers endpoint.Timers) *bench {
	GinkgoHelper()
	b := &bench{clock: sim.NewVirtualClock(t0)}
	b.net = sim.NewNetwork(sim.Config{Clock: b.clock, Carrier: sim.Memory})
	DeferCleanup(b.net.Close)
	b.ep = endpoint.New(listen(b.net, "uac", uacAddr), endpoint.Config{Clock: b.clock, Timers: timers, IDs: endpoint.NewIDs(1, "uac")})
	DeferCleanup(b.ep.Close)
	b.ep.Serve(endpoint.Handler{
		Request: func(req *sip.Request, tx *endpoint.ServerTx) {
			b.requests = append(b.requests, req)
			if b.onServe != nil {
				b.onServe(req, tx)
			}
		},
		Response: func(res *sip.Response, _ netip.AddrPort) { b.stray = append(b.stray, res) },
	})
	b.peer = listen(b.net, "peer", peerAddr)
	b.peer.SetReceiver(func(p []byte, src netip.AddrPort) {
		msg, err := sip.ParseMessage(append([]byte(nil), p...))
		if err == nil && b.onPeer != nil {
			b.onPeer(msg, src)
		}
	})
	return b
}

func listen(n *sim.Network, name string, a netip.AddrPort) *sim.Conn {
	GinkgoHelper()
	h, err := n.AddHost(name, a.Addr())
	Expect(err).NotTo(HaveOccurred())
	c, err := h.ListenPacket(a.Port())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

// runTo runs simulated time up to the instant t0+d, the events due at it
// included.
func (b *bench) runTo(d time.Duration) {
	GinkgoHelper()
	Expect(b.clock.Now().After(t0.Add(d))).To(BeFalse(), "simulated time is past +%s already", d)
	reached := false
	b.clock.AfterFunc(t0.Add(d).Sub(b.clock.Now()), func() { reached = true })
	for !reached && b.clock.Step() {
	}
	b.clock.Settle()
}

// at schedules f at the instant t0+d.
func (b *bench) at(d time.Duration, f func()) {
	b.clock.AfterFunc(t0.Add(d).Sub(b.clock.Now()), f)
}

// peerSend writes a message from the peer to the endpoint.
func (b *bench) peerSend(msg sip.Message) {
	GinkgoHelper()
	_, err := b.peer.WriteToAddrPort([]byte(msg.String()), uacAddr)
	Expect(err).NotTo(HaveOccurred())
}

// sent returns the offsets from t0 and the texts of the datagrams host sent
// that begin with prefix, from the capture.
func (b *bench) sent(host, prefix string) ([]time.Duration, []string) {
	var at []time.Duration
	var texts []string
	for _, r := range b.net.Capture().Records() {
		if r.Kind == sim.Sent && r.Hop == host && strings.HasPrefix(string(r.Data), prefix) {
			at = append(at, r.Time.Sub(t0))
			texts = append(texts, string(r.Data))
		}
	}
	return at, texts
}

// newRequest is an out-of-dialog request from the endpoint to the peer
// (RFC 3261 §8.1.1), with a Route to the peer when route is set.
func newRequest(ep *endpoint.Endpoint, method sip.RequestMethod, route bool) *sip.Request {
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "bob", Host: peerAddr.Addr().String(), Port: int(peerAddr.Port())})
	req.AppendHeader(ep.Via(ep.IDs().Branch(), true))
	if route {
		r := sip.Uri{Scheme: "sip", Host: peerAddr.Addr().String(), UriParams: sip.NewParams()}
		r.UriParams.Add("lr", "")
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := sip.NewParams()
	from.Add("tag", ep.IDs().Tag())
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: uacAddr.Addr().String()}, Params: from})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: peerAddr.Addr().String()}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(ep.IDs().CallID())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	req.SetBody(nil)
	return req
}

// answer is the peer's response to req with To tag "peer" (none for 100).
func answer(req *sip.Request, code int) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, fmt.Sprintf("Status %d", code), nil)
	if code != 100 {
		res.To().Params.Add("tag", "peer")
	}
	return res
}

// transactionResult counts what a client transaction reported to its owner.
type transactionResult struct {
	responses []*sip.Response
	timeoutAt time.Time // zero: no timeout reported
	timeouts  int
}

// request starts a client transaction for req towards the peer.
func (b *bench) request(req *sip.Request) *transactionResult {
	GinkgoHelper()
	r := &transactionResult{}
	_, err := b.ep.Request(req, peerAddr, func(res *sip.Response) {
		if res == nil {
			r.timeouts++
			r.timeoutAt = b.clock.Now()
			return
		}
		r.responses = append(r.responses, res)
	})
	Expect(err).NotTo(HaveOccurred())
	return r
}
