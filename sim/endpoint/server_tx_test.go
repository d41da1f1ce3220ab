package endpoint_test

import (
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
		Expect(got).To(HaveLen(2))
		Expect(got[1]).To(Equal(got[0]))
		Expect(b.requests).To(HaveLen(1), "neither the retransmission nor the ACK reach the core")
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
})
