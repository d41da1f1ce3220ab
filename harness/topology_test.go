package harness_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/judge"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// doubleNAT is bob behind home-nat behind a carrier-grade NAT; %s are extra NAT keys of
// home-nat, extra keys of bob, and steps before the call.
const doubleNAT = `name: double
nats:
  home-nat: {public: 100.64.0.2, lan: 192.168.1.0/24%s}
  cgn: {public: 203.0.113.99, lan: 100.64.0.0/10, filtering: address-dependent}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: %s}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b%s}
steps:
%s  - call: {from: alice, to: bob, via: proxy-b, talk: 1s}
`

func parse(name, yaml string) *scenario.Scenario {
	GinkgoHelper()
	s, err := scenario.Parse(name+".yaml", []byte(yaml))
	Expect(err).NotTo(HaveOccurred())
	return s
}

func simulate(ctx SpecContext, s *scenario.Scenario) *harness.Result {
	GinkgoHelper()
	res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
	Expect(err).NotTo(HaveOccurred())
	return res
}

// sentBy counts the datagrams host sent whose payload starts with prefix.
func sentBy(res *harness.Result, host, prefix string) []time.Duration {
	var out []time.Duration
	for _, r := range res.Capture.All() {
		if r.Kind == sim.Sent && r.Hop == host && strings.HasPrefix(string(r.Data), prefix) {
			out = append(out, r.Time.Sub(res.Start))
		}
	}
	return out
}

