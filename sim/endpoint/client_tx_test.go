package endpoint_test

import (
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// The schedules below are RFC 3261's formulas, written out independently of
// the transaction code.

// inviteSchedule is when an unanswered INVITE goes out over UDP: at 0, then
// Timer A fires after T1, 2*T1, 4*T1 … (RFC 3261 §17.1.1.2), until Timer B
// ends the transaction at 64*T1.
func inviteSchedule(t1 time.Duration) []time.Duration {
	out := []time.Duration{0}
	for interval, at := t1, t1; at < 64*t1; interval, at = 2*interval, at+2*interval {
		out = append(out, at)
	}
	return out
}

// nonInviteSchedule is when an unanswered non-INVITE request goes out over
// UDP: at 0, then Timer E fires after T1, 2*T1 … each interval capped at T2
// (RFC 3261 §17.1.2.2), until Timer F ends the transaction at 64*T1.
func nonInviteSchedule(t1, t2 time.Duration) []time.Duration {
	out := []time.Duration{0}
	interval := t1
	for at := t1; at < 64*t1; at += interval {
		out = append(out, at)
		interval = min(2*interval, t2)
	}
	return out
}

// proceedingSchedule is when a non-INVITE request answered by a provisional
// right away goes out: at 0, at T1 when the pending Timer E fires, and then
// every T2 (RFC 3261 §17.1.2.2, Proceeding state), until Timer F at 64*T1.
func proceedingSchedule(t1, t2 time.Duration) []time.Duration {
	out := []time.Duration{0}
	for at := t1; at < 64*t1; at += t2 {
		out = append(out, at)
	}
	return out
}

var _ = Describe("an INVITE client transaction (RFC 3261 §17.1.1)", func() {
	DescribeTable("unanswered, it retransmits at T1, 2*T1, 4*T1 … (Timer A) and times out at 64*T1 (Timer B)",
		func(timers endpoint.Timers, want []time.Duration) {
			b := newBench(timers)
			t1 := timers.WithDefaults().T1
			r := b.request(newRequest(b.ep, sip.INVITE, false))
			b.runTo(200 * t1)
			at, _ := b.sent("uac", "INVITE ")
			Expect(at).To(Equal(want))
			Expect(r.timeouts).To(Equal(1))
			Expect(r.timeoutAt).To(Equal(t0.Add(64 * t1)))
			Expect(r.responses).To(BeEmpty())
		},
		Entry("T1 500ms (the default): 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; Timer B at 32 s",
			endpoint.Timers{}, inviteSchedule(500*time.Millisecond)),
		Entry("T1 100ms", endpoint.Timers{T1: 100 * time.Millisecond}, inviteSchedule(100*time.Millisecond)),
		Entry("T1 1s, T2 2s (T2 does not cap Timer A)", endpoint.Timers{T1: time.Second, T2: 2 * time.Second}, inviteSchedule(time.Second)),
	)

	It("writes the default schedule out as RFC 3261 Figure 5 gives it", func() {
		ms := func(v ...int) (out []time.Duration) {
			for _, x := range v {
				out = append(out, time.Duration(x)*time.Millisecond)
			}
			return out
		}
		Expect(inviteSchedule(500 * time.Millisecond)).To(Equal(ms(0, 500, 1500, 3500, 7500, 15500, 31500)))
		Expect(nonInviteSchedule(500*time.Millisecond, 4*time.Second)).To(Equal(ms(0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500)))
	})

	It("stops retransmitting on a provisional response, and Timer B no longer ends it (Proceeding)", func() {
		b := newBench(endpoint.Timers{})
		var invite *sip.Request
		b.onPeer = func(msg sip.Message, _ netip.AddrPort) {
			if req, ok := msg.(*sip.Request); ok && req.IsInvite() && invite == nil {
				invite = req
				b.peerSend(answer(req, 180))
			}
		}
		r := b.request(newRequest(b.ep, sip.INVITE, false))
		b.runTo(100 * time.Second)
		at, _ := b.sent("uac", "INVITE ")
		Expect(at).To(Equal([]time.Duration{0}))
		Expect(r.timeouts).To(BeZero(), "Timer B does not fire in Proceeding")
		b.peerSend(answer(invite, 200))
		b.clock.Settle()
		Expect(r.responses).To(HaveLen(2))
		Expect(r.responses[1].StatusCode).To(Equal(200))
	})

	It("ACKs a non-2xx final response hop by hop, ACKs every retransmission of it, and passes it up once (§17.1.1.2, §17.1.1.3)", func() {
		b := newBench(endpoint.Timers{})
		var busy *sip.Response
		b.onPeer = func(msg sip.Message, _ netip.AddrPort) {
			if req, ok := msg.(*sip.Request); ok && req.IsInvite() && busy == nil {
				busy = answer(req, 486)
				b.peerSend(busy)
			}
		}
		invite := newRequest(b.ep, sip.INVITE, true)
		r := b.request(invite)
		b.runTo(0)
		b.at(2*time.Second, func() { b.peerSend(busy) }) // the peer's Timer G
		b.runTo(3 * time.Second)

		at, acks := b.sent("uac", "ACK ")
		Expect(at).To(Equal([]time.Duration{0, 2 * time.Second}))
		Expect(acks[1]).To(Equal(acks[0]), "the same ACK again")
		Expect(r.responses).To(HaveLen(1))
		Expect(r.responses[0].StatusCode).To(Equal(486))
		_, invites := b.sent("uac", "INVITE ")
		Expect(invites).To(HaveLen(1), "no INVITE retransmission after the final response")

		msg, err := sip.ParseMessage([]byte(acks[0]))
		Expect(err).NotTo(HaveOccurred())
		ack := msg.(*sip.Request)
		Expect(ack.Method).To(Equal(sip.ACK))
		Expect(ack.Recipient.String()).To(Equal(invite.Recipient.String()), "the INVITE's Request-URI")
		Expect(ack.Via().Value()).To(Equal(invite.Via().Value()), "the INVITE's top Via: same branch, same transaction")
		Expect(ack.GetHeaders("Via")).To(HaveLen(1))
		Expect(ack.Route().Value()).To(Equal(invite.Route().Value()), "the INVITE's Route")
		Expect(ack.From().Value()).To(Equal(invite.From().Value()))
		Expect(ack.CallID().Value()).To(Equal(invite.CallID().Value()))
		Expect(ack.To().Value()).To(Equal(busy.To().Value()), "the response's To, with its tag")
		Expect(ack.CSeq().Value()).To(Equal("1 ACK"), "the INVITE's CSeq number, method ACK")
		Expect(ack.Body()).To(BeEmpty())
		Expect(b.stray).To(BeEmpty())
	})

	DescribeTable("keeps ACKing retransmitted non-2xx finals until Timer D (32 s, and no less than 64*T1), then ends",
		func(timers endpoint.Timers) {
			t1 := timers.WithDefaults().T1
			timerD := max(32*time.Second, 64*t1) // RFC 3261 Table 4: > 32 s for UDP
			b := newBench(timers)
			var busy *sip.Response
			b.onPeer = func(msg sip.Message, _ netip.AddrPort) {
				if req, ok := msg.(*sip.Request); ok && req.IsInvite() && busy == nil {
					busy = answer(req, 486)
					b.peerSend(busy)
				}
			}
			b.request(newRequest(b.ep, sip.INVITE, false))
			b.runTo(0)
			b.at(timerD-time.Millisecond, func() { b.peerSend(busy) })
			b.at(timerD+time.Millisecond, func() { b.peerSend(busy) })
			b.runTo(timerD + time.Second)
			at, _ := b.sent("uac", "ACK ")
			Expect(at).To(Equal([]time.Duration{0, timerD - time.Millisecond}))
			Expect(b.stray).To(HaveLen(1), "after Timer D the retransmission matches no transaction")
		},
		Entry("T1 500ms", endpoint.Timers{}),
		Entry("T1 100ms: still 32 s", endpoint.Timers{T1: 100 * time.Millisecond}),
		Entry("T1 1s: 64 s", endpoint.Timers{T1: time.Second, T2: 4 * time.Second}),
	)

	It("passes every retransmitted 2xx up for 64*T1 (RFC 6026 Accepted, Timer M) and never ACKs a 2xx itself", func() {
		b := newBench(endpoint.Timers{})
		t1 := 500 * time.Millisecond
		var ok *sip.Response
		b.onPeer = func(msg sip.Message, _ netip.AddrPort) {
			if req, isReq := msg.(*sip.Request); isReq && req.IsInvite() && ok == nil {
				ok = answer(req, 200)
				b.peerSend(ok)
			}
		}
		r := b.request(newRequest(b.ep, sip.INVITE, false))
		b.runTo(0)
		for _, d := range []time.Duration{t1, 3 * t1, 64*t1 - time.Millisecond, 64*t1 + time.Millisecond} {
			b.at(d, func() { b.peerSend(ok) })
		}
		b.runTo(70 * t1)
		Expect(r.responses).To(HaveLen(4), "the 2xx and its retransmissions within 64*T1")
		Expect(b.stray).To(HaveLen(1), "the retransmission after Timer M matches no transaction")
		at, _ := b.sent("uac", "ACK ")
		Expect(at).To(BeEmpty(), "the ACK for a 2xx is the UA core's (§13.2.2.4)")
	})
})

var _ = Describe("a non-INVITE client transaction (RFC 3261 §17.1.2)", func() {
	DescribeTable("unanswered, it retransmits after T1, 2*T1 … capped at T2 (Timer E) and times out at 64*T1 (Timer F)",
		func(timers endpoint.Timers) {
			t := timers.WithDefaults()
			b := newBench(timers)
			r := b.request(newRequest(b.ep, sip.OPTIONS, false))
			b.runTo(200 * t.T1)
			at, _ := b.sent("uac", "OPTIONS ")
			Expect(at).To(Equal(nonInviteSchedule(t.T1, t.T2)))
			Expect(r.timeouts).To(Equal(1))
			Expect(r.timeoutAt).To(Equal(t0.Add(64 * t.T1)))
		},
		Entry("T1 500ms, T2 4s (the defaults)", endpoint.Timers{}),
		Entry("T1 100ms, T2 400ms", endpoint.Timers{T1: 100 * time.Millisecond, T2: 400 * time.Millisecond}),
		Entry("T1 1s, T2 2s", endpoint.Timers{T1: time.Second, T2: 2 * time.Second}),
		Entry("T1 = T2 = 250ms", endpoint.Timers{T1: 250 * time.Millisecond, T2: 250 * time.Millisecond}),
	)

	It("after a provisional, retransmits every T2 and still times out at 64*T1 (Proceeding)", func() {
		b := newBench(endpoint.Timers{})
		t := endpoint.Timers{}.WithDefaults()
		answered := false
		b.onPeer = func(msg sip.Message, _ netip.AddrPort) {
			if req, ok := msg.(*sip.Request); ok && !answered {
				answered = true
				b.peerSend(answer(req, 100))
			}
		}
		r := b.request(newRequest(b.ep, sip.OPTIONS, false))
		b.runTo(200 * t.T1)
		at, _ := b.sent("uac", "OPTIONS ")
		Expect(at).To(Equal(proceedingSchedule(t.T1, t.T2)))
		Expect(r.timeouts).To(Equal(1))
		Expect(r.timeoutAt).To(Equal(t0.Add(64 * t.T1)))
	})

	DescribeTable("after its final response, absorbs retransmissions of it for T4 (Timer K), then ends",
		func(timers endpoint.Timers) {
			t4 := timers.WithDefaults().T4
			b := newBench(timers)
			var ok *sip.Response
			b.onPeer = func(msg sip.Message, _ netip.AddrPort) {
				if req, isReq := msg.(*sip.Request); isReq && ok == nil {
					ok = answer(req, 200)
					b.peerSend(ok)
				}
			}
			r := b.request(newRequest(b.ep, sip.OPTIONS, false))
			b.runTo(0)
			b.at(t4-time.Millisecond, func() { b.peerSend(ok) })
			b.runTo(t4 - time.Millisecond)
			Expect(r.responses).To(HaveLen(1), "the final response is passed up once")
			Expect(b.stray).To(BeEmpty(), "a retransmission before Timer K is absorbed")
			b.at(t4+time.Millisecond, func() { b.peerSend(ok) })
			b.runTo(t4 + time.Second)
			Expect(b.stray).To(HaveLen(1), "after Timer K (T4) the retransmission matches no transaction")
			at, _ := b.sent("uac", "OPTIONS ")
			Expect(at).To(Equal([]time.Duration{0}))
		},
		Entry("T4 5s (the default)", endpoint.Timers{}),
		Entry("T4 1s", endpoint.Timers{T4: time.Second}),
	)
})
