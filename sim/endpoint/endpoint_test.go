package endpoint_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

var _ = Describe("Close", func() {
	// A network on package time: the conn does not push datagrams, so the
	// endpoint reads them on a goroutine of its own, which Close must end and
	// wait for (the suite's leak guard checks that none is left).
	readingEndpoint := func() *endpoint.Endpoint {
		n := sim.NewNetwork(sim.Config{Carrier: sim.Memory})
		DeferCleanup(n.Close)
		return endpoint.New(listen(n, "uac", uacAddr), endpoint.Config{IDs: endpoint.NewIDs(1, "uac")})
	}

	DescribeTable("is idempotent and waits for the read goroutine, whichever handlers Serve got",
		func(serve bool, h endpoint.Handler) {
			ep := readingEndpoint()
			if serve {
				ep.Serve(h)
			}
			Expect(ep.Close()).To(Succeed())
			Expect(ep.Close()).To(Succeed())
		},
		Entry("only Discard", true, endpoint.Handler{Discard: func(string, netip.AddrPort) {}}),
		Entry("only Request", true, endpoint.Handler{Request: func(*sip.Request, *endpoint.ServerTx) {}}),
		Entry("no handler at all", true, endpoint.Handler{}),
		Entry("never served", false, endpoint.Handler{}),
	)

	It("may be called from several goroutines at once; each call returns after the read goroutine ended", func() {
		ep := readingEndpoint()
		ep.Serve(endpoint.Handler{Discard: func(string, netip.AddrPort) {}})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _ = ep.Close() })
		}
		wg.Wait()
	})

	It("stops every transaction timer: nothing is sent or reported after it", func() {
		b := newBench(endpoint.Timers{})
		invite := b.request(newRequest(b.ep, sip.INVITE, false))
		options := b.request(newRequest(b.ep, sip.OPTIONS, false))
		fired := false
		b.ep.AfterFunc(time.Second, func() { fired = true })
		b.runTo(500 * time.Millisecond) // one retransmission of each
		sentBefore, _ := b.sent("uac", "")
		Expect(sentBefore).To(HaveLen(4))

		Expect(b.ep.Close()).To(Succeed())
		Expect(b.ep.Close()).To(Succeed())
		for b.clock.Step() {
		}
		sentAfter, _ := b.sent("uac", "")
		Expect(sentAfter).To(Equal(sentBefore))
		Expect(invite.timeouts+options.timeouts).To(BeZero(), "no Timer B or F reported after Close")
		Expect(fired).To(BeFalse(), "an AfterFunc of the endpoint does not run after Close")
		Expect(b.clock.Now()).To(Equal(t0.Add(500*time.Millisecond)), "Close stopped every timer of the endpoint: none was left to run")
	})

	It("refuses new client transactions after it", func() {
		b := newBench(endpoint.Timers{})
		Expect(b.ep.Close()).To(Succeed())
		_, err := b.ep.Request(newRequest(b.ep, sip.OPTIONS, false), peerAddr, func(*sip.Response) {})
		Expect(errors.Is(err, net.ErrClosed)).To(BeTrue(), "%v", err)
		b.runTo(time.Minute)
		Expect(b.sent("uac", "")).To(BeEmpty())
	})
})

var _ = Describe("what an endpoint throws away", func() {
	It("tells Discard of garbage, and answers 400 to a request without the headers §8.1.1 makes mandatory", func() {
		b := newBench(endpoint.Timers{})
		var reasons []string
		b.ep.Serve(endpoint.Handler{Discard: func(reason string, src netip.AddrPort) {
			Expect(src).To(Equal(peerAddr))
			reasons = append(reasons, reason)
		}})
		var got []sip.Message
		b.onPeer = func(msg sip.Message, _ netip.AddrPort) { got = append(got, msg) }
		_, err := b.peer.WriteToAddrPort([]byte("\x00\x01garbage"), uacAddr)
		Expect(err).NotTo(HaveOccurred())
		_, err = b.peer.WriteToAddrPort([]byte("OPTIONS sip:a@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n"), uacAddr)
		Expect(err).NotTo(HaveOccurred())
		_, err = b.peer.WriteToAddrPort([]byte("\r\n\r\n"), uacAddr) // a keep-alive: not thrown away, just ignored
		Expect(err).NotTo(HaveOccurred())
		b.runTo(time.Second)
		Expect(reasons).To(HaveLen(2))
		Expect(reasons[0]).To(HavePrefix("unparsable datagram of 9 bytes"))
		Expect(reasons[1]).To(ContainSubstring("answered 400"))
		Expect(got).To(HaveLen(1))
		Expect(got[0].(*sip.Response).StatusCode).To(Equal(400))
	})
})

