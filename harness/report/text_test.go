package report_test

import (
	"bytes"
	"os"
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

var _ = Describe("the text, HTML and JSON reports of what real proxies do differently", func() {
	render := func(ctx SpecContext, file string) (text, html string, v report.ScenarioVerdict) {
		GinkgoHelper()
		s, err := scenario.Load(file)
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		var t, h bytes.Buffer
		report.WriteText(&t, s, res, nil, report.TextOptions{})
		Expect(report.WriteHTML(&h, s, res, nil)).To(Succeed())
		return t.String(), h.String(), report.NewScenarioVerdict(s, res, nil)
	}

	It("say when the Contact the caller saw changed between 2xx retransmissions, and which hop changed it", func(ctx SpecContext) {
		text, html, v := render(ctx, "../../scenarios/late-2xx-retransmissions.yaml")
		Expect(text).To(ContainSubstring("  Contact at caller changed after 7.5 s: sip:bob@203.0.113.2:5060 -> sip:bob@192.168.1.10:5060 (proxy-b sent sip:bob@192.168.1.10:5060)\n"))
		Expect(text).To(ContainSubstring("  proxy-b sent the 200 OK on with sip:bob@192.168.1.10:5060 from 7.5 s (was sip:bob@203.0.113.50:40000)\n"))
		Expect(html).To(ContainSubstring("<th>Contact at caller changed</th>"))
		Expect(html).To(ContainSubstring("<th>proxy-b changed the Contact</th>"))
		c := v.Calls[0]
		Expect(c.ContactChanges).To(Equal([]report.ContactChangeVerdict{{AfterMS: 7500, Was: "sip:bob@203.0.113.2:5060", Now: "sip:bob@192.168.1.10:5060", Hop: "proxy-b", HopSent: "sip:bob@192.168.1.10:5060"}}))
		Expect(c.HopChanges).To(HaveLen(2)) // proxy-b's fix and proxy-a's rewrite both stop
	})
	It("name an unanswered call's final response and the hop that sent it", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		file := dir + "/rejected.yaml"
		Expect(os.WriteFile(file, []byte(`name: rejected
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, reject: 404}
  bob: {role: ua, address: 198.51.100.20, register-with: proxy-b}
steps:
  - call: {from: alice, to: bob, via: proxy-a}
`), 0o644)).To(Succeed())
		text, html, v := render(ctx, file)
		Expect(text).To(ContainSubstring("  final response: 404 Not Found from proxy-b\n"))
		Expect(html).To(ContainSubstring("<th>final response</th><td class=\"bad\">404 Not Found</td><th>sent by</th><td class=\"bad\">proxy-b</td>"))
		Expect(v.Calls[0].FinalResponse).To(Equal("404 Not Found"))
		Expect(v.Calls[0].FinalFrom).To(Equal("proxy-b"))
		Expect(v.Calls[0].Blame).To(Equal("proxy-b"))
	})
})
