package sim_test

import (
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/sipnatlab/sipnatlab/sim"
)

var (
	eim, adm, apdm = sim.EndpointIndependent, sim.AddressDependent, sim.AddressAndPortDependent
	eif, adf, apdf = sim.EndpointIndependent, sim.AddressDependent, sim.AddressAndPortDependent
)

// The nine mapping × filtering combinations of RFC 4787 against its definitions. Each
// entry states both signatures, so swapping the mapping or the filtering for another kind
// (or for each other, where they differ) changes at least one:
//
//   - mapping (§4.1): alice sends to proxy:5060, then proxy:5080 (same address, other port),
//     then carrier:5060 (other address); the external ports she gets are
//     EIM 40000 40000 40000, ADM 40000 40000 40001, APDM 40000 40001 40002;
//   - filtering (§5): after alice sent only to proxy:5060, inbound to her external endpoint
//     from proxy:5060, proxy:5090 (same address, port never contacted) and carrier:5060
//     (address never contacted) passes as EIF yes yes yes, ADF yes yes no, APDF yes no no.
var _ = Describe("NAT mapping × filtering (RFC 4787 §4.1, §5): all nine combinations", func() {
	alice := ap("192.168.1.10:5060")
	mappingProbe := []netip.AddrPort{ap("203.0.113.2:5060"), ap("203.0.113.2:5080"), ap("198.51.100.10:5060")}
	filteringProbe := []netip.AddrPort{ap("203.0.113.2:5060"), ap("203.0.113.2:5090"), ap("198.51.100.10:5060")}
	var (
		eimPorts  = []uint16{40000, 40000, 40000}
		admPorts  = []uint16{40000, 40000, 40001}
		apdmPorts = []uint16{40000, 40001, 40002}
		eifPass   = []bool{true, true, true}
		adfPass   = []bool{true, true, false}
		apdfPass  = []bool{true, false, false}
	)
	cfg := func(m, f sim.Behavior) sim.NATConfig {
		return sim.NATConfig{Name: "home-nat", Public: homePublic, LAN: homeLAN, Mapping: m, Filtering: f}
	}
	entries := []TableEntry{
		Entry("EIM + EIF (full cone)", eim, eif, eimPorts, eifPass),
		Entry("EIM + ADF (restricted cone)", eim, adf, eimPorts, adfPass),
		Entry("EIM + APDF (port-restricted cone, RFC 4787 REQ-1 + REQ-8 minimum)", eim, apdf, eimPorts, apdfPass),
		Entry("ADM + EIF", adm, eif, admPorts, eifPass),
		Entry("ADM + ADF", adm, adf, admPorts, adfPass),
		Entry("ADM + APDF", adm, apdf, admPorts, apdfPass),
		Entry("APDM + EIF", apdm, eif, apdmPorts, eifPass),
		Entry("APDM + ADF", apdm, adf, apdmPorts, adfPass),
		Entry("APDM + APDF (symmetric)", apdm, apdf, apdmPorts, apdfPass),
	}

	DescribeTable("in the NAT table",
		func(m, f sim.Behavior, ports []uint16, pass []bool) {
			t := sim.NewTable(cfg(m, f))
			var got []uint16
			for _, remote := range mappingProbe {
				e, _, _, err := t.Outbound(t0, alice, remote)
				Expect(err).NotTo(HaveOccurred())
				Expect(e.Addr()).To(Equal(homePublic))
				got = append(got, e.Port())
			}
			Expect(got).To(Equal(ports), "mapping %s", m)

			var passed []bool
			for _, remote := range filteringProbe {
				t := sim.NewTable(cfg(m, f))
				ext, _, _, err := t.Outbound(t0, alice, filteringProbe[0])
				Expect(err).NotTo(HaveOccurred())
				in, ok, _, _ := t.Inbound(t0.Add(time.Second), remote, ext.Port())
				if ok {
					Expect(in).To(Equal(alice))
				}
				passed = append(passed, ok)
			}
			Expect(passed).To(Equal(pass), "filtering %s", f)
		},
		entries,
	)

	DescribeTable("through the fabric, as the receivers see it",
		func(m, f sim.Behavior, ports []uint16, pass []bool) {
			w := newWorldOn(sim.Memory, cfg(m, f))
			a := listen(w.alice, 5060)
			conns := map[netip.AddrPort]*sim.Conn{}
			for _, r := range append(append([]netip.AddrPort(nil), mappingProbe...), filteringProbe...) {
				if conns[r] == nil {
					conns[r] = listen(w.net.HostByAddr(r.Addr()), r.Port())
				}
			}
			send(a, mappingProbe[0], "first")
			_, from := recv(conns[mappingProbe[0]])
			first := from
			// Filtering is probed while alice has contacted proxy:5060 only.
			var passed []bool
			for _, r := range filteringProbe {
				send(conns[r], first, "probe")
				delivered := last(w.net).Kind != sim.Dropped
				if delivered {
					msg, src := recv(a)
					Expect(msg).To(Equal("probe"))
					Expect(src).To(Equal(r))
				}
				passed = append(passed, delivered)
			}
			Expect(passed).To(Equal(pass), "filtering %s", f)

			got := []uint16{first.Port()}
			for _, r := range mappingProbe[1:] {
				send(a, r, "next")
				_, from := recv(conns[r])
				got = append(got, from.Port())
			}
			Expect(got).To(Equal(ports), "mapping %s", m)
		},
		entries,
	)
})

