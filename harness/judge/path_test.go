package judge

import (
	"net/netip"

	"github.com/emiago/sipgo/sip"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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
