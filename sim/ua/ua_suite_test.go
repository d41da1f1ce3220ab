package ua_test

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
	"github.com/sipnatlab/sipnatlab/sim/ua"
	"github.com/sipnatlab/sipnatlab/sipnattest"
)

func TestUA(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "sim/ua")
}

var _ = sipnattest.GuardLeaks()

var (
	t0        = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	aliceAddr = netip.MustParseAddrPort("198.51.100.10:5060")
	bobAddr   = netip.MustParseAddrPort("198.51.100.20:5060")
	peerAddr  = netip.MustParseAddrPort("198.51.100.66:5060")
)

// world is a memory network in simulated time from t0 with a raw conn,
// "peer", that plays the other side of a UA under test: it hands every
// datagram it gets, parsed, to onPeer.
type world struct {
	clock  *sim.VirtualClock
	net    *sim.Network
	peer   *sim.Conn
	onPeer func(msg sip.Message, src netip.AddrPort)
	events []ua.Event
}

func newWorld() *world {
	GinkgoHelper()
	w := &world{clock: sim.NewVirtualClock(t0)}
	w.net = sim.NewNetwork(sim.Config{Clock: w.clock, Carrier: sim.Memory})
	DeferCleanup(w.net.Close)
	w.peer = w.listen("peer", peerAddr)
	w.peer.SetReceiver(func(p []byte, src netip.AddrPort) {
		msg, err := sip.ParseMessage(append([]byte(nil), p...))
		if err == nil && w.onPeer != nil {
			w.onPeer(msg, src)
		}
	})
	return w
}

func (w *world) listen(name string, a netip.AddrPort) *sim.Conn {
	GinkgoHelper()
	h, err := w.net.AddHost(name, a.Addr())
	Expect(err).NotTo(HaveOccurred())
	c, err := h.ListenPacket(a.Port())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

// newUA starts a UA named name at a with the run's timers; Close is
// registered as cleanup.
func (w *world) newUA(name string, a netip.AddrPort, timers endpoint.Timers, cfg ua.Config) *ua.UA {
	GinkgoHelper()
	ep := endpoint.New(w.listen(name, a), endpoint.Config{Clock: w.clock, Timers: timers, IDs: endpoint.NewIDs(1, name)})
	cfg.Name = name
	cfg.Observe = func(e ua.Event) { w.events = append(w.events, e) }
	u := ua.New(ep, cfg)
	DeferCleanup(u.Close)
	return u
}

// runTo runs simulated time up to the instant t0+d, the events due at it
// included.
func (w *world) runTo(d time.Duration) {
	GinkgoHelper()
	Expect(w.clock.Now().After(t0.Add(d))).To(BeFalse(), "simulated time is past +%s already", d)
	reached := false
	w.clock.AfterFunc(t0.Add(d).Sub(w.clock.Now()), func() { reached = true })
	for !reached && w.clock.Step() {
	}
	w.clock.Settle()
}

// at schedules f at the instant t0+d.
func (w *world) at(d time.Duration, f func()) {
	w.clock.AfterFunc(t0.Add(d).Sub(w.clock.Now()), f)
}

// send writes raw text from the peer to dst.
func (w *world) send(text string, dst netip.AddrPort) {
	GinkgoHelper()
	_, err := w.peer.WriteToAddrPort([]byte(text), dst)
	Expect(err).NotTo(HaveOccurred())
}

// sent returns the offsets from t0 and the texts of the datagrams host sent
// that begin with prefix (and contain every string of also), from the
// capture.
func (w *world) sent(host, prefix string, also ...string) ([]time.Duration, []string) {
	var at []time.Duration
	var texts []string
next:
	for _, r := range w.net.Capture().Records() {
		if r.Kind != sim.Sent || r.Hop != host || !strings.HasPrefix(string(r.Data), prefix) {
			continue
		}
		for _, s := range also {
			if !strings.Contains(string(r.Data), s) {
				continue next
			}
		}
		at = append(at, r.Time.Sub(t0))
		texts = append(texts, string(r.Data))
	}
	return at, texts
}

// notes returns the capture's Noted records.
func (w *world) notes() []sim.Record {
	var out []sim.Record
	for _, r := range w.net.Capture().Records() {
		if r.Kind == sim.Noted {
			out = append(out, r)
		}
	}
	return out
}

// kinds returns the kinds of the events the UAs reported, in order.
func (w *world) kinds() []ua.EventKind {
	var out []ua.EventKind
	for _, e := range w.events {
		out = append(out, e.Kind)
	}
	return out
}

// peerInvite is an INVITE from the peer to the UA at to, with the peer as
// Contact.
func peerInvite(to netip.AddrPort, callID string) string {
	return fmt.Sprintf("INVITE sip:bob@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:peer@%s>;tag=peer1\r\nTo: <sip:bob@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:peer@%s>\r\nContent-Length: 0\r\n\r\n",
		to, peerAddr, callID, peerAddr.Addr(), to.Addr(), callID, peerAddr)
}

// peerACK is the peer's ACK for the 2xx res of the UA at to.
func peerACK(to netip.AddrPort, res *sip.Response) string {
	tag, _ := res.To().Params.Get("tag")
	return fmt.Sprintf("ACK sip:bob@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bKack;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:peer@%s>;tag=peer1\r\nTo: <sip:bob@%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\n"+
		"Content-Length: 0\r\n\r\n",
		to, peerAddr, peerAddr.Addr(), to.Addr(), tag, res.CallID().Value())
}