var _ = Describe("NAT port allocation (RFC 4787 §4.2)", func() {
	alice, bob := ap("192.168.1.10:5060"), ap("192.168.1.11:5060")
	proxy, carrier := ap("203.0.113.2:5060"), ap("198.51.100.10:5060")
	table := func(p sim.PortAllocation, m sim.Behavior, seed uint64) *sim.Table {
		return sim.NewTable(sim.NATConfig{Name: "home-nat", Public: homePublic, LAN: homeLAN, Mapping: m, PortAllocation: p, PortSeed: seed})
	}
	ports := func(t *sim.Table, flows ...[2]netip.AddrPort) []uint16 {
		GinkgoHelper()
		var out []uint16
		for _, f := range flows {
			e, _, _, err := t.Outbound(t0, f[0], f[1])
			Expect(err).NotTo(HaveOccurred())
			out = append(out, e.Port())
		}
		return out
	}

	DescribeTable("ParsePortAllocation and String round-trip",
		func(p sim.PortAllocation, word string) {
			Expect(p.String()).To(Equal(word))
			Expect(sim.ParsePortAllocation(word)).To(Equal(p))
		},
		Entry(nil, sim.SequentialPorts, "sequential"),
		Entry(nil, sim.PreservePorts, "preserve"),
		Entry(nil, sim.RandomPorts, "random"),
	)

	It("rejects unknown words", func() {
		_, err := sim.ParsePortAllocation("cone")
		Expect(err).To(MatchError(ContainSubstring(`"cone"`)))
	})

	It("is sequential from 40000 by default", func() {
		Expect(ports(table(sim.SequentialPorts, eim, 0), [2]netip.AddrPort{alice, proxy}, [2]netip.AddrPort{bob, proxy})).
			To(Equal([]uint16{40000, 40001}))
	})

	It("preserves the internal port while it is free, then falls back to sequential", func() {
		t := table(sim.PreservePorts, apdm, 0)
		got := ports(t,
			[2]netip.AddrPort{alice, proxy},   // 5060 is free: kept
			[2]netip.AddrPort{bob, proxy},     // 5060 is alice's: sequential
			[2]netip.AddrPort{alice, carrier}, // a second APDM binding for alice: sequential
			[2]netip.AddrPort{ap("192.168.1.12:7000"), proxy},
		)
		Expect(got).To(Equal([]uint16{5060, 40000, 40001, 7000}))
	})

	It("frees a preserved port when its binding expires", func() {
		t := table(sim.PreservePorts, eim, 0)
		Expect(ports(t, [2]netip.AddrPort{alice, proxy})).To(Equal([]uint16{5060}))
		e, _, _, err := t.Outbound(t0.Add(sim.DefaultBindingTimeout), bob, proxy)
		Expect(err).NotTo(HaveOccurred())
		Expect(e.Port()).To(Equal(uint16(5060)), "alice's binding expired, so bob gets 5060")
	})

	It("records the expiry of a binding whose preserved port a new binding takes over", func() {
		w := newWorldOn(sim.Memory, sim.NATConfig{PortAllocation: sim.PreservePorts, BindingTimeout: 30 * time.Second})
		a, b, p := listen(w.alice, 5060), listen(w.bob, 5060), listen(w.proxy, 5060)
		send(a, ap("203.0.113.2:5060"), "alice")
		_, from := recv(p)
		Expect(from).To(Equal(ap("203.0.113.50:5060")))
		w.clock.Advance(30 * time.Second)
		send(b, ap("203.0.113.2:5060"), "bob")
		_, from = recv(p)
		Expect(from).To(Equal(ap("203.0.113.50:5060")), "alice's binding expired, so bob gets 5060")
		Expect(hops(w.net, 2)).To(Equal([]string{"sent@bob", "binding-expired@home-nat", "binding-created@home-nat", "translated@home-nat", "delivered@proxy"}))
		Expect(w.nat.Bindings()).To(ConsistOf(MatchFields(IgnoreExtras, Fields{"Internal": Equal(ap("192.168.1.11:5060"))})))
	})

	It("draws random ports from 40000-65535, repeatably for one seed", func() {
		var flows [][2]netip.AddrPort
		for i := range 50 {
			flows = append(flows, [2]netip.AddrPort{alice, netip.AddrPortFrom(proxyAddr, uint16(6000+i))})
		}
		a := ports(table(sim.RandomPorts, apdm, 7), flows...)
		Expect(ports(table(sim.RandomPorts, apdm, 7), flows...)).To(Equal(a), "same seed, same ports")
		Expect(ports(table(sim.RandomPorts, apdm, 8), flows...)).NotTo(Equal(a), "another seed, other ports")
		seen := map[uint16]bool{}
		for _, p := range a {
			Expect(p).To(BeNumerically(">=", 40000))
			Expect(seen[p]).To(BeFalse(), "port %d allocated twice", p)
			seen[p] = true
		}
		Expect(a[:5]).NotTo(Equal([]uint16{40000, 40001, 40002, 40003, 40004}))
	})

	It("predicts a random port without consuming the generator", func() {
		t := table(sim.RandomPorts, eim, 3)
		peek, created, err := t.PeekOutbound(t0, alice, proxy)
		Expect(err).NotTo(HaveOccurred())
		Expect(created).To(BeTrue())
		_, _, _ = t.PeekOutbound(t0, bob, proxy)
		e, _, _, _ := t.Outbound(t0, alice, proxy)
		Expect(e).To(Equal(peek))
	})
})

