package harness_test

import (
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

var _ = Describe("an unanswered call", func() {
	DescribeTable("names the final response and the hop that sent it, and blames a proxy that never forwarded the INVITE",
		func(ctx SpecContext, rejecter string, status int, reason, fix string) {
			c := chain{aHandling: "none", bHandling: "correct"}
			extra := ", reject: " + itoa(status)
			if rejecter == "proxy-a" {
				c.aExtra = extra
			} else {
				c.bExtra = extra
			}
			f := runYAML(ctx, "unanswered", c.yaml("unanswered"))
			Expect(f.Answered).To(BeFalse())
			Expect(f.FinalResponse).To(Equal(itoa(status) + " " + reason))
			Expect(f.FinalFrom).To(Equal(rejecter))
			Expect(f.Blame).To(Equal(rejecter), f.Diagnosis)
			Expect(f.Class).To(Equal(judge.ClassNotForwarded))
			Expect(f.Diagnosis).To(ContainSubstring("bob never answered"))
			Expect(f.Diagnosis).To(ContainSubstring(rejecter + " answered alice's INVITE with " + f.FinalResponse))
			Expect(f.Diagnosis).To(ContainSubstring(", without ever forwarding it"))
			Expect(f.Diagnosis).NotTo(ContainSubstring(". "+strings.ToUpper(rejecter[:1])), "no sentence starts with a capitalised host name")
			Expect(f.Fix).To(ContainSubstring(fix))
			Expect(strings.Count(f.Diagnosis, ". ")).To(Equal(1), f.Diagnosis)
		},
		Entry("404 from the registrar", "proxy-b", 404, "Not Found", "check proxy-b's location table"),
		Entry("408 from the registrar", "proxy-b", 408, "Request Timeout", "check proxy-b's route to bob"),
		Entry("483 from the registrar", "proxy-b", 483, "Too Many Hops", "check why proxy-b refused the INVITE"),
		Entry("480 from the first proxy", "proxy-a", 480, "Temporarily Unavailable", "check proxy-a's location table"),
	)

	It("blames nobody when the INVITE was forwarded and a NAT whose binding expired dropped it, and still names the 408", func(ctx SpecContext) {
		s, err := scenario.Load("../scenarios/binding-expiry.yaml")
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		f := res.Calls[0]
		Expect(f.FinalResponse).To(Equal("408 Request Timeout"))
		Expect(f.FinalFrom).To(Equal("proxy-b"))
		Expect(f.Blame).To(BeEmpty())
		Expect(f.Class).To(Equal(judge.ClassBindingExpired))
		Expect(f.Diagnosis).To(ContainSubstring("proxy-b answered alice's INVITE with 408 Request Timeout"))
	})
})

var _ = Describe("2xx retransmissions after a proxy's transaction ended (late-2xx)", func() {
	// The excessive case: the ACK is lost, so bob retransmits his 200 OK at +0.5,
	// 1.5, 3.5, 7.5 … 31.5 s; a proxy's transaction ends 5 s after the first.
	excessive := func(aLate, bLate string) chain {
		c := chain{aHandling: "excessive", bHandling: "correct"}
		if aLate != "" {
			c.aExtra = ", late-2xx: " + aLate
		}
		if bLate != "" {
			c.bExtra = ", late-2xx: " + bLate
		}
		return c
	}

	It("by default (reply-route, RFC 3261 §16.7) runs the reply route for all eleven: the caller sees one Contact", func(ctx SpecContext) {
		f := runYAML(ctx, "late-default", excessive("", "").yaml("late-default"))
		Expect(f.OKRetransmissions).To(Equal(10))
		Expect(f.ContactChanges).To(BeEmpty())
		Expect(f.Withheld).To(BeEmpty())
		Expect(f.Blame).To(Equal("proxy-a"))
	})

	It("relay (Kamailio): from the first retransmission after 5 s the Contact reverts, the caller sees it change, and the blame stays on the first 2xx's", func(ctx SpecContext) {
		f := runYAML(ctx, "late-relay", excessive("relay", "relay").yaml("late-relay"))
		Expect(f.ContactChanges).To(HaveLen(1))
		c := f.ContactChanges[0]
		Expect(c.After).To(BeNumerically("~", 7500*time.Millisecond, 10*time.Millisecond))
		Expect(c.Was).To(Equal("sip:bob@203.0.113.2:5060"))
		Expect(c.Now).To(Equal("sip:bob@192.168.1.10:5060"))
		Expect(c.Hop).To(Equal("proxy-b"))
		Expect(c.HopSent).To(Equal("sip:bob@192.168.1.10:5060"))
		Expect(f.ContactAtCaller).To(Equal("sip:bob@203.0.113.2:5060"))
		Expect(f.Blame).To(Equal("proxy-a"))
		Expect(f.Diagnosis).To(ContainSubstring("The Contact alice saw changed 7.5 s after bob's first 200 OK, from sip:bob@203.0.113.2:5060 to sip:bob@192.168.1.10:5060"))
		Expect(f.Diagnosis).To(ContainSubstring("RFC 3261 §12.1.2"))
	})

	It("relay on the proxy next to the callee only: the rewriting proxy before the caller hides the change", func(ctx SpecContext) {
		f := runYAML(ctx, "late-relay-b", excessive("", "relay").yaml("late-relay-b"))
		Expect(f.ContactChanges).To(BeEmpty())
		Expect(f.OKRetransmissions).To(Equal(10))
	})

	It("drop (OpenSIPS): the proxy passes on the first four 2xx and drops the seven after 5 s; the report says so", func(ctx SpecContext) {
		f := runYAML(ctx, "late-drop", excessive("", "drop").yaml("late-drop"))
		Expect(f.OKRetransmissions).To(Equal(10))
		Expect(f.CalleeBYE).To(BeTrue())
		Expect(f.Withheld).To(HaveLen(1))
		w := f.Withheld[0]
		Expect(w.Hop).To(Equal("proxy-b"))
		Expect(w.Dropped).To(Equal(7))
		Expect(w.LastSent).To(BeNumerically("~", 3500*time.Millisecond, 10*time.Millisecond))
		Expect(f.ContactChanges).To(BeEmpty())
		Expect(f.Diagnosis).To(ContainSubstring("proxy-b passed on no 200 OK retransmission after 3.5 s and dropped 7"))
	})
})

func itoa(n int) string { return strconv.Itoa(n) }
