package endpoint_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

var _ = Describe("a server transaction (RFC 3261 §17.2)", func() {
	var (
		b   *bench
		got []string // what the peer received
	)
	BeforeEach(func() {
		b = newBench(endpoint.Timers{})
		got = nil
		b.onPeer = func(msg sip.Message, _ netip.AddrPort) { got = append(got, msg.String()) }
	})

	// fromPeer is a request of the peer's to the endpoint.
	fromPeer := func(method sip.RequestMethod, branch string) *sip.Request {
		req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "alice", Host: uacAddr.Addr().String()})
		via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
			Host: peerAddr.Addr().String(), Port: int(peerAddr.Port()), Params: sip.NewParams()}
		via.Params.Add("branch", branch)
		req.AppendHeader(via)
		from := sip.NewParams()
		from.Add("tag", "p1")
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: peerAddr.Addr().String()}, Params: from})
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: uacAddr.Addr().String()}, Params: sip.NewParams()})
		cid := sip.CallIDHeader("server-" + branch)
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
		req.SetBody(nil)
		return req
	}

	It("answers a retransmitted request with its last response and does not pass it up again (§17.2.2)", func() {
		b.onServe = func(req *sip.Request, tx *endpoint.ServerTx) {
			Expect(tx.Respond(b.ep.NewResponse(req, 200, "OK", nil))).To(Succeed())
		}
		req := fromPeer(sip.OPTIONS, "z9hG4bKopt")
		b.peerSend(req)
		b.at(time.Second, func() { b.peerSend(req) })
		b.runTo(2 * time.Second)
		Expect(b.requests).To(HaveLen(1))
		Expect(got).To(HaveLen(2))
		Expect(got[1]).To(Equal(got[0]), "the same response, To tag included")
	})

	It("re-sends a non-2xx final to a retransmitted INVITE and absorbs the ACK for it (§17.2.1)", func() {
		b.onServe = func(req *sip.Request, tx *endpoint.ServerTx) {
			if req.IsInvite() {
				Expect(tx.Respond(b.ep.NewResponse(req, 486, "Busy Here", nil))).To(Succeed())
			}
		}
		invite := fromPeer(sip.INVITE, "z9hG4bKinv")
		b.peerSend(invite)
		b.at(500*time.Millisecond, func() { b.peerSend(invite) })
		b.at(time.Second, func() { b.peerSend(fromPeer(sip.ACK, "z9hG4bKinv")) })
		b.runTo(2 * time.Second)
		Expect(got).To(HaveLen(3), "the first, Timer G's at 0.5 s and the one for the retransmitted INVITE; none after the ACK")
		Expect(got[1]).To(Equal(got[0]))
		Expect(got[2]).To(Equal(got[0]))
		Expect(b.requests).To(HaveLen(1), "neither the retransmission nor the ACK reach the core")
	})

	busy := func(req *sip.Request, tx *endpoint.ServerTx) {
		if req.IsInvite() {
			Expect(tx.Respond(b.ep.NewResponse(req, 486, "Busy Here", nil))).To(Succeed())
		}
	}

	It("retransmits a non-2xx final to INVITE on Timer G, T1 doubling up to T2, until Timer H ends it at 64*T1 (§17.2.1)", func() {
		b.onServe = busy
		b.peerSend(fromPeer(sip.INVITE, "z9hG4bKg"))
		b.runTo(40 * time.Second)
		at, texts := b.sent("uac", "SIP/2.0 486")
		// 0, then every 0.5 s doubling to T2 = 4 s: 0.5 1 2 4, then 4 s steps, the last
		// before Timer H at 32 s (RFC 3261 Figure 7).
		want := []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond,
			7500 * time.Millisecond, 11500 * time.Millisecond, 15500 * time.Millisecond, 19500 * time.Millisecond,
			23500 * time.Millisecond, 27500 * time.Millisecond, 31500 * time.Millisecond}
		Expect(at).To(Equal(want))
		for _, t := range texts[1:] {
			Expect(t).To(Equal(texts[0]), "the same response each time, To tag included")
		}
	})

	It("stops Timer G when the ACK comes and absorbs the ACK's retransmissions (§17.2.1, Confirmed)", func() {
		b.onServe = busy
		b.peerSend(fromPeer(sip.INVITE, "z9hG4bKgack"))
		b.at(1200*time.Millisecond, func() { b.peerSend(fromPeer(sip.ACK, "z9hG4bKgack")) })
		b.at(5*time.Second, func() { b.peerSend(fromPeer(sip.ACK, "z9hG4bKgack")) })
		b.runTo(40 * time.Second)
		at, _ := b.sent("uac", "SIP/2.0 486")
		Expect(at).To(Equal([]time.Duration{0, 500 * time.Millisecond}), "the first and Timer G's one retransmission before the ACK at 1.2 s")
		Expect(b.requests).To(HaveLen(1), "no ACK reaches the core")
	})

	It("does not retransmit a final response to a non-INVITE on its own (§17.2.2)", func() {
		b.onServe = func(req *sip.Request, tx *endpoint.ServerTx) {
			Expect(tx.Respond(b.ep.NewResponse(req, 404, "Not Found", nil))).To(Succeed())
		}
		b.peerSend(fromPeer(sip.OPTIONS, "z9hG4bKnoninv"))
		b.runTo(40 * time.Second)
		at, _ := b.sent("uac", "SIP/2.0 404")
		Expect(at).To(Equal([]time.Duration{0}))
	})

	It("leaves retransmitting a 2xx to INVITE to the UA core (§13.3.1.4), and passes the ACK for it up", func() {
		b.onServe = func(req *sip.Request, tx *endpoint.ServerTx) {
			if req.IsInvite() {
				Expect(tx.Respond(b.ep.NewResponse(req, 200, "OK", nil))).To(Succeed())
			}
		}
		invite := fromPeer(sip.INVITE, "z9hG4bKok")
		b.peerSend(invite)
		b.at(500*time.Millisecond, func() { b.peerSend(invite) })
		b.at(time.Second, func() { b.peerSend(fromPeer(sip.ACK, "z9hG4bKack")) })
		b.runTo(2 * time.Second)
		Expect(got).To(HaveLen(1))
		Expect(b.requests).To(HaveLen(2))
		Expect(b.requests[1].Method).To(Equal(sip.ACK))
	})

	It("ends each of many lingering transactions 64*T1 after its own final response, not before, not after (Timer J)", func() {
		b.onServe = func(req *sip.Request, tx *endpoint.ServerTx) {
			Expect(tx.Respond(b.ep.NewResponse(req, 200, "OK", nil))).To(Succeed())
		}
		// Answered at 0, 0, 1 ms, 1.5 s and 40 s (after the first ones ended): a retransmission
		// 1 ms before a transaction's end gets its response again, one 1 ms after is new.
		starts := []time.Duration{0, 0, time.Millisecond, 1500 * time.Millisecond, 40 * time.Second}
		const linger = 64 * 500 * time.Millisecond
		for i, start := range starts {
			req := fromPeer(sip.OPTIONS, fmt.Sprintf("z9hG4bKlinger%d", i))
			b.at(start, func() { b.peerSend(req) })
			b.at(start+linger-time.Millisecond, func() { b.peerSend(req) })
			b.at(start+linger+time.Millisecond, func() { b.peerSend(req) })
		}
		b.runTo(40*time.Second + 2*linger)
		Expect(b.requests).To(HaveLen(2*len(starts)), "each request once when it came, once after its transaction ended")
		Expect(got).To(HaveLen(3*len(starts)), "the retransmission before the end answered again by the transaction")
	})
})
