package report_test

import (
	"bytes"
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// run runs a bundled scenario in simulated time.
func run(name string) (*scenario.Scenario, *harness.Result) {
	s, err := scenario.Load("../../scenarios/" + name + ".yaml")
	Expect(err).NotTo(HaveOccurred())
	res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
	Expect(err).NotTo(HaveOccurred())
	return s, res
}

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
		Expect(out).To(ContainSubstring("bob: no ACK for the 200 OK within 32s"))
		Expect(out).To(ContainSubstring("ACK lost at: proxy-b   blame: proxy-b"))
		Expect(out).To(ContainSubstring("PASS no-nat-handling"))
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
