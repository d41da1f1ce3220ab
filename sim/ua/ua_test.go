package ua_test

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// okSchedule is when a UAS sends the 2xx to an INVITE that is never ACKed:
// at 0, then again after T1, 2*T1 … each interval capped at T2
// (RFC 3261 §13.3.1.4), for as long as it waits for the ACK.
func okSchedule(t1, t2, wait time.Duration) []time.Duration {
	out := []time.Duration{0}
	interval := t1
	for at := t1; at < wait; at += interval {
		out = append(out, at)
		interval = min(2*interval, t2)
	}
	return out
}

var _ = Describe("the callee (RFC 3261 §13.3.1.4)", func() {
	DescribeTable("retransmits its 2xx at T1, 2*T1 … capped at T2 until its ACK timeout, then hangs up with BYE and notes why",
		func(timers endpoint.Timers, ackTimeout time.Duration) {
			t := timers.WithDefaults()
			wait := ackTimeout
			if wait == 0 {
				wait = 64 * t.T1 // the default: the span of Timer H
			}
			w := newWorld()
			w.newUA("bob", bobAddr, timers, ua.Config{AckTimeout: ackTimeout})
			w.send(peerInvite(bobAddr, "no-ack"), bobAddr)
			w.runTo(wait + 10*t.T2)

			at, _ := w.sent("bob", "SIP/2.0 200", "INVITE\r\n")
			Expect(at).To(Equal(okSchedule(t.T1, t.T2, wait)))
			byes, texts := w.sent("bob", "BYE ")
			Expect(byes).NotTo(BeEmpty())
			Expect(byes[0]).To(Equal(wait), "the BYE goes at the ACK timeout")
			Expect(texts[0]).To(HavePrefix("BYE sip:peer@198.51.100.66:5060 SIP/2.0"), "to the INVITE's Contact")
			Expect(texts[0]).To(ContainSubstring("Call-ID: no-ack"))
			Expect(w.kinds()).To(ContainElement(ua.ACKTimeout))

			Expect(w.notes()).To(ConsistOf(And(
				HaveField("Hop", "bob"), HaveField("Datagram", 0), HaveField("Flow", "no-ack"),
				HaveField("Cause", ua.CauseACKTimeout), HaveField("Time", t0.Add(wait)),
				HaveField("Reason", "no ACK for the 2xx within "+wait.String()+": hanging up"),
			)))
		},
		Entry("T1 500ms, T2 4s: 10 retransmissions, BYE at 64*T1 = 32s", endpoint.Timers{}, time.Duration(0)),
		Entry("T1 200ms, T2 1s: BYE at 64*T1 = 12.8s", endpoint.Timers{T1: 200 * time.Millisecond, T2: time.Second}, time.Duration(0)),
		Entry("an ACK timeout of 10s", endpoint.Timers{}, 10*time.Second),
	)

	It("stops retransmitting when the ACK comes, and does not hang up", func() {
		w := newWorld()
		w.newUA("bob", bobAddr, endpoint.Timers{}, ua.Config{})
		oks := 0
		w.onPeer = func(msg sip.Message, _ netip.AddrPort) {
			if res, ok := msg.(*sip.Response); ok && res.StatusCode == 200 {
				if oks++; oks == 2 {
					w.send(peerACK(bobAddr, res), bobAddr) // the ACK for the first 2xx was "lost"
				}
			}
		}
		w.send(peerInvite(bobAddr, "acked"), bobAddr)
		w.runTo(100 * time.Second)
		at, _ := w.sent("bob", "SIP/2.0 200", "INVITE\r\n")
		Expect(at).To(Equal([]time.Duration{0, 500 * time.Millisecond}))
		Expect(w.sent("bob", "BYE ")).To(BeEmpty())
		Expect(w.kinds()).To(ContainElement(ua.ACKReceived))
		Expect(w.kinds()).NotTo(ContainElement(ua.ACKTimeout))
		Expect(w.notes()).To(BeEmpty())
	})
})

var _ = Describe("the caller (RFC 3261 §13.2.2.4)", func() {
	It("ACKs the 2xx and sends the same ACK again for each retransmitted 2xx", func() {
		w := newWorld()
		alice := w.newUA("alice", aliceAddr, endpoint.Timers{}, ua.Config{})
		var invite *sip.Request
		var ok *sip.Response
		w.onPeer = func(msg sip.Message, _ netip.AddrPort) {
			req, isReq := msg.(*sip.Request)
			if !isReq || !req.IsInvite() || ok != nil {
				return
			}
			invite = req
			ok = sip.NewResponseFromRequest(req, 200, "OK", nil)
			ok.To().Params.Add("tag", "peer")
			ok.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "peer", Host: peerAddr.Addr().String(), Port: int(peerAddr.Port())}})
			w.send(ok.String(), aliceAddr)
			// The peer's own 2xx retransmissions, as if its first ACK were lost.
			w.at(500*time.Millisecond, func() { w.send(ok.String(), aliceAddr) })
			w.at(1500*time.Millisecond, func() { w.send(ok.String(), aliceAddr) })
		}
		callID, _, err := alice.Dial(sip.Uri{Scheme: "sip", User: "peer", Host: peerAddr.Addr().String(), Port: int(peerAddr.Port())}, netip.AddrPort{}, time.Hour)
		Expect(err).NotTo(HaveOccurred())
		w.runTo(10 * time.Second)

		Expect(alice.Established(callID)).To(BeTrue())
		at, acks := w.sent("alice", "ACK ")
		Expect(at).To(Equal([]time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond}))
		Expect(acks[1]).To(Equal(acks[0]))
		Expect(acks[2]).To(Equal(acks[0]))

		msg, err := sip.ParseMessage([]byte(acks[0]))
		Expect(err).NotTo(HaveOccurred())
		ack := msg.(*sip.Request)
		Expect(ack.Recipient.String()).To(Equal("sip:peer@198.51.100.66:5060"), "the 2xx's Contact (§12.2.1.1)")
		Expect(ack.CSeq().Value()).To(Equal("1 ACK"), "the INVITE's CSeq number")
		toTag, _ := ack.To().Params.Get("tag")
		Expect(toTag).To(Equal("peer"))
		Expect(ack.CallID().Value()).To(Equal(callID))
		inBranch, _ := invite.Via().Params.Get("branch")
		ackBranch, _ := ack.Via().Params.Get("branch")
		Expect(ackBranch).To(HavePrefix("z9hG4bK"))
		Expect(ackBranch).NotTo(Equal(inBranch), "the ACK for a 2xx is a transaction of its own (§17.1.1.3)")
	})
})

