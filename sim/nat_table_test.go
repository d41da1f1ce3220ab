package sim_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
)

var _ = Describe("Behavior", func() {
	DescribeTable("round-trips through ParseBehavior and String",
		func(b sim.Behavior, word string) {
			Expect(b.String()).To(Equal(word))
			Expect(sim.ParseBehavior(word)).To(Equal(b))
		},
		Entry(nil, sim.EndpointIndependent, "endpoint-independent"),
		Entry(nil, sim.AddressDependent, "address-dependent"),
		Entry(nil, sim.AddressAndPortDependent, "address-and-port-dependent"),
	)
	It("rejects unknown words, quoting them", func() {
		_, err := sim.ParseBehavior("symmetric")
		Expect(err).To(MatchError(ContainSubstring(`"symmetric"`)))
	})
})

var _ = Describe("Kind", func() {
	It("names every kind", func() {
		words := []string{"sent", "translated", "delivered", "dropped", "binding-created", "binding-expired"}
		for k, w := range words {
			Expect(sim.Kind(k).String()).To(Equal(w))
		}
	})
})

var _ = Describe("NAT table (RFC 4787 state machine)", func() {
	cfg := func(m, f sim.Behavior) sim.NATConfig {
		return sim.NATConfig{Name: "home-nat", Public: homePublic, LAN: homeLAN, Mapping: m, Filtering: f}
	}
	alice, bob := ap("192.168.1.10:5060"), ap("192.168.1.11:5060")
	proxy, carrier := ap("203.0.113.2:5060"), ap("198.51.100.10:5060")

	DescribeTable("mapping (§4.1): external port for a second destination",
		func(m sim.Behavior, second string, wantSame bool) {
			t := sim.NewTable(cfg(m, sim.EndpointIndependent))
			e1, created, _, err := t.Outbound(t0, alice, proxy)
			Expect(err).NotTo(HaveOccurred())
			Expect(created).To(BeTrue())
			Expect(e1).To(Equal(ap("203.0.113.50:40000")))
			e2, created2, _, err := t.Outbound(t0, alice, ap(second))
			Expect(err).NotTo(HaveOccurred())
			Expect(created2).To(Equal(!wantSame))
			if wantSame {
				Expect(e2).To(Equal(e1))
			} else {
				Expect(e2).To(Equal(ap("203.0.113.50:40001")))
			}
		},
		Entry("EIM, other host", sim.EndpointIndependent, "198.51.100.10:5060", true),
		Entry("ADM, same IP other port", sim.AddressDependent, "203.0.113.2:5080", true),
		Entry("ADM, other IP", sim.AddressDependent, "198.51.100.10:5060", false),
		Entry("APDM, same IP other port", sim.AddressAndPortDependent, "203.0.113.2:5080", false),
		Entry("APDM, same endpoint", sim.AddressAndPortDependent, "203.0.113.2:5060", true),
	)

	DescribeTable("filtering (§5): inbound after alice sent to proxy:5060",
		func(f sim.Behavior, from string, wantOK bool) {
			t := sim.NewTable(cfg(sim.EndpointIndependent, f))
			ext, _, _, err := t.Outbound(t0, alice, proxy)
			Expect(err).NotTo(HaveOccurred())
			in, ok, _, reason := t.Inbound(t0.Add(time.Second), ap(from), ext.Port())
			Expect(ok).To(Equal(wantOK), reason)
			if ok {
				Expect(in).To(Equal(alice))
			} else {
				Expect(reason).To(ContainSubstring("filtered by home-nat (" + f.String() + " filtering)"))
				Expect(reason).To(ContainSubstring("never contacted from 192.168.1.10:5060"))
			}
		},
		Entry(nil, sim.EndpointIndependent, "203.0.113.2:5060", true),
		Entry(nil, sim.EndpointIndependent, "198.51.100.10:5060", true),
		Entry(nil, sim.AddressDependent, "203.0.113.2:5060", true),
		Entry(nil, sim.AddressDependent, "203.0.113.2:5080", true),
		Entry(nil, sim.AddressDependent, "198.51.100.10:5060", false),
		Entry(nil, sim.AddressAndPortDependent, "203.0.113.2:5060", true),
		Entry(nil, sim.AddressAndPortDependent, "203.0.113.2:5080", false),
		Entry(nil, sim.AddressAndPortDependent, "198.51.100.10:5060", false),
	)

	It("drops inbound without a binding, naming the external endpoint", func() {
		t := sim.NewTable(cfg(0, 0))
		_, ok, _, reason := t.Inbound(t0, proxy, 40001)
		Expect(ok).To(BeFalse())
		Expect(reason).To(Equal("no binding for 203.0.113.50:40001 on home-nat"))
	})

	It("expires bindings lazily after the timeout, refreshed by outbound traffic only (§4.3)", func() {
		c := cfg(0, 0)
		c.BindingTimeout = 30 * time.Second
		t := sim.NewTable(c)
		ext, _, _, _ := t.Outbound(t0, alice, proxy)
		_, ok, _, _ := t.Inbound(t0.Add(29*time.Second), proxy, ext.Port())
		Expect(ok).To(BeTrue(), "inbound within the timeout")
		_, _, _, _ = t.Outbound(t0.Add(20*time.Second), alice, proxy) // refresh
		_, ok, _, _ = t.Inbound(t0.Add(49*time.Second), proxy, ext.Port())
		Expect(ok).To(BeTrue(), "outbound refreshed the binding")
		Expect(t.Bindings(t0.Add(50 * time.Second))).To(BeEmpty())
		Expect(t.Size()).To(Equal(1), "expiry is lazy")
		_, ok, expired, reason := t.Inbound(t0.Add(50*time.Second), proxy, ext.Port())
		Expect(ok).To(BeFalse())
		Expect(expired).To(BeTrue())
		Expect(reason).To(ContainSubstring("expired"))
		Expect(t.Size()).To(BeZero())
		_, ok, expired, reason = t.Inbound(t0.Add(51*time.Second), proxy, ext.Port())
		Expect(ok).To(BeFalse())
		Expect(expired).To(BeFalse(), "expiry is recorded once")
		Expect(reason).To(HavePrefix("no binding"))
	})

	It("replaces an expired binding on outbound with a fresh port", func() {
		t := sim.NewTable(cfg(0, 0))
		ext, _, _, _ := t.Outbound(t0, alice, proxy)
		ext2, created, expired, err := t.Outbound(t0.Add(sim.DefaultBindingTimeout), alice, proxy)
		Expect(err).NotTo(HaveOccurred())
		Expect(created).To(BeTrue())
		Expect(expired).To(BeTrue())
		Expect(ext2.Port()).To(Equal(ext.Port() + 1))
	})

	It("allocates ports sequentially from FirstPort, skipping used ones and wrapping", func() {
		c := cfg(sim.AddressAndPortDependent, 0)
		c.FirstPort = 65534
		t := sim.NewTable(c)
		var ports []uint16
		for _, remote := range []string{"203.0.113.2:1", "203.0.113.2:2"} {
			e, _, _, err := t.Outbound(t0, alice, ap(remote))
			Expect(err).NotTo(HaveOccurred())
			ports = append(ports, e.Port())
		}
		Expect(ports).To(Equal([]uint16{65534, 65535}))
		_, _, _, err := t.Outbound(t0, bob, proxy)
		Expect(err).To(MatchError(ContainSubstring("no free external port")))
		// Once alice's first binding expires, its port is free again.
		e, _, _, err := t.Outbound(t0.Add(3*time.Minute), alice, ap("203.0.113.2:1"))
		Expect(err).NotTo(HaveOccurred())
		Expect(e.Port()).To(Equal(uint16(65534)))
	})

	It("predicts without changing state", func() {
		t := sim.NewTable(cfg(0, 0))
		e, created, err := t.PeekOutbound(t0, alice, proxy)
		Expect(err).NotTo(HaveOccurred())
		Expect(created).To(BeTrue())
		Expect(e).To(Equal(ap("203.0.113.50:40000")))
		Expect(t.Size()).To(BeZero())
		_, _, _, _ = t.Outbound(t0, alice, proxy)
		e, created, _ = t.PeekOutbound(t0, bob, carrier)
		Expect(created).To(BeTrue())
		Expect(e.Port()).To(Equal(uint16(40001)))
		Expect(t.Size()).To(Equal(1))
	})
})
