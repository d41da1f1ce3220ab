package report_test

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// The "Try" edits of docs/lessons.md, made and run: what each lesson says will happen
// does.
var _ = Describe("the Try edits of docs/lessons.md", func() {
	course, err := os.ReadFile("../../docs/lessons.md")
	if err != nil {
		panic(err)
	}
	type try struct {
		file  string
		says  string // the lesson's words for the edit
		edit  func(*scenario.Scenario)
		check func(c judge.CallFacts, explained string)
	}
	arrives := func(c judge.CallFacts, _ string) {
		Expect(c.ACKAtCallee).To(BeTrue(), c.Diagnosis)
		Expect(c.Class).To(Equal(judge.ClassACKArrived))
	}
	lost := func(class judge.Class, blame string) func(judge.CallFacts, string) {
		return func(c judge.CallFacts, _ string) {
			Expect(c.ACKAtCallee).To(BeFalse())
			Expect(c.Class).To(Equal(class), c.Diagnosis)
			Expect(c.Blame).To(Equal(blame), c.Diagnosis)
		}
	}
	DescribeTable("do what the lesson says",
		func(t try) {
			Expect(string(course)).To(ContainSubstring(t.says), "the lesson still says so")
			s := copyScenario(match.Load("../../scenarios/" + t.file + ".yaml"))
			t.edit(s)
			res, out := explain(s)
			t.check(res.Calls[0], out)
		},
		Entry("lesson 1", try{"no-nat-handling", "set proxy-b's `nat-handling: correct`",
			func(s *scenario.Scenario) { host(s, "proxy-b").NATHandling = proxy.HandlingCorrect }, arrives}),
		Entry("lesson 2, proxy-a none", try{"excessive-nat-handling", "set proxy-a's `nat-handling` to `none`, then to `correct`: both work",
			func(s *scenario.Scenario) { host(s, "proxy-a").NATHandling = proxy.HandlingNone }, arrives}),
		Entry("lesson 2, proxy-a correct", try{"excessive-nat-handling", "set proxy-a's `nat-handling` to `none`, then to `correct`: both work",
			func(s *scenario.Scenario) { host(s, "proxy-a").NATHandling = proxy.HandlingCorrect }, arrives}),
		Entry("lesson 2, proxy-b none as well", try{"excessive-nat-handling", "`none` as well: now two proxies are wrong, and the diagnosis names both",
			func(s *scenario.Scenario) { host(s, "proxy-b").NATHandling = proxy.HandlingNone },
			func(c judge.CallFacts, _ string) {
				Expect(c.ACKAtCallee).To(BeFalse())
				Expect(c.Diagnosis).To(And(ContainSubstring("proxy-a"), ContainSubstring("proxy-b")))
			}}),
		Entry("lesson 4", try{"caller-behind-nat", "`callee-talk: 5s`: alice hangs up first, her BYE goes through, and nothing looks wrong",
			func(s *scenario.Scenario) {
				s.Steps = append([]scenario.Step(nil), s.Steps...)
				for i := range s.Steps {
					if s.Steps[i].Kind == scenario.StepCall {
						s.Steps[i].CalleeTalk = 5 * time.Second
					}
				}
			},
			func(c judge.CallFacts, out string) {
				arrives(c, out)
				Expect(c.CalleeBYE).To(BeFalse())
				Expect(out).NotTo(ContainSubstring("never heard that bob hung up"))
			}}),
		Entry("lesson 5", try{"both-behind-different-nats", "`record-route: false` on the proxy: alice sends the ACK straight to bob's mapping on\nnat-b, which filters it (`filtered-by-nat`, blame proxy)",
			func(s *scenario.Scenario) { host(s, "proxy").RecordRoute = false }, lost(judge.ClassFilteredByNAT, "proxy")}),
		Entry("lesson 6", try{"double-nat", "proxy-b `nat-handling: none`: the private Contact is lost exactly as in lesson 1",
			func(s *scenario.Scenario) { host(s, "proxy-b").NATHandling = proxy.HandlingNone }, lost(judge.ClassPrivateContact, "proxy-b")}),
		Entry("lesson 7", try{"symmetric-nat", "`record-route: false` on proxy-b. proxy-a still Record-Routes, so now *proxy-a* sends the\nACK to the mapping, and the NAT filters it",
			func(s *scenario.Scenario) { host(s, "proxy-b").RecordRoute = false },
			func(c judge.CallFacts, _ string) {
				Expect(c.ACKAtCallee).To(BeFalse())
				Expect(c.Class).To(Equal(judge.ClassFilteredByNAT), c.Diagnosis)
				Expect(c.ACKLostAt).To(Equal("proxy-a"), c.Diagnosis)
			}}),
		Entry("lesson 8, Record-Route", try{"no-record-route-filtering", "`record-route: true` on proxy-b",
			func(s *scenario.Scenario) { host(s, "proxy-b").RecordRoute = true }, arrives}),
		Entry("lesson 8, a lax NAT", try{"no-record-route-filtering", "`filtering: endpoint-independent` on home-nat (it\nworks",
			func(s *scenario.Scenario) { nat(s, "home-nat").Filtering = sim.EndpointIndependent }, arrives}),
		Entry("lesson 9", try{"same-nat-hairpin-off", "*Try*: `record-route: true` on the proxy.",
			func(s *scenario.Scenario) { host(s, "proxy").RecordRoute = true }, arrives}),
		Entry("lesson 11", try{"binding-expiry", "`register-expires: 10s` on bob, so that he re-registers before the binding times out",
			func(s *scenario.Scenario) { host(s, "bob").RegisterExpires = 10 * time.Second }, arrives}),
	)
})