var _ = Describe("Note", func() {
	It("records a Noted record in the capture about the datagram being handled, or about the call alone", func() {
		b := newBench(endpoint.Timers{})
		const cause sim.Cause = "spec-cause"
		b.onServe = func(req *sip.Request, _ *endpoint.ServerTx) {
			b.ep.Note(true, req.CallID().Value(), cause, "handled in a spec")
		}
		_, err := b.peer.WriteToAddrPort([]byte("ACK sip:alice@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bKn\r\n"+
			"From: <sip:bob@198.51.100.2>;tag=1\r\nTo: <sip:alice@198.51.100.1>;tag=2\r\nCall-ID: noted\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"), uacAddr)
		Expect(err).NotTo(HaveOccurred())
		b.runTo(time.Second)
		b.ep.Note(false, "noted", cause, "the call alone")

		var delivered int
		var notes []sim.Record
		for _, r := range b.net.Capture().Records() {
			switch {
			case r.Kind == sim.Delivered && r.Hop == "uac":
				delivered = r.Datagram
			case r.Kind == sim.Noted:
				notes = append(notes, r)
			}
		}
		Expect(notes).To(HaveLen(2))
		Expect(notes[0]).To(MatchFields(notes[0], "uac", delivered, "noted", cause, "handled in a spec", t0))
		Expect(notes[1]).To(MatchFields(notes[1], "uac", 0, "noted", cause, "the call alone", t0.Add(time.Second)))
	})

	It("does nothing on a connection that keeps no capture", func() {
		ep := endpoint.New(bareConn{addr: uacAddr}, endpoint.Config{})
		ep.Note(false, "x", "c", "nothing to record it in")
		Expect(ep.Close()).To(Succeed())
	})
})

// MatchFields checks the fields of a Noted record that the spec sets.
func MatchFields(_ sim.Record, hop string, datagram int, flow string, cause sim.Cause, reason string, at time.Time) OmegaMatcher {
	return And(
		HaveField("Hop", hop), HaveField("Datagram", datagram), HaveField("Flow", flow),
		HaveField("Cause", cause), HaveField("Reason", reason), HaveField("Time", at),
		HaveField("Dst", uacAddr),
	)
}

// bareConn is a Conn with no capture and nothing to read.
type bareConn struct{ addr netip.AddrPort }

func (c bareConn) ReadFrom([]byte) (int, net.Addr, error)                  { return 0, nil, net.ErrClosed }
func (c bareConn) WriteToAddrPort(p []byte, _ netip.AddrPort) (int, error) { return len(p), nil }
func (c bareConn) LocalAddrPort() netip.AddrPort                           { return c.addr }
func (c bareConn) Close() error                                            { return nil }

var _ = Describe("NewResponse", func() {
	It("draws the To tag it adds from the endpoint's IDs (§8.2.6.2), adds none to 100 and keeps one already there", func() {
		b := newBench(endpoint.Timers{})
		req := newRequest(b.ep, sip.OPTIONS, false)
		want := endpoint.NewIDs(1, "uac")
		want.Branch()
		want.Tag()
		want.CallID()
		toTag := func(res *sip.Response) string { tag, _ := res.To().Params.Get("tag"); return tag }
		res := b.ep.NewResponse(req, 200, "OK", nil)
		Expect(toTag(res)).To(Equal(want.Tag()))
		Expect(b.ep.NewResponse(req, 100, "Trying", nil).To().Params.Has("tag")).To(BeFalse())
		req.To().Params.Add("tag", "theirs")
		Expect(toTag(b.ep.NewResponse(req, 486, "Busy Here", nil))).To(Equal("theirs"))
		Expect(strings.Count(res.String(), "tag=")).To(Equal(2))
	})
})
