package harness_test

import (
	"fmt"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness/judge"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// topology is the seed's chain, alice -> proxy-a -> proxy-b (bob's registrar)
// -> home-nat -> bob, with the keys each class needs filled in.
const topology = `name: %s
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24%s}
hosts:
  alice: {role: ua, address: %s}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b, nat-handling: %s%s}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: %s%s}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
%s  - call: {from: alice, to: bob, via: proxy-a}
`

// chain fills in topology: extra keys of home-nat, alice's address, each
// proxy's nat-handling and extra keys, and steps before the call.
type chain struct {
	nat, alice, aHandling, aExtra, bHandling, bExtra, before string
}

func (c chain) yaml(name string) string {
	alice := c.alice
	if alice == "" {
		alice = "198.51.100.10"
	}
	return fmt.Sprintf(topology, name, c.nat, alice, c.aHandling, c.aExtra, c.bHandling, c.bExtra, c.before)
}

type diagnosed struct {
	class         judge.Class
	lostAt, blame string
	says          []string // substrings of the diagnosis
	fix           string   // substring of CallFacts.Fix
}

// runYAML runs a scenario written inline in simulated time and returns its one call.
func runYAML(ctx SpecContext, name, yaml string) judge.CallFacts {
	GinkgoHelper()
	s, err := scenario.Parse(name+".yaml", []byte(yaml))
	Expect(err).NotTo(HaveOccurred())
	res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Calls).To(HaveLen(1))
	return res.Calls[0]
}

