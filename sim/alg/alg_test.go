package alg_test

import (
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/sim/alg"
)

// ok is a 200 OK from bob behind NAT: a proxy's Via, his private Contact and an
// SDP line with his private address (24 bytes of body).
const ok = "SIP/2.0 200 OK\r\n" +
	"Via: SIP/2.0/UDP 203.0.113.2:5060;branch=z9hG4bK2\r\n" +
	"Contact: <sip:bob@192.168.10.10:5060>\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 24\r\n\r\n" +
	"c=IN IP4 192.168.10.10\r\n"

var (
	internal = netip.MustParseAddrPort("192.168.10.10:5060")
	external = netip.MustParseAddrPort("203.0.113.5:40000")
)

var _ = Describe("the SIP ALG flavours", func() {
	DescribeTable("rewrite an outbound message as the flavour says, and no Via that is not the phone's",
		func(f alg.Flavour, contact, length, body string) {
			got := string(f.Func()([]byte(ok), internal, external, true))
			Expect(got).To(ContainSubstring(contact + "\r\n"))
			Expect(got).To(ContainSubstring(length + "\r\n"))
			Expect(got).To(HaveSuffix("\r\n\r\n" + body))
			Expect(got).To(ContainSubstring("Via: SIP/2.0/UDP 203.0.113.2:5060;branch=z9hG4bK2\r\n"))
		},
		Entry("rewrite: Contact to the mapping, body to the public address, Content-Length updated", alg.Rewrite,
			"Contact: <sip:bob@203.0.113.5:40000>", "Content-Length: 22", "c=IN IP4 203.0.113.5\r\n"),
		Entry("contact-host: the Contact's host only, the private port kept, the body untouched", alg.ContactHost,
			"Contact: <sip:bob@203.0.113.5:5060>", "Content-Length: 24", "c=IN IP4 192.168.10.10\r\n"),
		Entry("stale-length: rewrite, but Content-Length left as it was", alg.StaleLength,
			"Contact: <sip:bob@203.0.113.5:40000>", "Content-Length: 24", "c=IN IP4 203.0.113.5\r\n"),
	)

	It("turns the mapping in an inbound Via back into the private address, except contact-host, which never rewrote it", func() {
		in := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK1;rport=40000\r\nContent-Length: 0\r\n\r\n"
		Expect(string(alg.Rewrite.Func()([]byte(in), internal, external, false))).To(ContainSubstring("Via: SIP/2.0/UDP 192.168.10.10:5060;branch=z9hG4bK1;rport=40000\r\n"))
		Expect(string(alg.ContactHost.Func()([]byte(in), internal, external, false))).To(Equal(in))
	})

	It("passes what is not SIP unchanged", func() {
		Expect(alg.Rewrite.Func()([]byte("\r\n\r\n"), internal, external, true)).To(Equal([]byte("\r\n\r\n")))
	})

	It("has no ALG for none, and parses exactly its words", func() {
		Expect(alg.None.Func()).To(BeNil())
		for _, f := range alg.Flavours {
			Expect(alg.Parse(string(f))).To(Equal(f))
		}
		_, err := alg.Parse("on")
		Expect(err).To(MatchError(ContainSubstring(`parse sip-alg "on"`)))
	})
})