var _ = Describe("NAT binding refresh (RFC 4787 §4.3, REQ-6)", func() {
	alice, proxy := ap("192.168.1.10:5060"), ap("203.0.113.2:5060")
	DescribeTable("inbound traffic every 20s against a 30s timeout",
		func(refreshInbound bool) {
			t := sim.NewTable(sim.NATConfig{Name: "home-nat", Public: homePublic, LAN: homeLAN,
				BindingTimeout: 30 * time.Second, RefreshInbound: refreshInbound})
			ext, _, _, _ := t.Outbound(t0, alice, proxy)
			_, ok, _, _ := t.Inbound(t0.Add(20*time.Second), proxy, ext.Port())
			Expect(ok).To(BeTrue())
			_, ok, expired, _ := t.Inbound(t0.Add(40*time.Second), proxy, ext.Port())
			Expect(ok).To(Equal(refreshInbound))
			Expect(expired).To(Equal(!refreshInbound))
		},
		Entry("refresh-inbound keeps the binding", true),
		Entry("by default only outbound refreshes: it expires", false),
	)

	It("notes each refresh in the Translated record", func() {
		w := newWorldOn(sim.Memory, sim.NATConfig{RefreshInbound: true})
		a, p := listen(w.alice, 5060), listen(w.proxy, 5060)
		send(a, ap("203.0.113.2:5060"), "1")
		recv(p)
		w.clock.Advance(25 * time.Second)
		send(a, ap("203.0.113.2:5060"), "2")
		recv(p)
		Expect(translated(w.net, 2).Reason).To(Equal("binding 192.168.1.10:5060 -> 203.0.113.50:40000 refreshed (idle 25s)"))
		w.clock.Advance(5 * time.Second)
		send(p, ap("203.0.113.50:40000"), "3")
		recv(a)
		Expect(translated(w.net, 3).Reason).To(Equal("binding 203.0.113.50:40000 -> 192.168.1.10:5060 refreshed by inbound (idle 5s)"))
	})
})