var _ = Describe("diagnosis", func() {
	run := runYAML

	DescribeTable("follows the three troubleshooting steps to one class, one sentence and one fix per failure",
		func(ctx SpecContext, c chain, want diagnosed) {
			name := "diagnosis-" + string(want.class)
			f := run(ctx, name, c.yaml(name))
			Expect(f.Class).To(Equal(want.class), f.Diagnosis)
			Expect(f.ACKLostAt).To(Equal(want.lostAt), f.Diagnosis)
			Expect(f.Blame).To(Equal(want.blame), f.Diagnosis)
			for _, sub := range want.says {
				Expect(f.Diagnosis).To(ContainSubstring(sub))
			}
			Expect(f.Fix).To(ContainSubstring(want.fix))
			// One or two sentences a person can act on.
			Expect(strings.Count(f.Diagnosis, ". ")).To(BeNumerically("<=", 1), f.Diagnosis)
		},
		Entry("correct handling: the ACK arrives, nothing to fix",
			chain{aHandling: "correct", bHandling: "correct"},
			diagnosed{class: judge.ClassACKArrived, says: []string{"The ACK reached bob", "sip:bob@203.0.113.50:40000", "stayed up"}}),
		Entry("no NAT handling: proxy-b relays bob's private Contact and the ACK has no route",
			chain{aHandling: "none", bHandling: "none"},
			diagnosed{class: judge.ClassPrivateContact, lostAt: "proxy-b", blame: "proxy-b",
				says: []string{"private Contact sip:bob@192.168.1.10:5060", "no route to private address 192.168.1.10:5060", "the proxy next to the NATed bob"},
				fix:  "in proxy-b's reply route, call fix_nated_contact()"}),
		Entry("excessive handling: proxy-a rewrites the relayed Contact to proxy-b, whose own address ends the ACK",
			chain{aHandling: "excessive", bHandling: "correct"},
			diagnosed{class: judge.ClassContactNamesProxy, lostAt: "proxy-b", blame: "proxy-a",
				says: []string{"Request-URI sip:bob@203.0.113.2:5060 names proxy-b itself", "relayed by proxy-b from sip:bob@203.0.113.50:40000 to sip:bob@203.0.113.2:5060"},
				fix:  "never to replies relayed by another proxy"}),
		Entry("two faults: proxy-b relays the private Contact, then proxy-a rewrites it to proxy-b",
			chain{aHandling: "excessive", bHandling: "none"},
			diagnosed{class: judge.ClassContactNamesProxy, lostAt: "proxy-b", blame: "proxy-b",
				says: []string{"proxy-b, the proxy next to the NATed bob, relayed its Contact sip:bob@192.168.1.10:5060 unchanged", "proxy-a then rewrote the relayed Contact again"},
				fix:  "and on proxy-a, apply fix_nated_contact() only to replies straight from a NATed end-point"}),
		Entry("no Record-Route in front of an address-and-port-dependent filtering NAT: alice's ACK goes straight to the mapping",
			chain{nat: ", filtering: address-and-port-dependent", aHandling: "none", aExtra: ", record-route: false", bHandling: "correct", bExtra: ", record-route: false"},
			diagnosed{class: judge.ClassFilteredByNAT, lostAt: "alice", blame: "proxy-b",
				says: []string{"alice sent it straight to bob's NAT mapping sip:bob@203.0.113.50:40000", "filtered by home-nat (address-and-port-dependent filtering)"},
				fix:  "make proxy-b Record-Route (record_route())"}),
		Entry("caller and callee behind the same NAT without hairpinning and no Record-Route",
			chain{alice: "192.168.1.11", aHandling: "none", aExtra: ", record-route: false", bHandling: "correct", bExtra: ", record-route: false"},
			diagnosed{class: judge.ClassNoHairpin, lostAt: "alice", blame: "proxy-b",
				says: []string{"inside home-nat's LAN", "does not hairpin"},
				fix:  "enable hairpinning on home-nat"}),
		Entry("the NAT binding bob registered through expires before the call: no keep-alives",
			chain{nat: ", binding-timeout: 30s", aHandling: "none", bHandling: "correct", before: "  - wait: 60s\n"},
			diagnosed{class: judge.ClassBindingExpired, lostAt: "alice",
				says: []string{"bob never answered", "expired (idle 1m0s, timeout 30s)"},
				fix:  "keep-alives"}),
	)

	It("ack-arrived, but the callee's own BYE dies on its way to the caller's private Contact: says so, with nothing to fix for the ACK", func(ctx SpecContext) {
		s, err := scenario.Load("../scenarios/caller-behind-nat.yaml")
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		f := res.Calls[0]
		Expect(f.Class).To(Equal(judge.ClassACKArrived))
		Expect(f.Fix).To(BeEmpty())
		Expect(f.Diagnosis).To(HavePrefix("The ACK reached bob"))
		Expect(f.Diagnosis).To(ContainSubstring("But when bob hung up, its BYE to alice's Contact sip:alice@192.168.1.20:5060 was dropped at proxy, no route to private address 192.168.1.20:5060"))
		Expect(f.Diagnosis).To(ContainSubstring("fix alice's Contact in the request route too (fix_nated_contact() after nat_uac_test())"))
		Expect(f.Diagnosis).NotTo(ContainSubstring("stayed up"))
		Expect(strings.Count(f.Diagnosis, ". ")).To(Equal(1), f.Diagnosis)
	})

	It("ok-lost: a callee whose 200 OK never reaches the caller, because a proxy behind NAT sends no rport", func(ctx SpecContext) {
		f := run(ctx, "diagnosis-ok-lost", `name: diagnosis-ok-lost
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
  office-nat: {public: 203.0.113.60, lan: 10.0.0.0/24}
hosts:
  alice: {role: ua, address: 10.0.0.10}
  proxy-a: {role: proxy, address: 10.0.0.2, next-hop: proxy-b}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: correct}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - call: {from: alice, to: bob, via: proxy-a}
`)
		Expect(f.Answered).To(BeTrue())
		Expect(f.ContactAtCaller).To(BeEmpty())
		Expect(f.Class).To(Equal(judge.ClassOKLost))
		Expect(f.ACKLostAt).To(Equal("alice"))
		Expect(f.Diagnosis).To(ContainSubstring("bob's 200 OK never reached alice, so alice sent no ACK"))
		Expect(f.Diagnosis).To(ContainSubstring("dropped at office-nat"))
		Expect(f.Fix).To(ContainSubstring("force_rport() on proxy-b"))
	})
})
