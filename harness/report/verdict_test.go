package report_test

import (
	"bytes"
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/html"

	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

var _ = Describe("the verdict headline", func() {
	DescribeTable("says what became of the call apart from whether that was expected",
		func(name, want string) {
			s, res := run(name)
			Expect(report.NewHeadline(s, res, nil).String()).To(Equal(want))
		},
		Entry("a lost ACK the scenario expects", "no-nat-handling",
			"PASS no-nat-handling — call dropped as expected: ACK lost at proxy-b, blame proxy-b"),
		Entry("a completed call", "correct-nat-handling",
			"PASS correct-nat-handling — call completed as expected: the ACK reached bob"),
		Entry("a call never answered", "binding-expiry",
			"PASS binding-expiry — call not answered as expected: 408 Request Timeout from proxy-b"),
	)

	It("names the unmet expectations and carries the fix when the expectations fail", func() {
		s, res := run("no-nat-handling")
		res.Passed = false
		res.Expectations[0].OK, res.Expectations[0].Got = false, "true"
		h := report.NewHeadline(s, res, nil)
		Expect(h.Word()).To(Equal("FAIL"))
		Expect(h.String()).To(HavePrefix("FAIL no-nat-handling — call dropped, not as expected: ACK lost at proxy-b, blame proxy-b; unmet: ack-at-callee want false, got true"))
		Expect(h.LostAt).To(Equal("proxy-b"))
		Expect(h.Fix).To(HavePrefix("in proxy-b's reply route, call fix_nated_contact()"))
	})

	It("says when the run failed or never started", func() {
		s, res := run("correct-nat-handling")
		Expect(report.NewHeadline(s, res, errors.New("boom")).String()).To(
			Equal("FAIL correct-nat-handling — the run failed (boom); call completed: the ACK reached bob"))
		Expect(report.NewHeadline(s, nil, errors.New("boom")).String()).To(
			Equal("FAIL correct-nat-handling — the run failed (boom); the run did not start"))
	})

	It("does not call a scenario without expectations expected", func() {
		s, res := run("correct-nat-handling")
		s2 := *s
		s2.Expect = []scenario.Expectation{}
		res.Expectations = nil
		Expect(report.NewHeadline(&s2, res, nil).String()).To(
			Equal("PASS correct-nat-handling — call completed (no expectations to check): the ACK reached bob"))
	})
})

var _ = Describe("the HTML page's headline", func() {
	It("opens the page with the outcome against the expectations and the fix, before the ladder", func() {
		s, res := run("no-nat-handling")
		var b bytes.Buffer
		Expect(report.WriteHTML(&b, s, res, nil)).To(Succeed())
		doc, err := html.Parse(&b)
		Expect(err).NotTo(HaveOccurred())
		var order []string
		var headline string
		walk(doc, func(n *html.Node) {
			switch {
			case hasClass(n, "headline"):
				order = append(order, "headline")
				headline = text(n)
			case n.Data == "svg" && attrOf(n, "role") == "img": // the ladder, not the legend's swatches
				order = append(order, "svg")
			}
		})
		Expect(order).To(HaveLen(2))
		Expect(order[0]).To(Equal("headline"), "the verdict in words comes before the ladder")
		Expect(headline).To(ContainSubstring("PASS — call dropped as expected: ACK lost at proxy-b, blame proxy-b"))
		Expect(headline).To(ContainSubstring("Fix: in proxy-b's reply route, call fix_nated_contact()"))
	})
})
