package report_test

import (
	"bytes"
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/match"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// run runs a bundled scenario in simulated time.
func run(name string) (*scenario.Scenario, *harness.Result) {
	s, err := scenario.Load("../../scenarios/" + name + ".yaml")
	Expect(err).NotTo(HaveOccurred())
	res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
	Expect(err).NotTo(HaveOccurred())
	return s, res
}

// reports renders the text, HTML and explain reports of res.
func reports(s *scenario.Scenario, res *harness.Result, runErr error) (text, page, explain string) {
	GinkgoHelper()
	var t, h, e bytes.Buffer
	report.WriteText(&t, s, res, runErr, report.TextOptions{})
	Expect(report.WriteHTML(&h, s, res, runErr)).To(Succeed())
	report.WriteExplain(&e, s, res)
	return t.String(), h.String(), e.String()
}

var _ = Describe("the text, HTML and explain reports", func() {
	DescribeTable("are byte for byte the same for two simulated runs, and for the run judged again from its pcapng",
		func(ctx SpecContext, file string) {
			s := match.Load(file)
			a, errA := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
			b, errB := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
			Expect(errA).NotTo(HaveOccurred())
			Expect(errB).NotTo(HaveOccurred())
			textA, pageA, explainA := reports(s, a, nil)
			textB, pageB, explainB := reports(s, b, nil)
			Expect(textB).To(Equal(textA))
			Expect(pageB).To(Equal(pageA))
			Expect(explainB).To(Equal(explainA))

			var pcap bytes.Buffer
			Expect(report.WritePcap(&pcap, a, nil)).To(Succeed())
			back, runErr, err := report.ReadPcap(&pcap)
			Expect(err).NotTo(HaveOccurred())
			Expect(back.Events).To(BeEmpty(), "a saved capture has no actor events")
			textC, pageC, explainC := reports(back.Scenario, back, runErr)
			Expect(textC).To(Equal(textA))
			Expect(pageC).To(Equal(pageA))
			Expect(explainC).To(Equal(explainA))
		},
		match.Entries("../../scenarios"),
	)
})

var _ = Describe("the text report", func() {
	It("fits 100 columns and shows every hop, the Contacts, the drop and the verdict", func() {
		s, res := run("no-nat-handling")
		var b bytes.Buffer
		report.WriteText(&b, s, res, nil, report.TextOptions{})
		out := b.String()
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "  diagnosis:") || strings.Contains(line, "dropped at") || strings.Contains(line, ": leads") || strings.Contains(line, "becomes") {
				continue // prose lines wrap in the terminal
			}
			Expect(len([]rune(line))).To(BeNumerically("<=", 100), line)
		}
		Expect(out).To(ContainSubstring("alice"))
		Expect(out).To(ContainSubstring("home-nat"))
		Expect(out).To(ContainSubstring("» Contact: sip:bob@192.168.1.10:5060"))
		Expect(out).To(MatchRegexp(`-X ACK`))
		Expect(out).To(ContainSubstring("dropped at proxy-b: no route to private address 192.168.1.10:5060"))
		for _, n := range res.Trace.AllNotes() {
			if n.Cause == ua.CauseACKTimeout {
				Expect(out).To(ContainSubstring(" 32.000 bob: " + n.Reason + "\n"))
			}
		}
		Expect(out).To(ContainSubstring("bob: no ACK for the 2xx within 32s"))
		Expect(out).To(ContainSubstring("ACK lost at: proxy-b   blame: proxy-b"))
		Expect(out).To(ContainSubstring("\nPASS no-nat-handling — call dropped as expected: ACK lost at proxy-b, blame proxy-b\n     fix: in proxy-b's reply route, call fix_nated_contact()"))
		Expect(strings.Count(out, "200 OK------")).To(BeNumerically(">=", 11))
	})

	It("colours only when asked", func() {
		s, res := run("excessive-nat-handling")
		var plain, color bytes.Buffer
		report.WriteText(&plain, s, res, nil, report.TextOptions{})
		report.WriteText(&color, s, res, nil, report.TextOptions{Color: true})
		Expect(plain.String()).NotTo(ContainSubstring("\x1b["))
		Expect(color.String()).To(ContainSubstring("\x1b[1;33m» Contact: sip:bob@203.0.113.2:5060"))
	})
})