var _ = Describe("topologies", func() {
	Describe("a NAT behind a NAT", func() {
		It("loads in either order, naming the outer NAT, and runs through both", func(ctx SpecContext) {
			s := parse("double", fmt.Sprintf(doubleNAT, "", "correct", "", ""))
			home, _ := s.NAT("home-nat")
			cgn, _ := s.NAT("cgn")
			Expect(home.Outside).To(Equal("cgn"), "home-nat is written first, yet sits behind cgn")
			Expect(cgn.Outside).To(BeEmpty())
			bob, _ := s.Host("bob")
			Expect(bob.NAT).To(Equal("home-nat"))

			res := simulate(ctx, s)
			var cols []string
			for _, c := range res.Columns {
				cols = append(cols, c.Name)
			}
			Expect(cols).To(Equal([]string{"alice", "proxy-b", "cgn", "home-nat", "bob"}), "outer NAT first")
			c := res.Calls[0]
			Expect(c.ContactAtCaller).To(Equal("sip:bob@203.0.113.99:40000"))
			Expect(c.ACKAtCallee).To(BeTrue(), c.Diagnosis)
			Expect(c.Blame).To(BeEmpty())
		})

		It("blames the proxy that relays the private Contact, as with one NAT", func(ctx SpecContext) {
			c := simulate(ctx, parse("double", fmt.Sprintf(doubleNAT, "", "none", "", ""))).Calls[0]
			Expect(c.ACKAtCallee).To(BeFalse())
			Expect(c.Blame).To(Equal("proxy-b"))
			Expect(c.ACKLostAt).To(Equal("proxy-b"))
			Expect(c.Hops[0].Resolves).To(ContainSubstring("it lies behind home-nat"))
		})

		It("preserves bob's port on the inner NAT when asked", func(ctx SpecContext) {
			res := simulate(ctx, parse("double", fmt.Sprintf(doubleNAT, ", port-allocation: preserve", "correct", "", "")))
			var inner []string
			for _, r := range res.Capture.All() {
				if r.Kind == sim.BindingCreated && r.Hop == "home-nat" {
					inner = append(inner, r.XSrc().String())
				}
			}
			Expect(inner).To(Equal([]string{"100.64.0.2:5060"}))
		})

		DescribeTable("refuses impossible NAT chains",
			func(nats, want string) {
				_, err := scenario.Parse("x.yaml", []byte("name: x\nnats:\n"+nats+`hosts:
  alice: {role: ua, address: 198.51.100.10}
steps:
  - wait: 1s
`))
				Expect(err).To(MatchError(ContainSubstring(want)))
			},
			Entry("a loop", "  a: {public: 10.0.0.1, lan: 100.64.0.0/10}\n  b: {public: 100.64.0.1, lan: 10.0.0.0/8}\n",
				"impossible topology: the NATs sit behind each other in a loop a → b → a"),
			Entry("a shared address inside no lan", "  a: {public: 100.64.0.1, lan: 10.0.0.0/8}\n",
				"100.64.0.1 is a private (RFC 6598 shared) address; a NAT's public address must be public, or lie in the lan of another NAT it sits behind"),
		)
	})

	Describe("NAT keys", func() {
		It("reads refresh-inbound, port-allocation and port-seed, with defaults", func() {
			s := parse("keys", `name: keys
nats:
  a: {public: 203.0.113.50, lan: 192.168.1.0/24, refresh-inbound: true, port-allocation: random, port-seed: 42}
  b: {public: 203.0.113.51, lan: 192.168.2.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
steps:
  - wait: 1s
`)
			a, _ := s.NAT("a")
			Expect(a.RefreshInbound).To(BeTrue())
			Expect(a.PortAllocation).To(Equal(sim.RandomPorts))
			Expect(a.PortSeed).To(Equal(uint64(42)))
			b, _ := s.NAT("b")
			Expect(b.RefreshInbound).To(BeFalse())
			Expect(b.PortAllocation).To(Equal(sim.SequentialPorts))
		})

		DescribeTable("rejects bad values",
			func(keys, want string) {
				_, err := scenario.Parse("x.yaml", []byte(`name: x
nats:
  a: {public: 203.0.113.50, lan: 192.168.1.0/24`+keys+`}
hosts:
  alice: {role: ua, address: 198.51.100.10}
steps:
  - wait: 1s
`))
				Expect(err).To(MatchError(ContainSubstring(want)))
			},
			Entry("unknown allocation", ", port-allocation: cone", `nats.a.port-allocation: "cone" is not one of sequential, preserve, random`),
			Entry("a seed without random", ", port-seed: 3", "nats.a.port-seed: only random port allocation uses a seed"),
			Entry("a negative seed", ", port-allocation: random, port-seed: -3", `nats.a.port-seed: "-3" is not a whole number`),
			Entry("refresh-inbound not a boolean", ", refresh-inbound: sometimes", `nats.a.refresh-inbound: "sometimes" is not a boolean`),
		)
	})

	Describe("keep-alives and re-registration", func() {
		const quiet = `name: quiet
timers: {t1: 250ms, t2: 2s}
nats:
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24, binding-timeout: 15s}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-b: {role: proxy, address: 203.0.113.2, registrar: true, nat-handling: correct}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b%s}
steps:
  - wait: 50s
  - call: {from: alice, to: bob, via: proxy-b, talk: 1s}
expect:
  ack-at-callee: true
`
		It("loads keep-alive with its defaults and refuses it without a registrar", func() {
			s := parse("quiet", fmt.Sprintf(quiet, ", keep-alive: {}"))
			bob, _ := s.Host("bob")
			Expect(*bob.KeepAlive).To(Equal(scenario.KeepAlive{Method: ua.KeepAliveCRLF, Interval: 25 * time.Second}))
			Expect(s.Scaled(0.2).Hosts[2].KeepAlive.Interval).To(Equal(5 * time.Second))
			Expect(bob.KeepAlive.Interval).To(Equal(25*time.Second), "Scaled copies")

			_, err := scenario.Parse("x.yaml", []byte(strings.Replace(fmt.Sprintf(quiet, ""), "alice: {role: ua, address: 198.51.100.10}",
				"alice: {role: ua, address: 198.51.100.10, keep-alive: {method: crlf}}", 1)))
			Expect(err).To(MatchError(ContainSubstring("hosts.alice.keep-alive: alice has no register-with")))
			_, err = scenario.Parse("x.yaml", []byte(fmt.Sprintf(quiet, ", keep-alive: {method: stun}")))
			Expect(err).To(MatchError(ContainSubstring(`hosts.bob.keep-alive.method: "stun" is not one of crlf, options`)))
		})

		It("loses bob after a quiet 50 s without keep-alives", func(ctx SpecContext) {
			res := simulate(ctx, parse("quiet", fmt.Sprintf(quiet, "")))
			Expect(res.Calls[0].Answered).To(BeFalse())
			Expect(res.Passed).To(BeFalse())
			Expect(res.Calls[0].Class).To(Equal(judge.ClassBindingExpired))
		})

		DescribeTable("keeps bob reachable through a quiet 50 s",
			func(ctx SpecContext, keys, prefix string, want []time.Duration) {
				res := simulate(ctx, parse("quiet", fmt.Sprintf(quiet, keys)))
				Expect(res.Passed).To(BeTrue(), res.Calls[0].Diagnosis)
				Expect(sentBy(res, "bob", prefix)).To(HaveExactElements(want))
				for _, r := range res.Capture.All() {
					Expect(r.Kind).NotTo(Equal(sim.BindingExpired))
				}
			},
			Entry("CRLF keep-alives every 10 s", ", keep-alive: {method: crlf, interval: 10s}", "\r\n\r\n",
				[]time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second, 50 * time.Second}),
			Entry("OPTIONS keep-alives every 12 s, answered by the registrar", ", keep-alive: {method: options, interval: 12s}", "OPTIONS ",
				[]time.Duration{12 * time.Second, 24 * time.Second, 36 * time.Second, 48 * time.Second}),
			Entry("re-registration at half of register-expires: 20s", ", register-expires: 20s", "REGISTER ",
				[]time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second, 50 * time.Second}),
		)

		It("has the registrar answer OPTIONS keep-alives with 200", func(ctx SpecContext) {
			res := simulate(ctx, parse("quiet", fmt.Sprintf(quiet, ", keep-alive: {method: options, interval: 12s}")))
			Expect(sentBy(res, "proxy-b", "SIP/2.0 200 OK")).To(ContainElement(12 * time.Second))
			Expect(countEvents(res, "bob", ua.KeepAliveSent)).To(Equal(4))
			Expect(countEvents(res, "bob", ua.KeepAliveFailed)).To(BeZero())
		})
	})

	Describe("a callee that hangs up first (callee-talk)", func() {
		It("is not counted as giving up on the ACK", func(ctx SpecContext) {
			s := parse("hangup", strings.Replace(fmt.Sprintf(matrixTemplate, "correct", "correct", ""), "talk: 100ms}", "talk: 100ms, callee-talk: 50ms}", 1))
			Expect(s.Steps[0].CalleeTalk).To(Equal(50 * time.Millisecond))
			res := simulate(ctx, s)
			c := res.Calls[0]
			Expect(c.ACKAtCallee).To(BeTrue())
			Expect(c.CalleeBYE).To(BeFalse())
			Expect(countEvents(res, "bob", ua.BYESent)).To(Equal(1))
			Expect(countEvents(res, "alice", ua.BYEReceived)).To(Equal(1))
			Expect(countEvents(res, "alice", ua.BYESent)).To(BeZero(), "bob's BYE ended alice's side before her talk ran out")
		})
	})
})

