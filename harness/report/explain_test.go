package report_test

import (
	"bytes"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

var _ = Describe("explain", func() {
	type story struct {
		lostAt, blame string
		says          []string // exact header values and steps the narrative must quote
		fix           string
	}
	DescribeTable("tells each bundled scenario step by step: where the ACK stopped, who broke the Contact, the lesson and the fix",
		func(name string, want story) {
			s, res := run(name)
			var b bytes.Buffer
			report.WriteExplain(&b, s, res)
			out := b.String()
			Expect(out).To(ContainSubstring("Step 1. alice calls bob: the INVITE"))
			Expect(out).To(ContainSubstring("bob answers with 200 OK: its Contact at every hop"))
			Expect(out).To(ContainSubstring("alice acknowledges: the ACK"))
			Expect(out).To(ContainSubstring("lost at: " + want.lostAt + " "))
			Expect(out).To(ContainSubstring("blame: " + want.blame + " "))
			for _, sub := range want.says {
				Expect(out).To(ContainSubstring(sub))
			}
			Expect(out).To(ContainSubstring("The lesson\n  " + strings.TrimSpace(s.Lesson)[:40]))
			_, fix, found := strings.Cut(out, "The fix\n")
			Expect(found).To(BeTrue())
			Expect(fix).To(ContainSubstring(want.fix))
		},
		Entry(nil, "no-nat-handling", story{lostAt: "proxy-b", blame: "proxy-b",
			says: []string{
				"bob sends 200 OK to 203.0.113.2:5060 with Contact: sip:bob@192.168.1.10:5060",
				"proxy-a sends 200 OK to 198.51.100.10:5060 with Contact: sip:bob@192.168.1.10:5060",
				"alice sends ACK sip:bob@192.168.1.10:5060 (Route: <sip:203.0.113.1:5060;lr>, <sip:203.0.113.2:5060;lr>)",
				"proxy-b sends ACK sip:bob@192.168.1.10:5060 (no Route) to 192.168.1.10:5060: DROPPED at proxy-b: no route to private address",
				"The first hop whose Contact no longer leads to bob: proxy-b.",
				"hung up with BYE",
			},
			fix: "call fix_nated_contact()"}),
		Entry(nil, "excessive-nat-handling", story{lostAt: "proxy-b", blame: "proxy-a",
			says: []string{
				"proxy-b sends 200 OK to 203.0.113.1:5060 with Contact: sip:bob@203.0.113.50:40000",
				"proxy-a REWROTE the Contact: it received sip:bob@203.0.113.50:40000",
				"proxy-a sends 200 OK to 198.51.100.10:5060 with Contact: sip:bob@203.0.113.2:5060",
				"proxy-a sends ACK sip:bob@203.0.113.2:5060 (Route: <sip:203.0.113.2:5060;lr>) to 203.0.113.2:5060: delivered to proxy-b",
				"It stopped at proxy-b: ACK's Request-URI sip:bob@203.0.113.2:5060 names proxy-b itself",
			},
			fix: "never to replies relayed by another proxy"}),
		Entry(nil, "correct-nat-handling", story{lostAt: "none", blame: "none",
			says: []string{
				"proxy-a sends 200 OK to 198.51.100.10:5060 with Contact: sip:bob@203.0.113.50:40000",
				"proxy-b sends ACK sip:bob@203.0.113.50:40000 (no Route) to 203.0.113.50:40000: delivered to bob",
				"The ACK reached bob",
			},
			fix: "Nothing to fix"}),
	)
})
