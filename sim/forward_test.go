package sim_test

import (
	"bytes"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/alg"
)

// officeWorld is a proxy at 10.0.0.2 behind office-nat, which forwards 203.0.113.60:port
// to it, and alice on the public side, on the memory carrier: a datagram is queued by the
// write that sends it, so a read right after it returns it.
func officeWorld(cfg sim.NATConfig) (n *sim.Network, alice, proxy, lanHost *sim.Conn) {
	n = sim.NewNetwork(sim.Config{Carrier: sim.Memory})
	DeferCleanup(n.Close)
	cfg.Name, cfg.Public, cfg.LAN = "office-nat", netip.MustParseAddr("203.0.113.60"), netip.MustParsePrefix("10.0.0.0/24")
	must(n.AddNAT(cfg))
	alice = must(must(n.AddHost("alice", netip.MustParseAddr("198.51.100.10"))).ListenPacket(5060))
	proxy = must(must(n.AddHost("proxy", netip.MustParseAddr("10.0.0.2"))).ListenPacket(5060))
	lanHost = must(must(n.AddHost("bob", netip.MustParseAddr("10.0.0.10"))).ListenPacket(5060))
	return n, alice, proxy, lanHost
}

func read(c *sim.Conn) (string, netip.AddrPort) {
	GinkgoHelper()
	buf := make([]byte, 2048)
	k, src, err := c.ReadFromAddrPort(buf)
	Expect(err).NotTo(HaveOccurred())
	return string(buf[:k]), src
}

var _ = Describe("static port forwards", func() {
	fwd := sim.NATConfig{Forwards: []sim.Forward{{Port: 5060, To: ap("10.0.0.2:5060")}}}

	It("lets anyone reach the forwarded host at the public port, and the host's replies leave from it", func() {
		n, alice, proxy, _ := officeWorld(fwd)
		must(alice.WriteToAddrPort([]byte("hello"), ap("203.0.113.60:5060")))
		msg, src := read(proxy)
		Expect(msg).To(Equal("hello"))
		Expect(src).To(Equal(ap("198.51.100.10:5060")))

		must(proxy.WriteToAddrPort([]byte("back"), ap("198.51.100.10:5060")))
		msg, src = read(alice)
		Expect(msg).To(Equal("back"))
		Expect(src).To(Equal(ap("203.0.113.60:5060")), "the reply leaves from the forwarded public port")

		var notes []string
		for _, r := range n.Capture().Records() {
			if r.Kind == sim.Translated {
				notes = append(notes, r.Reason)
			}
		}
		Expect(notes).To(Equal([]string{"static forward 203.0.113.60:5060 -> 10.0.0.2:5060", "static forward 10.0.0.2:5060 -> 203.0.113.60:5060"}))
	})

	It("forwards nothing to a port it does not forward", func() {
		n, alice, _, _ := officeWorld(fwd)
		must(alice.WriteToAddrPort([]byte("hello"), ap("203.0.113.60:5070")))
		recs := n.Capture().Records()
		Expect(recs[len(recs)-1].Kind).To(Equal(sim.Dropped))
		Expect(recs[len(recs)-1].Cause).To(Equal(sim.CauseNoBinding))
	})

	It("never gives a forwarded port to a dynamic binding", func() {
		_, alice, _, bob := officeWorld(sim.NATConfig{Forwards: []sim.Forward{{Port: sim.DefaultFirstPort, To: ap("10.0.0.2:5060")}}})
		must(bob.WriteToAddrPort([]byte("out"), ap("198.51.100.10:5060")))
		_, src := read(alice)
		Expect(src).To(Equal(netip.AddrPortFrom(netip.MustParseAddr("203.0.113.60"), sim.DefaultFirstPort+1)))
	})
})

var _ = Describe("a NAT's SIP ALG", func() {
	register := "REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK1;rport\r\nContact: <sip:bob@10.0.0.10:5060>\r\nContent-Length: 0\r\n\r\n"

	It("rewrites the payload of what leaves through a binding, keeps it as sent in the Sent record, and restores the Via inbound", func() {
		n, alice, _, bob := officeWorld(sim.NATConfig{ALG: alg.Rewrite.Func()})
		must(bob.WriteToAddrPort([]byte(register), ap("198.51.100.10:5060")))
		msg, src := read(alice)
		Expect(src).To(Equal(ap("203.0.113.60:40000")))
		Expect(msg).To(ContainSubstring("Via: SIP/2.0/UDP 203.0.113.60:40000;branch=z9hG4bK1;rport\r\n"))
		Expect(msg).To(ContainSubstring("Contact: <sip:bob@203.0.113.60:40000>\r\n"))

		var sent, xlat *sim.Record
		recs := n.Capture().Records()
		for i := range recs {
			switch recs[i].Kind {
			case sim.Sent:
				sent = &recs[i]
			case sim.Translated:
				xlat = &recs[i]
			}
		}
		Expect(string(sent.Data)).To(Equal(register))
		Expect(string(xlat.Data)).To(Equal(msg))
		Expect(xlat.Reason).To(ContainSubstring("SIP ALG rewrote the payload"))

		reply := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.60:40000;branch=z9hG4bK1;rport=40000\r\nContent-Length: 0\r\n\r\n"
		must(alice.WriteToAddrPort([]byte(reply), src))
		back, _ := read(bob)
		Expect(back).To(ContainSubstring("Via: SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK1;rport=40000\r\n"))
	})

	It("leaves a forwarded host's payload and a CRLF keep-alive alone", func() {
		_, alice, proxy, bob := officeWorld(sim.NATConfig{ALG: alg.Rewrite.Func(), Forwards: []sim.Forward{{Port: 5060, To: ap("10.0.0.2:5060")}}})
		must(proxy.WriteToAddrPort([]byte(register), ap("198.51.100.10:5060")))
		msg, _ := read(alice)
		Expect(msg).To(Equal(register))
		must(bob.WriteToAddrPort([]byte("\r\n\r\n"), ap("198.51.100.10:5060")))
		msg, _ = read(alice)
		Expect(bytes.Equal([]byte(msg), []byte("\r\n\r\n"))).To(BeTrue())
	})
})
