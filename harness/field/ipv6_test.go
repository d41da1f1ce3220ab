package field_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket/layers"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/field"
)

// readdress6 rewrites an IPv4 capture to IPv6: headers, and the SIP text (bracketed
// in URIs and sent-by, bare in received, RFC 3261 §25.1), by the map of addresses.
func readdress6(in string, m map[string]string) string {
	six := func(a net.IP) net.IP { return netip.MustParseAddr(m[a.String()]).AsSlice() }
	return rewriteFrames(in, func(ip4 *layers.IPv4, text string) (ipLayer, string) {
		for from, to := range m {
			text = strings.ReplaceAll(text, "received="+from, "received="+to)
			text = strings.ReplaceAll(text, "IN IP4 "+from, "IN IP6 "+to)
			text = strings.ReplaceAll(text, from, "["+to+"]")
		}
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: six(ip4.SrcIP), DstIP: six(ip4.DstIP)}, text
	})
}

var _ = Describe("IPv6", func() {
	six := map[string]string{"198.51.100.10": "2001:db8:51::10", "203.0.113.1": "2001:db8:113::1",
		"203.0.113.2": "2001:db8:113::2", "203.0.113.50": "2001:db8:113::50", "192.168.1.10": "fd00:1::10"}

	It("diagnoses what an IPv6 capture shows and says where it cannot follow a datagram no capture shows arrive", func() {
		d, err := field.Diagnose(context.Background(), []string{readdress6("testdata/sim-no-nat-handling-registrar.pcap", six)}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Calls).To(HaveLen(1))
		c := d.Calls[0]
		Expect(c.Answered).To(BeTrue())
		Expect(c.ACKAtCallee).To(BeFalse())
		Expect(c.CalleeBYE).To(BeTrue())
		Expect(c.Blame).To(Equal("2001:db8:113::2"))
		var text []string
		for _, s := range d.Evidence[0].Statements {
			text = append(text, s.Confidence+": "+s.Text)
		}
		Expect(text).To(ContainElement(HavePrefix("certain: 2001:db8:113::2 sent the ACK (Request-URI sip:bob@[fd00:1::10]:5060) to [fd00:1::10]:5060")))
		Expect(text).To(ContainElement(ContainSubstring("where an IPv6 datagram went is not worked out: the simulated network routes IPv4 only")))
		Expect(d.Evidence[0].HungUpForNoACK).To(BeTrue())
		// What only the IPv4 routing model works out is not claimed.
		Expect(c.Hops).NotTo(BeEmpty())
		for _, h := range c.Hops {
			Expect(h.Leads).To(BeFalse())
			Expect(h.Resolves).To(ContainSubstring("is not an IPv4 prefix"))
		}
		var b strings.Builder
		Expect(d.WriteScenario(&b)).To(MatchError(ContainSubstring("has the IPv6 address fd00:1::10: the scenario format is IPv4 only")))
		Expect(b.String()).To(BeEmpty())
	})

	It("still routes the IPv4 datagrams of a capture that also holds IPv6 ones", func() {
		v4 := "testdata/sim-no-nat-handling-registrar.pcap"
		alone, err := field.Diagnose(context.Background(), []string{v4}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		// The IPv6 copy of the other case, under Call-IDs of its own.
		mixed := readFrames(v4)
		for _, f := range readFrames(readdress6("testdata/sim-correct-nat-handling-registrar.pcap", six)) {
			id := alone.Calls[0].CallID
			f.data = bytes.ReplaceAll(f.data, []byte(id), []byte("v6"+id[2:]))
			mixed = append(mixed, f)
		}
		file := writeFrames(layers.LinkTypeEthernet, mixed)
		d, err := field.Diagnose(context.Background(), []string{file}, field.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Calls).To(HaveLen(2))
		Expect(d.Calls).To(ContainElement(Equal(alone.Calls[0])))
		want := alone.Evidence[0]
		for i, st := range want.Statements {
			want.Statements[i].Text = strings.ReplaceAll(st.Text, v4, file)
		}
		Expect(d.Evidence).To(ContainElement(Equal(want)))
	})
})
