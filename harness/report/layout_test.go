package report_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/html"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

// htmlColumns returns the column names of an HTML page, left to right.
func htmlColumns(page []byte) []string {
	doc, err := html.Parse(bytes.NewReader(page))
	Expect(err).NotTo(HaveOccurred())
	type col struct {
		x    int
		name string
	}
	var cols []col
	walk(doc, func(n *html.Node) {
		if n.Data == "text" && hasClass(n, "colname") {
			v, _ := attr(n, "x")
			x, err := strconv.Atoi(v)
			Expect(err).NotTo(HaveOccurred())
			cols = append(cols, col{x, text(n)})
		}
	})
	slices.SortFunc(cols, func(a, b col) int { return a.x - b.x })
	var names []string
	for _, c := range cols {
		names = append(names, c.name)
	}
	return names
}

var _ = Describe("the ladder's layout", func() {
	DescribeTable("puts every NAT a datagram crossed between its sender's and its receiver's columns",
		func(file string) {
			name := strings.TrimSuffix(filepath.Base(file), ".yaml")
			_, res := run(name)
			l := report.NewLadder(res)
			for _, r := range l.Rows {
				if r.IsNote() || r.To < 0 {
					continue
				}
				hops := map[string]int{}
				for _, x := range r.Xlat {
					hops[x.Hop]++
				}
				for hop, n := range hops {
					if n > 1 {
						continue // a hairpin: in and out of one NAT
					}
					at := l.Column(hop)
					Expect(at).To(BeNumerically(">=", min(r.From, r.To)), "%s: %s from %s to %s crosses %s", name, r.Label, l.Columns[r.From].Name, l.Columns[r.To].Name, hop)
					Expect(at).To(BeNumerically("<=", max(r.From, r.To)), "%s: %s from %s to %s crosses %s", name, r.Label, l.Columns[r.From].Name, l.Columns[r.To].Name, hop)
				}
			}
		},
		bundled(),
	)

	DescribeTable("draws the columns in path order, the caller's NAT beside the caller, in text and HTML",
		func(name string, want []string) {
			s, res := run(name)
			var t, h bytes.Buffer
			report.WriteText(&t, s, res, nil, report.TextOptions{})
			Expect(report.WriteHTML(&h, s, res, nil)).To(Succeed())
			header := strings.Split(t.String(), "\n")[3]
			Expect(strings.Fields(header)).To(Equal(append([]string{"time", "s"}, want...)))
			Expect(htmlColumns(h.Bytes())).To(Equal(want))
		},
		Entry(nil, "both-behind-different-nats", []string{"alice", "nat-a", "proxy", "nat-b", "bob"}),
		Entry(nil, "caller-behind-nat", []string{"alice", "home-nat", "proxy", "bob"}),
		Entry(nil, "same-nat-hairpin-on", []string{"alice", "bob", "home-nat", "proxy"}),
		Entry(nil, "double-nat", []string{"alice", "proxy-a", "proxy-b", "cgn", "home-nat", "bob"}),
	)

	DescribeTable("fits the terminal's width, wrapping the lines under an arrow",
		func(name string, width int) {
			s, res := run(name)
			var b bytes.Buffer
			report.WriteText(&b, s, res, nil, report.TextOptions{Width: width})
			out := b.String()
			ladder, _, found := strings.Cut(out, "\nCall ")
			Expect(found).To(BeTrue())
			lines := strings.Split(ladder, "\n")[3:] // from the column names on
			for _, line := range lines {
				Expect(utf8.RuneCountInString(line)).To(BeNumerically("<=", width), "%q", line)
			}
			// Nothing is lost by wrapping: each NAT translation is there, in words.
			Expect(strings.Join(strings.Fields(ladder), " ")).To(ContainSubstring(
				"home-nat: 192.168.1.10:5060 -> 203.0.113.2:5060 becomes 100.64.0.2:5060 -> 203.0.113.2:5060"))
		},
		Entry(nil, "double-nat", 80),
		Entry(nil, "double-nat", 100),
		Entry(nil, "double-nat", 120),
	)
})