// forwarded is proxy-b on an office lan behind a port forward, with advertise (%s:
// extra keys of proxy-b); bob, behind his own home NAT, registers with it through the
// forward, and alice calls him through proxy-a, whose next-hop is proxy-b.
const forwarded = `name: forwarded
nats:
  office-nat: {public: 203.0.113.60, lan: 10.0.0.0/24, forwards: {5080: proxy-b}}
  home-nat: {public: 203.0.113.50, lan: 192.168.1.0/24}
hosts:
  alice: {role: ua, address: 198.51.100.10}
  proxy-a: {role: proxy, address: 203.0.113.1, next-hop: proxy-b}
  proxy-b: {role: proxy, address: 10.0.0.2, registrar: true, nat-handling: correct%s}
  bob: {role: ua, address: 192.168.1.10, register-with: proxy-b}
steps:
  - call: {from: alice, to: bob, via: proxy-a, talk: 1s}
`

var _ = Describe("a proxy behind a port forward", func() {
	It("is a valid register-with and next-hop from outside its NAT, and with advertise the ACK comes back through the forward", func(ctx SpecContext) {
		s := parse("forwarded", fmt.Sprintf(forwarded, ", advertise: 203.0.113.60:5080"))
		Expect(s.Reach("bob", "proxy-b").String()).To(Equal("203.0.113.60:5080"))
		Expect(s.Reach("proxy-a", "proxy-b").String()).To(Equal("203.0.113.60:5080"))
		c := simulate(ctx, s).Calls[0]
		Expect(c.ACKAtCallee).To(BeTrue(), c.Diagnosis)
		Expect(c.Class).To(Equal(judge.ClassACKArrived))
	})

	It("without advertise loses even the 200 OK: its Via names 10.0.0.2:5060, and the NAT forwards 5080, not 5060", func(ctx SpecContext) {
		c := simulate(ctx, parse("forwarded", fmt.Sprintf(forwarded, ""))).Calls[0]
		Expect(c.ACKAtCallee).To(BeFalse())
		Expect(c.ContactAtCaller).To(BeEmpty(), "the 200 OK never reached alice")
		Expect(c.Class).To(Equal(judge.ClassPrivateRoute))
		Expect(c.Blame).To(Equal("proxy-b"))
		Expect(c.Fix).To(ContainSubstring("advertise the public address 203.0.113.60:5080"))
	})

	It("stays unreachable without a forward: a load error naming the NAT", func() {
		yaml := strings.Replace(fmt.Sprintf(forwarded, ""), ", forwards: {5080: proxy-b}", "", 1)
		_, err := scenario.Parse("x.yaml", []byte(yaml))
		Expect(err).To(MatchError(ContainSubstring("office-nat forwards no port to proxy-b")))
	})
})
