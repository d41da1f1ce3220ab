package proxy_test

import (
	"context"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// callCapture runs a tiny world in simulated time, its identifiers drawn
// from seed: bob, behind a NAT, registers with the proxy; alice calls him
// through it, talks for a second and hangs up. It returns the capture.
func callCapture(seed uint64) []sim.Record {
	GinkgoHelper()
	clock := sim.NewVirtualClock(time.Unix(1e9, 0))
	n := sim.NewNetwork(sim.Config{Clock: clock, Carrier: sim.Memory})
	DeferCleanup(n.Close)
	_, err := n.AddNAT(sim.NATConfig{Name: "home-nat", Public: netip.MustParseAddr("203.0.113.50"),
		LAN: netip.MustParsePrefix("192.168.1.0/24"), Filtering: sim.AddressAndPortDependent})
	Expect(err).NotTo(HaveOccurred())
	open := func(name, addr string) *endpoint.Endpoint {
		h, err := n.AddHost(name, netip.MustParseAddr(addr))
		Expect(err).NotTo(HaveOccurred())
		c, err := h.ListenPacket(5060)
		Expect(err).NotTo(HaveOccurred())
		return endpoint.New(c, endpoint.Config{Clock: clock, IDs: endpoint.NewIDs(seed, name)})
	}
	px := proxy.New(open("proxy", "203.0.113.2"), proxy.Config{Name: "proxy", Registrar: true, Handling: proxy.HandlingCorrect})
	DeferCleanup(px.Close)
	reg := px.Addr()
	bob := ua.New(open("bob", "192.168.1.10"), ua.Config{Name: "bob", Registrar: reg, Domain: reg})
	DeferCleanup(bob.Close)
	alice := ua.New(open("alice", "198.51.100.10"), ua.Config{Name: "alice"})
	DeferCleanup(alice.Close)

	registered := make(chan struct{})
	Expect(bob.StartRegister(func(err error) {
		defer GinkgoRecover()
		Expect(err).NotTo(HaveOccurred())
		close(registered)
	})).To(Succeed())
	Expect(clock.Await(context.Background(), registered)).To(Succeed())
	callID, ended, err := alice.Dial(bob.AOR(), reg, time.Second)
	Expect(err).NotTo(HaveOccurred())
	Expect(clock.Await(context.Background(), ended)).To(Succeed())
	Expect(alice.Established(callID)).To(BeTrue())
	return n.Capture().Records()
}

func payloads(rs []sim.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Kind.String()+" "+r.Hop+" "+r.Time.String()+"\n"+string(r.Data))
	}
	return out
}

var _ = Describe("a simulated run", func() {
	It("gives byte-identical captures for the same seed, and different ones for different seeds", func() {
		first := callCapture(42)
		Expect(payloads(first)).To(ContainElement(ContainSubstring("SIP/2.0 200 OK")))
		Expect(strings.Join(payloads(first), "")).To(ContainSubstring("BYE sip:"))
		Expect(payloads(callCapture(42))).To(Equal(payloads(first)))
		Expect(payloads(callCapture(43))).NotTo(Equal(payloads(first)))
	})
})
