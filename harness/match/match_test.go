package match_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func run(file string) *harness.Result {
	s := match.Load(file)
	res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
	Expect(err).NotTo(HaveOccurred())
	return res
}

var _ = Describe("matchers", func() {
	var correct, excessive *harness.Result
	BeforeEach(func() {
		correct = run("../../scenarios/correct-nat-handling.yaml")
		excessive = run("../../scenarios/excessive-nat-handling.yaml")
	})

	It("state the correct case", func() {
		Expect(correct).To(match.DeliverACKToCallee())
		Expect(correct).To(match.DeliverACKToCallee(match.Within(scenario.T1)))
		Expect(correct).To(match.DeliverACKToCallee(match.Within(10 * time.Millisecond)))
		Expect(correct).To(match.BlameHost("none"))
		Expect(correct.Call(0)).NotTo(match.HaveCalleeBYE())
		Expect(correct).To(match.HaveContactAtCaller("sip:bob@203.0.113.50:40000"))
		Expect(correct).To(match.PassExpectations())
	})

	It("state the excessive case", func() {
		Expect(excessive).NotTo(match.DeliverACKToCallee())
		Expect(excessive).To(match.BlameHost("proxy-a"))
		Expect(excessive).To(match.LoseACKAt("proxy-b"))
		Expect(excessive.Call(0)).To(match.HaveCalleeBYE())
		Expect(excessive).To(match.PassExpectations())
	})

	It("explain a failure in SIP terms, with the ladder", func() {
		m := match.DeliverACKToCallee(match.Within(64 * scenario.T1))
		ok, err := m.Match(excessive)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeFalse())
		msg := m.FailureMessage(excessive)
		Expect(msg).To(ContainSubstring("Expected the ACK for the 2xx to reach the callee within 64*T1"))
		Expect(msg).To(ContainSubstring(`ACK lost at "proxy-b", blame "proxy-a"`))
		Expect(msg).To(ContainSubstring("diagnosis: The ACK for bob's 200 OK never reached bob"))
		Expect(msg).To(ContainSubstring("-INVITE-"), "the ladder of the call")
		Expect(msg).To(HavePrefix("Expected the ACK for the 2xx to reach the callee within 64*T1, but:\ncall dropped: ACK lost at proxy-b, blame proxy-a\nfix: on proxy-a, apply fix_nated_contact() only"),
			"what became of the call and the fix come first")
		Expect(msg).NotTo(ContainSubstring("REGISTER"), "the ladder holds the call's own datagrams only")
		Expect(msg).NotTo(MatchRegexp(`(?m)^(PASS|FAIL) `), "no scenario verdict word that reads as the match's")
		GinkgoWriter.Printf("failure message: %d lines, %d bytes\n", strings.Count(msg, "\n"), len(msg))
		Expect(strings.Count(msg, "\n")).To(BeNumerically("<=", 60), "short enough for a JUnit message (it was 210 lines)")
		Expect(len(msg)).To(BeNumerically("<=", 6000))
		Expect(msg).To(ContainSubstring("rows that repeat one shown twice above, retransmissions, left out"))

		m = match.BlameHost("proxy-b")
		Expect(m.Match(excessive)).To(BeFalse())
		Expect(m.FailureMessage(excessive)).To(ContainSubstring("Expected proxy-b to be blamed for the Contact of the 200 OK"))
	})

	It("reject what they cannot judge", func() {
		_, err := match.DeliverACKToCallee().Match("a string")
		Expect(err).To(MatchError(ContainSubstring("expected a *harness.Result or *judge.CallFacts")))
		_, err = match.DeliverACKToCallee().Match(correct.Call(5))
		Expect(err).To(MatchError(ContainSubstring("is there such a call?")))
		_, err = match.DeliverACKToCallee(match.Within(scenario.T1)).Match(correct.Call(0))
		Expect(err).To(MatchError(ContainSubstring("needs the *harness.Result")))
	})
})

var _ = Describe("Build", func() {
	It("turns a Spec into the same scenario as its file", func() {
		sp := scenario.Spec{
			Name: "correct-nat-handling",
			NATs: []scenario.NATSpec{{Name: "home-nat", Public: "203.0.113.50", LAN: "192.168.1.0/24",
				Mapping: "endpoint-independent", Filtering: "address-and-port-dependent", BindingTimeout: "120s"}},
			Hosts: []scenario.HostSpec{
				{Name: "alice", Role: scenario.RoleUA, Address: "198.51.100.10"},
				{Name: "proxy-a", Role: scenario.RoleProxy, Address: "203.0.113.1", NextHop: "proxy-b", NATHandling: "correct"},
				{Name: "proxy-b", Role: scenario.RoleProxy, Address: "203.0.113.2", Registrar: true, NATHandling: "correct"},
				{Name: "bob", Role: scenario.RoleUA, Address: "192.168.1.10", RegisterWith: "proxy-b"},
			},
			Steps: []scenario.StepSpec{
				{Register: "bob"},
				{Call: &scenario.CallSpec{From: "alice", To: "bob", Via: "proxy-a", Talk: "2s"}},
				{Wait: "1s"},
			},
			Expect: &scenario.ExpectSpec{ACKAtCallee: scenario.Bool(true), ACKWithin: "1*T1", CalleeBYE: scenario.Bool(false), Blame: "none"},
		}
		built, err := scenario.Build(sp)
		Expect(err).NotTo(HaveOccurred())
		file := match.Load("../../scenarios/correct-nat-handling.yaml")
		Expect(built.Hosts).To(HaveLen(len(file.Hosts)))
		for i := range file.Hosts {
			a, b := built.Hosts[i], file.Hosts[i]
			a.Line, b.Line = 0, 0
			Expect(a).To(Equal(b))
		}
		Expect(built.NATs[0].LAN).To(Equal(file.NATs[0].LAN))
		Expect(len(built.Steps)).To(Equal(len(file.Steps)))
		Expect(len(built.Expect)).To(Equal(len(file.Expect)))

		res, err := harness.Run(context.Background(), built, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(match.PassExpectations())
	})

	It("reports a bad Spec like a bad file, naming the field", func() {
		_, err := scenario.Build(scenario.Spec{
			Name:  "bad",
			Hosts: []scenario.HostSpec{{Name: "alice", Role: scenario.RoleUA, Address: "192.168.300.1"}},
			Steps: []scenario.StepSpec{{Wait: "1s"}},
		})
		Expect(err).To(MatchError(scenario.ErrInvalid))
		Expect(err).To(MatchError(HavePrefix(`build scenario "bad": Hosts[0].Address: "192.168.300.1"`)), "the Go field, not a line of YAML the user never sees")
		Expect(err.Error()).NotTo(ContainSubstring("line"))
		Expect(err.Error()).NotTo(ContainSubstring("<go>"))

		_, err = scenario.Build(scenario.Spec{
			Name: "bad-step",
			Hosts: []scenario.HostSpec{{Name: "alice", Role: scenario.RoleUA, Address: "198.51.100.10"},
				{Name: "bob", Role: scenario.RoleUA, Address: "198.51.100.11"}},
			Steps: []scenario.StepSpec{{Wait: "1s"}, {Call: &scenario.CallSpec{From: "alice", To: "bob", Via: "proxy-z"}}},
		})
		Expect(err).To(MatchError(HavePrefix(`build scenario "bad-step": Steps[1].Call.Via: `)))
	})
})

var _ = Describe("Entries", func() {
	DescribeTable("runs every bundled scenario as a table entry",
		func(file string) {
			Expect(run(file)).To(match.PassExpectations())
		},
		match.Entries("../../scenarios"),
	)
})
