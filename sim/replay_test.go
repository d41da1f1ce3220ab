package sim_test

import (
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
)

var _ = Describe("Replay and ResolveAt", func() {
	// replica builds the test topology again, listening where the live one listens,
	// and replays the live capture into it.
	replica := func(cfg sim.NATConfig, live *world) *world {
		r := newWorldOn(sim.Memory, cfg)
		for _, h := range []*sim.Host{r.alice, r.bob, r.proxy, r.cr} {
			listen(h, 5060)
		}
		listen(r.bob, 5061)
		r.net.Replay(live.net.Capture().Records()...)
		return r
	}
	// questions are the datagrams whose fate depends on home-nat's state after bob
	// sent to proxy:5060 and carrier:5060 sent nothing.
	questions := []struct{ from, dst string }{
		{"proxy", "203.0.113.50:40000"},   // bob's mapping, from the peer it opened to
		{"carrier", "203.0.113.50:40000"}, // the same, from a stranger
		{"proxy", "203.0.113.50:40001"},   // a port no binding holds
		{"alice", "203.0.113.2:5060"},     // out through the NAT: a new binding
		{"proxy", "192.168.1.11:5060"},    // a private address from outside
	}

	DescribeTable("answer at any instant what the live network answered then",
		func(cfg sim.NATConfig) {
			cfg.BindingTimeout = 30 * time.Second
			live := newWorldOn(sim.Memory, cfg)
			for _, h := range []*sim.Host{live.alice, live.bob, live.proxy, live.cr} {
				listen(h, 5060)
			}
			send(listen(live.bob, 5061), ap("203.0.113.2:5060"), "REGISTER")
			type answer struct {
				at time.Time
				r  []sim.Resolution
			}
			ask := func(w *world, at time.Time) []sim.Resolution {
				var out []sim.Resolution
				for _, q := range questions {
					out = append(out, w.net.ResolveAt(at, q.from, 5060, netip.MustParseAddrPort(q.dst)))
				}
				return out
			}
			var seen []answer
			for _, d := range []time.Duration{0, 10 * time.Second, 29 * time.Second, 2 * time.Second} {
				live.clock.Advance(d)
				seen = append(seen, answer{live.clock.Now(), ask(live, live.clock.Now())})
			}
			Expect(seen[0].r[0]).To(Equal(sim.Resolution{OK: true, Host: "bob", Port: 5061}))
			Expect(seen[3].r[0].Cause).To(Equal(sim.CauseBindingExpired), "31 s idle, timeout 30 s")

			r := replica(cfg, live)
			for _, a := range seen {
				Expect(ask(r, a.at)).To(Equal(a.r), "at %s", a.at.Sub(t0))
			}
		},
		Entry("endpoint-independent filtering", sim.NATConfig{Filtering: sim.EndpointIndependent}),
		Entry("address-dependent filtering", sim.NATConfig{Filtering: sim.AddressDependent}),
		Entry("address-and-port-dependent filtering", sim.NATConfig{Filtering: sim.AddressAndPortDependent}),
		Entry("address-and-port-dependent mapping", sim.NATConfig{Mapping: sim.AddressAndPortDependent, Filtering: sim.AddressAndPortDependent}),
	)

	It("follows a binding's expiry and its replacement, as recorded", func() {
		cfg := sim.NATConfig{BindingTimeout: 10 * time.Second}
		live := newWorldOn(sim.Memory, cfg)
		listen(live.proxy, 5060)
		bob := listen(live.bob, 5060)
		send(bob, ap("203.0.113.2:5060"), "one")
		live.clock.Advance(11 * time.Second)
		send(bob, ap("203.0.113.2:5060"), "two") // the old binding expires, a new one is made
		now := live.clock.Now()
		want := live.net.ResolveAt(now, "proxy", 5060, ap("203.0.113.50:40001"))
		Expect(want.OK).To(BeTrue())

		r := replica(cfg, live)
		Expect(r.net.ResolveAt(now, "proxy", 5060, ap("203.0.113.50:40001"))).To(Equal(want))
		Expect(r.net.ResolveAt(now, "proxy", 5060, ap("203.0.113.50:40000"))).To(Equal(live.net.ResolveAt(now, "proxy", 5060, ap("203.0.113.50:40000"))))
	})

	It("sends and records nothing", func() {
		live := newWorldOn(sim.Memory, sim.NATConfig{})
		listen(live.proxy, 5060)
		send(listen(live.bob, 5060), ap("203.0.113.2:5060"), "x")
		r := replica(sim.NATConfig{}, live)
		before := r.net.Stats()
		r.net.ResolveAt(t0, "proxy", 5060, ap("203.0.113.50:40000"))
		Expect(r.net.Capture().Len()).To(BeZero())
		Expect(r.net.Stats()).To(Equal(before))
	})
})
