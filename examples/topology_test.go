package examples_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// run runs a scenario in simulated time: the 32 s the callee waits for its
// ACK pass in microseconds.
func run(ctx SpecContext, s *scenario.Scenario) *harness.Result {
	res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
	Expect(err).NotTo(HaveOccurred())
	return res
}

// chain builds the three-proxy topology in Go; edgeHandling is the edge
// proxy's reply-route Contact policy.
func chain(edgeHandling proxy.Handling) scenario.Spec {
	return scenario.Spec{
		Name: "three-proxies-" + string(edgeHandling),
		NATs: []scenario.NATSpec{{Name: "home-nat", Public: "203.0.113.50", LAN: "192.168.1.0/24"}},
		Hosts: []scenario.HostSpec{
			{Name: "alice", Role: scenario.RoleUA, Address: "198.51.100.10"},
			{Name: "edge", Role: scenario.RoleProxy, Address: "203.0.113.1", NextHop: "core", NATHandling: edgeHandling},
			{Name: "core", Role: scenario.RoleProxy, Address: "203.0.113.2", NextHop: "registrar"},
			{Name: "registrar", Role: scenario.RoleProxy, Address: "203.0.113.3", Registrar: true, NATHandling: proxy.HandlingCorrect},
			{Name: "bob", Role: scenario.RoleUA, Address: "192.168.1.10", RegisterWith: "registrar"},
		},
		Steps: []scenario.StepSpec{{Call: &scenario.CallSpec{From: "alice", To: "bob", Via: "edge", Talk: "1s"}}},
	}
}

var _ = Describe("our three-proxy chain", func() {
	It("loses the ACK when the edge proxy fixes every Contact (from the YAML file)", func(ctx SpecContext) {
		res := run(ctx, match.Load("testdata/three-proxies.yaml"))
		Expect(res).To(match.PassExpectations())
		Expect(res).NotTo(match.DeliverACKToCallee())
		Expect(res).To(match.BlameHost("edge"))
		Expect(res).To(match.LoseACKAt("core"))
		Expect(res.Call(0)).To(match.HaveCalleeBYE())
	})

	DescribeTable("keeps the call up unless the edge proxy over-fixes (built in Go)",
		func(ctx SpecContext, edge proxy.Handling, up bool) {
			s, err := scenario.Build(chain(edge))
			Expect(err).NotTo(HaveOccurred())
			res := run(ctx, s)
			if up {
				Expect(res).To(match.DeliverACKToCallee(match.Within(scenario.T1)))
				Expect(res).To(match.BlameHost("none"))
				Expect(res).To(match.HaveContactAtCaller("sip:bob@203.0.113.50:40000"))
				return
			}
			Expect(res).NotTo(match.DeliverACKToCallee())
			Expect(res).To(match.BlameHost("edge"))
		},
		Entry("none", proxy.HandlingNone, true),
		Entry("correct", proxy.HandlingCorrect, true),
		Entry("excessive", proxy.HandlingExcessive, false),
	)
})

var _ = Describe("our scenario files", func() {
	DescribeTable("meet their expect blocks",
		func(ctx SpecContext, file string) {
			Expect(run(ctx, match.Load(file))).To(match.PassExpectations())
		},
		match.Entries("testdata"),
	)
})