// translated returns the Translated record of datagram id.
func translated(n *sim.Network, id int) sim.Record {
	GinkgoHelper()
	for _, r := range n.Capture().Records() {
		if r.Datagram == id && r.Kind == sim.Translated {
			return r
		}
	}
	Fail("no Translated record")
	return sim.Record{}
}

// nested is a carrier-grade NAT with two home routers on its shared-address LAN:
//
//	alice 192.168.1.10 ── home-1 (100.64.0.2) ─┐
//	                                            ├── cgn (100.64.0.0/10, public 203.0.113.99) ── proxy 203.0.113.2
//	bob   192.168.2.10 ── home-2 (100.64.0.3) ─┘
//	eve   100.64.0.10 (straight on the CGN LAN)
type nested struct {
	net                    *sim.Network
	clock                  *fakeClock
	cgn, home1, home2      *sim.NAT
	alice, bob, eve, proxy *sim.Host
}

func newNested(kind sim.CarrierKind, cgnHairpin bool) *nested {
	GinkgoHelper()
	w := &nested{clock: &fakeClock{now: t0}}
	w.net = sim.NewNetwork(sim.Config{Clock: w.clock, Carrier: kind})
	DeferCleanup(w.net.Close)
	w.cgn = must(w.net.AddNAT(sim.NATConfig{Name: "cgn", Public: netip.MustParseAddr("203.0.113.99"),
		LAN: netip.MustParsePrefix("100.64.0.0/10"), Hairpinning: cgnHairpin, FirstPort: 50000}))
	w.home1 = must(w.net.AddNAT(sim.NATConfig{Name: "home-1", Public: netip.MustParseAddr("100.64.0.2"), LAN: homeLAN}))
	w.home2 = must(w.net.AddNAT(sim.NATConfig{Name: "home-2", Public: netip.MustParseAddr("100.64.0.3"), LAN: netip.MustParsePrefix("192.168.2.0/24")}))
	w.alice = must(w.net.AddHost("alice", aliceAddr))
	w.bob = must(w.net.AddHost("bob", netip.MustParseAddr("192.168.2.10")))
	w.eve = must(w.net.AddHost("eve", netip.MustParseAddr("100.64.0.10")))
	w.proxy = must(w.net.AddHost("proxy", proxyAddr))
	return w
}

// hops lists "kind@hop" for every record of datagram id.
func hops(n *sim.Network, id int) []string {
	var out []string
	for _, r := range n.Capture().Records() {
		if r.Datagram == id {
			out = append(out, r.Kind.String()+"@"+r.Hop)
		}
	}
	return out
}