var _ = Describe("Close", func() {
	It("is idempotent, stops every timer and sends nothing afterwards", func() {
		w := newWorld()
		bob := w.newUA("bob", bobAddr, endpoint.Timers{}, ua.Config{})
		w.send(peerInvite(bobAddr, "closed"), bobAddr)
		w.runTo(time.Second) // 2xx at 0 and 0.5 s; retransmission and ACK timeout pending
		before := w.net.Capture().Len()
		Expect(bob.Close()).To(Succeed())
		Expect(bob.Close()).To(Succeed())
		Expect(w.clock.Pending()).To(BeZero(), "no timer of bob's is left")
		w.send(peerInvite(bobAddr, "after-close"), bobAddr)
		w.runTo(time.Minute)
		for _, r := range w.net.Capture().Records()[before:] {
			if r.Hop == "bob" {
				// What reaches a closed host dies there (port-unreachable); it sends and notes nothing.
				Expect(r.Kind).To(Equal(sim.Dropped), "%s record at bob after Close", r.Kind)
				Expect(r.Cause).To(Equal(sim.CausePortUnreachable))
			}
		}
		Expect(w.kinds()).NotTo(ContainElement(ua.ACKTimeout))
	})
})

var _ = Describe("an ended dialog", func() {
	It("still answers what comes late: a new INVITE with its Call-ID 491, a BYE 200, the first late ACK reported once", func() {
		w := newWorld()
		bob := w.newUA("bob", bobAddr, endpoint.Timers{}, ua.Config{})
		var ok *sip.Response
		w.onPeer = func(msg sip.Message, _ netip.AddrPort) {
			switch m := msg.(type) {
			case *sip.Response:
				if m.StatusCode == 200 && ok == nil {
					ok = m
				}
			case *sip.Request:
				if m.Method == sip.BYE { // bob gave up waiting for the ACK: answered
					w.send(sip.NewResponseFromRequest(m, 200, "OK", nil).String(), bobAddr)
				}
			}
		}
		w.send(peerInvite(bobAddr, "late"), bobAddr)
		w.runTo(40 * time.Second) // the ACK timeout at 32 s, the BYE answered
		Expect(w.kinds()).To(ContainElement(ua.CallEnded))
		Expect(w.kinds()).NotTo(ContainElement(ua.ACKReceived))

		w.at(41*time.Second, func() { w.send(peerACK(bobAddr, ok), bobAddr) })
		w.at(42*time.Second, func() { w.send(peerACK(bobAddr, ok), bobAddr) })
		w.at(43*time.Second, func() {
			w.send(strings.Replace(peerInvite(bobAddr, "late"), "branch=z9hG4bKlate", "branch=z9hG4bKlate2", 1), bobAddr)
		})
		bye := func(callID string) string {
			return fmt.Sprintf("BYE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKbye%s;rport\r\nMax-Forwards: 70\r\n"+
				"From: <sip:peer@%s>;tag=peer1\r\nTo: <sip:bob@%s>;tag=x\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
				bobAddr, peerAddr, callID, peerAddr.Addr(), bobAddr.Addr(), callID)
		}
		w.at(44*time.Second, func() { w.send(bye("late"), bobAddr) })
		w.at(45*time.Second, func() { w.send(bye("never"), bobAddr) })
		w.runTo(50 * time.Second)

		acks := 0
		for _, k := range w.kinds() {
			if k == ua.ACKReceived {
				acks++
			}
		}
		Expect(acks).To(Equal(1), "the first late ACK is reported, its repetition not")
		at := func(prefix string, also ...string) []time.Duration {
			t, _ := w.sent("bob", prefix, also...)
			return t
		}
		Expect(at("SIP/2.0 491")).To(HaveExactElements(43*time.Second, 43500*time.Millisecond, 44500*time.Millisecond, 46500*time.Millisecond),
			"a non-2xx final to INVITE, never ACKed here: Timer G")
		Expect(at("SIP/2.0 200", "Call-ID: late", "2 BYE")).To(Equal([]time.Duration{44 * time.Second}))
		Expect(at("SIP/2.0 481", "Call-ID: never")).To(Equal([]time.Duration{45 * time.Second}))
		Expect(bob.Established("late")).To(BeTrue())
		Expect(bob.Done("late")).To(BeClosed())
		Expect(bob.Done("never")).To(BeNil())
		Expect(bob.Dialogs()).To(Equal([]string{"late"}))
	})
})
