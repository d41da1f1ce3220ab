package main

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

// Captures of sipnatlab validate runs with real proxies as proxy-b (Kamailio 5.6 and
// OpenSIPS 3.6 from the local images, fixtures/ or Debian's stock
// /etc/kamailio/kamailio.cfg of the image), judged again without Docker: what the real
// proxies did must read as it did when the capture was taken.
//
// Each was written by sipnatlab validate --pcap at RFC 3261's timers:
//   - kamailio-correct-as-proxy-b-excessive: --config fixtures/kamailio/correct.cfg --as proxy-b scenarios/excessive-nat-handling.yaml
//   - opensips-correct-as-proxy-b-excessive: --engine opensips --config fixtures/opensips/correct.cfg, the same
//   - kamailio-stock-as-proxy-b-correct: --config (the image's kamailio.cfg) --as proxy-b scenarios/correct-nat-handling.yaml,
//     the relay of that time not recording what the container sent to addresses no host owns
//   - kamailio-stock-with-nat-as-proxy-b-correct: the same with WITH_NAT defined
//   - the -egress ones: with the relay that records everything the container sends (TUN, the
//     scenario's own addresses): the stock config as above, and fixtures/kamailio/none.cfg as
//     proxy-b of scenarios/no-nat-handling.yaml
var _ = Describe("sipnatlab judge on captures of real proxies", func() {
	judged := func(ctx SpecContext, file string) report.CallVerdict {
		GinkgoHelper()
		_, out, stderr := runCLI(ctx, "judge", "--json", "testdata/real/"+file)
		Expect(stderr).To(BeEmpty())
		var v report.Verdict
		Expect(json.Unmarshal([]byte(out), &v)).To(Succeed())
		Expect(v.Scenarios).To(HaveLen(1))
		Expect(v.Scenarios[0].Calls).NotTo(BeEmpty())
		return v.Scenarios[0].Calls[0]
	}

	It("Kamailio's stock config without WITH_NAT: the 408 proxy-b sent after 30 s is named, and proxy-b, which never reached bob, is blamed", func(ctx SpecContext) {
		c := judged(ctx, "kamailio-stock-as-proxy-b-correct.pcapng")
		Expect(c.Answered).To(BeFalse())
		Expect(c.FinalResponse).To(Equal("408 Request Timeout"))
		Expect(c.FinalFrom).To(Equal("proxy-b"))
		Expect(c.Blame).To(Equal("proxy-b"))
		// The registrar stored bob's private Contact: the more specific class says so.
		Expect(c.DiagnosisClass).To(Equal("registration-not-fixed"))
		Expect(c.Diagnosis).To(ContainSubstring("408 Request Timeout"))
	})

	It("the same where the capture holds what left the container: proxy-b sent the INVITE only to bob's private address, so it is blamed, with the fix for where it sends the INVITE", func(ctx SpecContext) {
		c := judged(ctx, "kamailio-stock-as-proxy-b-correct-egress.pcapng")
		Expect(c.FinalResponse).To(Equal("408 Request Timeout"))
		Expect(c.FinalFrom).To(Equal("proxy-b"))
		Expect(c.Blame).To(Equal("proxy-b"))
		Expect(c.DiagnosisClass).To(Equal("registration-not-fixed"))
		Expect(c.Diagnosis).To(ContainSubstring("408 Request Timeout"))
		Expect(c.Diagnosis).To(ContainSubstring("no route to private address 192.168.1.10:5060"))
		Expect(c.Fix).To(ContainSubstring("fix_nated_register()"))
	})

	It("Kamailio's stock config with WITH_NAT: the alias Contact leads to bob, the ACK arrives, nobody is blamed", func(ctx SpecContext) {
		c := judged(ctx, "kamailio-stock-with-nat-as-proxy-b-correct.pcapng")
		Expect(c.ACKAtCallee).To(BeTrue())
		Expect(c.Blame).To(BeEmpty())
		Expect(c.DiagnosisClass).To(Equal("ack-arrived"))
		Expect(c.ContactAtCaller).To(MatchRegexp(`^sip:bob@192\.168\.1\.10:5060;alias=[0-9.]+~40000~1$`))
		for _, h := range c.Hops[1:] {
			Expect(h.LeadsToCallee).To(BeTrue(), "%s: %s", h.Host, h.Resolves)
		}
	})

	It("an ACK lost inside the container is classified from what left it: Kamailio sent it towards bob's private address, private-contact as in process", func(ctx SpecContext) {
		c := judged(ctx, "kamailio-none-as-proxy-b-no-nat-egress.pcapng")
		Expect(c.ACKAtCallee).To(BeFalse())
		Expect(c.DiagnosisClass).To(Equal("private-contact"))
		Expect(c.ACKLostAt).To(Equal("proxy-b"))
		Expect(c.Blame).To(Equal("proxy-b"))
		Expect(c.Diagnosis).To(ContainSubstring("proxy-b sent it to the private Contact sip:bob@192.168.1.10:5060 and it was dropped"))
	})

	It("Kamailio relays 2xx retransmissions after its transaction ended without its reply route: proxy-b's fixed Contact reverts from 7.5 s", func(ctx SpecContext) {
		c := judged(ctx, "kamailio-correct-as-proxy-b-excessive.pcapng")
		Expect(c.Blame).To(Equal("proxy-a"))
		Expect(c.HopChanges).To(HaveLen(1))
		Expect(c.HopChanges[0].Hop).To(Equal("proxy-b"))
		Expect(c.HopChanges[0].AfterMS).To(BeNumerically("~", 7500, 100))
		Expect(c.HopChanges[0].Now).To(Equal("sip:bob@192.168.1.10:5060"))
		Expect(c.Withheld).To(BeEmpty())
		Expect(c.Diagnosis).To(ContainSubstring("proxy-b sent bob's 200 OK on with sip:bob@192.168.1.10:5060 from 7.5 s"))
	})

	It("OpenSIPS passes on no 2xx retransmission after its transaction ended: the seven after 3.5 s are withheld", func(ctx SpecContext) {
		c := judged(ctx, "opensips-correct-as-proxy-b-excessive.pcapng")
		Expect(c.Blame).To(Equal("proxy-a"))
		Expect(c.OKRetransmissions).To(Equal(10))
		Expect(c.Withheld).To(ConsistOf(report.WithheldVerdict{Hop: "proxy-b", Dropped: 7, LastSentMS: c.Withheld[0].LastSentMS}))
		Expect(c.Withheld[0].LastSentMS).To(BeNumerically("~", 3500, 100))
		Expect(c.HopChanges).To(BeEmpty())
		Expect(c.Diagnosis).To(ContainSubstring("proxy-b passed on no 200 OK retransmission after 3.5 s and dropped 7"))
	})
})