var _ = Describe("a NAT behind a NAT (carrier-grade NAT, RFC 6598 shared space)", func() {
	for _, kind := range carriers {
		Context("over "+kind.String(), func() {
			It("crosses both NATs outward and both back inward", func() {
				w := newNested(kind, false)
				Expect(w.home1.Outer()).To(Equal(w.cgn))
				Expect(w.cgn.Outer()).To(BeNil())
				Expect(w.alice.NAT()).To(Equal(w.home1))
				Expect(w.eve.NAT()).To(Equal(w.cgn))
				a, p := listen(w.alice, 5060), listen(w.proxy, 5060)
				send(a, ap("203.0.113.2:5060"), "REGISTER")
				_, from := recv(p)
				Expect(from).To(Equal(ap("203.0.113.99:50000")))
				Expect(hops(w.net, 1)).To(Equal([]string{"sent@alice", "binding-created@home-1", "translated@home-1",
					"binding-created@cgn", "translated@cgn", "delivered@proxy"}))
				Expect(w.home1.Bindings()).To(ConsistOf(MatchFields(IgnoreExtras, Fields{
					"Internal": Equal(ap("192.168.1.10:5060")), "External": Equal(ap("100.64.0.2:40000"))})))
				Expect(w.cgn.Bindings()).To(ConsistOf(MatchFields(IgnoreExtras, Fields{
					"Internal": Equal(ap("100.64.0.2:40000")), "External": Equal(ap("203.0.113.99:50000"))})))

				send(p, from, "200 OK")
				msg, src := recv(a)
				Expect(msg).To(Equal("200 OK"))
				Expect(src).To(Equal(ap("203.0.113.2:5060")))
				Expect(hops(w.net, 2)).To(Equal([]string{"sent@proxy", "translated@cgn", "translated@home-1", "delivered@alice"}))
			})

			It("drops the inner NAT's shared address seen from the public side", func() {
				w := newNested(kind, false)
				a, p := listen(w.alice, 5060), listen(w.proxy, 5060)
				send(a, ap("203.0.113.2:5060"), "REGISTER")
				recv(p)
				send(p, ap("100.64.0.2:40000"), "x")
				Expect(last(w.net)).To(MatchFields(IgnoreExtras, Fields{"Kind": Equal(sim.Dropped), "Hop": Equal("proxy"),
					"Reason": Equal("no route to private address 100.64.0.2:40000 from 203.0.113.2 (it lies behind cgn)")}))
			})

			It("lets a host on the CGN LAN reach the home router's mapping without crossing the CGN", func() {
				w := newNested(sim.Memory, false)
				a, e := listen(w.alice, 5060), listen(w.eve, 5060)
				send(a, ap("100.64.0.10:5060"), "hello") // a binding on home-1 only
				_, from := recv(e)
				Expect(from).To(Equal(ap("100.64.0.2:40000")))
				Expect(w.cgn.Bindings()).To(BeEmpty())
				send(e, from, "back")
				msg, _ := recv(a)
				Expect(msg).To(Equal("back"))
				Expect(hops(w.net, 2)).To(Equal([]string{"sent@eve", "translated@home-1", "delivered@alice"}))
			})

			DescribeTable("hairpins on the CGN between two home routers (RFC 4787 §6)",
				func(hairpin bool) {
					w := newNested(kind, hairpin)
					a, b, p := listen(w.alice, 5060), listen(w.bob, 5060), listen(w.proxy, 5060)
					send(b, ap("203.0.113.2:5060"), "REGISTER") // bob: 100.64.0.3:40000, then 203.0.113.99:50000
					_, bobPublic := recv(p)
					Expect(bobPublic).To(Equal(ap("203.0.113.99:50000")))
					send(a, bobPublic, "INVITE")
					if !hairpin {
						Expect(last(w.net)).To(MatchFields(IgnoreExtras, Fields{"Kind": Equal(sim.Dropped), "Hop": Equal("cgn"),
							"Reason": Equal("hairpinning disabled on cgn")}))
						return
					}
					msg, from := recv(b)
					Expect(msg).To(Equal("INVITE"))
					Expect(from).To(Equal(ap("203.0.113.99:50001")), "hairpinned datagrams carry the external source (REQ-9)")
					Expect(hops(w.net, 2)).To(Equal([]string{"sent@alice", "binding-created@home-1", "translated@home-1",
						"binding-created@cgn", "translated@cgn", "translated@cgn", "translated@home-2", "delivered@bob"}))
					_ = a
				},
				Entry("enabled", true),
				Entry("disabled", false),
			)

			It("resolves through both NATs without changing them", func() {
				w := newNested(kind, false)
				a, p := listen(w.alice, 5060), listen(w.proxy, 5060)
				send(a, ap("203.0.113.2:5060"), "REGISTER")
				recv(p)
				n := w.net.Capture().Len()
				host, port, ok, reason := w.net.Resolve("proxy", ap("203.0.113.99:50000"))
				Expect(reason).To(BeEmpty())
				Expect(ok).To(BeTrue())
				Expect(host).To(Equal("alice"))
				Expect(port).To(Equal(uint16(5060)))
				_, _, ok, reason = w.net.Resolve("proxy", ap("192.168.1.10:5060"))
				Expect(ok).To(BeFalse())
				Expect(reason).To(ContainSubstring("it lies behind home-1"))
				Expect(w.net.Capture().Len()).To(Equal(n))
			})
		})
	}
})
