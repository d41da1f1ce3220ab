package judge

import (
	"net/netip"

	"github.com/emiago/sipgo/sip"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

var _ = Describe("where an ACK for a Contact goes", func() {
	DescribeTable("the Contact's host and port, or the address of a nathelper alias",
		func(contact string, want string, alias bool) {
			var u sip.Uri
			Expect(sip.ParseUri(contact, &u)).To(Succeed())
			dst, isAlias, err := contactTarget(u)
			Expect(err).NotTo(HaveOccurred())
			Expect(dst).To(Equal(netip.MustParseAddrPort(want)))
			Expect(isAlias).To(Equal(alias))
		},
		Entry("a plain Contact", "sip:bob@192.168.1.10:5060", "192.168.1.10:5060", false),
		Entry("no port: 5060", "sip:bob@203.0.113.50", "203.0.113.50:5060", false),
		Entry("set_contact_alias()", "sip:bob@192.168.1.10:5060;alias=203.0.113.50~40000~1", "203.0.113.50:40000", true),
		Entry("an alias among other parameters", "sip:bob@192.168.1.10;transport=udp;alias=203.0.113.50~40001~1;ob", "203.0.113.50:40001", true),
	)

	It("refuses an alias it cannot read, saying so", func() {
		var u sip.Uri
		Expect(sip.ParseUri("sip:bob@192.168.1.10;alias=nonsense", &u)).To(Succeed())
		_, _, err := contactTarget(u)
		Expect(err).To(MatchError(ContainSubstring(`"nonsense"`)))
	})
})

var _ = Describe("a Contact with a nathelper alias", func() {
	const ok200 = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:alice@198.51.100.10>;tag=a\r\nTo: <sip:bob@203.0.113.2>;tag=b\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:bob@192.168.1.10:5060;alias=203.0.113.50~40000~1>\r\nContent-Length: 0\r\n\r\n"
	bob := scenario.Host{Name: "bob", Address: netip.MustParseAddrPort("192.168.1.10:5060")}
	private := netip.MustParseAddrPort("192.168.1.10:5060")
	mapping := netip.MustParseAddrPort("203.0.113.50:40000")
	parse := func() *sip.Response {
		m, err := sip.ParseMessage([]byte(ok200))
		Expect(err).NotTo(HaveOccurred())
		return m.(*sip.Response)
	}
	sent := &sim.Record{Seq: 1, Kind: sim.Sent, Hop: "proxy-b"}

	It("leads to the callee when the proxy that sends the ACK strips the alias and routes to it (handle_ruri_alias())", func() {
		acks := map[ackSend]*ackOutcome{{"proxy-b", mapping}: {first: sent, arrived: true, end: &sim.Record{Kind: sim.Delivered, Hop: "bob"}}}
		var h HopContact
		Expect(leads(acks, "proxy-b", parse(), bob, sent, &h)).To(BeNil())
		Expect(h.Leads).To(BeTrue())
		Expect(h.Resolves).To(Equal("leads to bob (through its alias 203.0.113.50:40000, where proxy-b sent the ACK: handle_ruri_alias())"))
	})

	It("leads where the ACK went when the proxy that sends it ignores the alias: to the private address, dropped", func() {
		dropped := &sim.Record{Kind: sim.Dropped, Hop: "proxy-b", Reason: "no route to private address 192.168.1.10:5060"}
		acks := map[ackSend]*ackOutcome{{"proxy-b", private}: {first: sent, end: dropped}}
		var h HopContact
		Expect(leads(acks, "proxy-b", parse(), bob, sent, &h)).To(BeNil())
		Expect(h.Leads).To(BeFalse())
		Expect(h.Resolves).To(HavePrefix("leads nowhere: no route to private address 192.168.1.10:5060"))
		Expect(h.Resolves).To(ContainSubstring("not to its alias 203.0.113.50:40000: no handle_ruri_alias() there"))
	})

	It("asks the replayed network about the alias's address when no ACK went either way", func() {
		var h HopContact
		q := leads(map[ackSend]*ackOutcome{}, "proxy-b", parse(), bob, sent, &h)
		Expect(q).NotTo(BeNil())
		Expect(q.dst).To(Equal(mapping))
		Expect(q.alias).To(BeTrue())
	})
})
