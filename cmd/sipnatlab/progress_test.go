package main

import (
	"bytes"
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

var _ = Describe("the progress lines of a real-time run on a terminal", func() {
	It("say which call runs, what it waits for, and count down to the callee's ACK timeout", func() {
		s := match.Load("../../scenarios/no-nat-handling.yaml")
		var term bytes.Buffer
		p := newProgress(&term, []*scenario.Scenario{s})
		t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		ev := func(at time.Duration, host string, kind ua.EventKind, detail string) {
			p.observe(s.Name, harness.Event{Time: t0.Add(at), Host: host, Kind: string(kind), Detail: detail})
		}
		Expect(p.lines(t0)).To(Equal([]string{"no-nat-handling: starting"}))
		ev(0, "alice", ua.InviteSent, "INVITE sip:bob@203.0.113.2 via 203.0.113.1:5060")
		Expect(p.lines(t0)).To(Equal([]string{"no-nat-handling: alice -> bob: waiting for the callee to answer"}))
		ev(10*time.Millisecond, "bob", ua.OKSent, "200 OK")
		Expect(p.lines(t0.Add(10 * time.Millisecond))).To(Equal([]string{
			"no-nat-handling: alice -> bob: bob answered; waiting for the ACK at bob; it hangs up in 32s without one"}))
		ev(1510*time.Millisecond, "bob", ua.OKRetransmitted, "200 OK")
		ev(2*time.Second, "alice", ua.CallEnded, "BYE")
		Expect(p.lines(t0.Add(12*time.Second))).To(Equal([]string{
			"no-nat-handling: alice -> bob: no ACK at bob yet, 200 OK retransmissions: 1; it hangs up in 20s without one"}),
			"the caller's hang-up does not stop the callee's countdown")
		ev(32010*time.Millisecond, "bob", ua.ACKTimeout, "")
		Expect(p.lines(t0.Add(33 * time.Second))).To(Equal([]string{"no-nat-handling: alice -> bob: bob gave up waiting for the ACK and hangs up"}))

		p.draw(t0)
		p.draw(t0)
		Expect(term.String()).To(Equal(
			"\r\x1b[Kno-nat-handling: alice -> bob: bob gave up waiting for the ACK and hangs up\n"+
				"\x1b[1A\r\x1b[Kno-nat-handling: alice -> bob: bob gave up waiting for the ACK and hangs up\n"), "redrawn in place")
		term.Reset()
		p.clear()
		Expect(term.String()).To(Equal("\x1b[1A\r\x1b[J"))
	})

	It("is not shown when stderr is not a terminal: a piped real-time run prints only its one line", Label("loopback"), func(ctx context.Context) {
		// A short scenario (about 1 s in real time), still several redraw intervals.
		code, _, stderr := runCLI(ctx, "run", "../../scenarios/same-nat-hairpin-on.yaml")
		Expect(code).To(Equal(0))
		Expect(stderr).To(Equal("sipnatlab: running 1 scenario(s) in real time on loopback; interrupt to stop and report what was captured so far\n"))
	})
})
