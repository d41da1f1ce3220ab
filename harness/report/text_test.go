package report_test

import (
	"bytes"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// lossyLoad is five calls through proxies that leave bob's private Contact alone, so
// every ACK dies at proxy-b and bob gives up on each.
const lossyLoad = `name: lossy-load
timers: {t1: 500ms, t2: 4s}
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b, nat-handling: none}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: none}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - call: {from: alice, to: bob, via: proxy-a, count: 5, concurrency: 5}
`

var _ = Describe("the text report of many calls", func() {
	It("draws the first call's ladder with its notes only, then sums up every call", func(ctx SpecContext) {
		s, err := scenario.Parse("lossy-load.yaml", []byte(lossyLoad))
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Calls).To(HaveLen(5))
		var b bytes.Buffer
		report.WriteText(&b, s, res, nil, report.TextOptions{})
		out := b.String()

		Expect(out).To(ContainSubstring("(ladder of the first of 5 calls)"))
		Expect(strings.Count(out, "\nCall alice -> bob")).To(Equal(1))
		Expect(out).To(ContainSubstring("All calls: 5 calls: 5 answered, 0 with the ACK at the callee, 5 ended by the callee's BYE; 5 blame proxy-b\n"))

		// Of the five ACK timeouts bob notes, the ladder shows the first call's.
		timeouts := 0
		for _, n := range res.Trace.AllNotes() {
			if n.Cause == ua.CauseACKTimeout {
				timeouts++
			}
		}
		Expect(timeouts).To(Equal(5))
		Expect(strings.Count(out, "bob: no ACK for")).To(Equal(1))
		// And no INVITE of the other calls: one per hop of the first call.
		Expect(strings.Count(out, "INVITE--")).To(Equal(3))
	})
})
