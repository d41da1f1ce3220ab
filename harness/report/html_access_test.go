package report_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/html"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

// page renders the HTML page of a bundled scenario and parses it.
func page(name string) *html.Node {
	GinkgoHelper()
	s, res := run(name)
	var b bytes.Buffer
	Expect(report.WriteHTML(&b, s, res, nil)).To(Succeed())
	doc, err := html.Parse(&b)
	Expect(err).NotTo(HaveOccurred())
	return doc
}

// attrOf returns the value of n's attribute key, "" when it has none.
func attrOf(n *html.Node, key string) string {
	v, _ := attr(n, key)
	return v
}

// byID returns the element with id, or nil.
func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if v, _ := attr(n, "id"); v == id && found == nil {
			found = n
		}
	})
	return found
}

var _ = Describe("the HTML ladder's access and marks", func() {
	It("lets the keyboard reach every arrow, each named for a screen reader", func() {
		doc := page("no-nat-handling")
		arrows := 0
		walk(doc, func(n *html.Node) {
			if n.Data != "g" || !hasClass(n, "arrow") {
				return
			}
			arrows++
			Expect(attrOf(n, "tabindex")).To(Equal("0"))
			Expect(attrOf(n, "role")).To(Equal("button"))
			label, _ := attr(n, "aria-label")
			Expect(label).To(MatchRegexp(`^datagram \d+ at \d+\.\d{3} s: \S.* from \S+ to \S+`))
		})
		Expect(arrows).To(BeNumerically(">", 20))
		Expect(text(doc)).To(ContainSubstring("Tab to an arrow"))
	})

	It("has a legend entry for every kind of arrow and mark the ladder draws, the absorbed-ACK note too", func() {
		notes := 0
		for _, name := range []string{"no-nat-handling", "excessive-nat-handling", "binding-expiry-keep-alive"} {
			doc := page(name)
			legend := map[string]bool{}
			used := map[string]bool{}
			walk(doc, func(n *html.Node) {
				if v, ok := attr(n, "data-legend"); ok {
					legend[v] = true
				}
				switch {
				case n.Data == "g" && hasClass(n, "row"):
					cls, _ := attr(n, "class")
					for _, c := range strings.Fields(cls) {
						if c != "row" && c != "arrow" {
							used[c] = true
						}
					}
				case n.Data == "path" && hasClass(n, "xlat"):
					used["xlat"] = true
				case n.Data == "g" && hasClass(n, "contact"):
					cls, _ := attr(n, "class")
					for _, c := range strings.Fields(cls) {
						used[c] = true
					}
				}
			})
			if used["note"] {
				notes++
			}
			for c := range used {
				Expect(legend).To(HaveKey(c), "%s draws %q", name, c)
			}
		}
		Expect(notes).To(Equal(2), "bob's ACK timeout, proxy-b's absorbed ACK")
	})

	It("highlights the Contact line inside each 2xx, with the Contact the rewriting hop had received beside it", func() {
		doc := page("excessive-nat-handling")
		var marks, rewritten, was []string
		walk(doc, func(n *html.Node) {
			switch {
			case n.Data == "mark" && hasClass(n, "rewritten"):
				rewritten = append(rewritten, text(n))
			case n.Data == "mark" && hasClass(n, "contact-line"):
				marks = append(marks, text(n))
			case n.Data == "span" && hasClass(n, "was"):
				was = append(was, text(n))
			}
		})
		Expect(marks).To(ContainElement(Equal("Contact: <sip:bob@192.168.1.10:5060>")), "bob's own, not a rewrite")
		Expect(rewritten).To(ContainElement(Equal("Contact: <sip:bob@203.0.113.2:5060>")), "proxy-a's rewrite")
		Expect(rewritten).To(ContainElement(Equal("Contact: <sip:bob@203.0.113.50:40000>")), "proxy-b's rewrite")
		Expect(was).To(HaveLen(len(rewritten)))
		Expect(was).To(ContainElement(HaveSuffix("it received: sip:bob@203.0.113.50:40000")))
		Expect(was).To(ContainElement(HaveSuffix("it received: sip:bob@192.168.1.10:5060")))
	})

	It("marks every retransmission, pointing at the datagram it repeats, and offers to fold them", func() {
		doc := page("no-nat-handling")
		ids := map[string]bool{}
		retrans := 0
		walk(doc, func(n *html.Node) {
			if n.Data != "g" || !hasClass(n, "arrow") {
				return
			}
			id, _ := attr(n, "data-datagram")
			if of, ok := attr(n, "data-retransmits"); ok {
				Expect(hasClass(n, "retrans")).To(BeTrue())
				Expect(ids).To(HaveKey(of), "datagram %s repeats %s, drawn before it", id, of)
				retrans++
			}
			ids[id] = true
		})
		// bob's 10 retransmitted 200 OKs, relayed by both proxies, and alice's ACK to each.
		Expect(retrans).To(BeNumerically(">=", 40))
		btn := byID(doc, "retrans")
		Expect(btn).NotTo(BeNil())
		Expect(attrOf(btn, "data-n")).To(Equal(strconv.Itoa(retrans)))
		Expect(attrOf(btn, "aria-pressed")).To(Equal("false"))
	})

	It("draws each Contact's box wide enough for its label", func() {
		doc := page("excessive-nat-handling")
		boxes := 0
		walk(doc, func(n *html.Node) {
			if n.Data != "g" || !hasClass(n, "contact") {
				return
			}
			var label string
			var w int
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				switch c.Data {
				case "text":
					label = text(c)
				case "rect":
					v, _ := attr(c, "width")
					w, _ = strconv.Atoi(v)
				}
			}
			// 11 px DejaVu Sans Mono: 0.6 em a character.
			Expect(float64(w)).To(BeNumerically(">=", 6.6*float64(len(label))), label)
			boxes++
		})
		Expect(boxes).To(BeNumerically(">", 0))
	})

	It("writes an index page linking every scenario's page with its verdict and what became of its calls", func() {
		var entries []report.IndexEntry
		for _, name := range []string{"no-nat-handling", "correct-nat-handling"} {
			s, res := run(name)
			entries = append(entries, report.IndexEntry{Scenario: s, Result: res, Page: "out-" + name + ".html"})
		}
		s, _ := run("double-nat")
		entries = append(entries, report.IndexEntry{Scenario: s, Err: errors.New("interrupted"), Page: "out-double-nat.html"})
		var b bytes.Buffer
		Expect(report.WriteHTMLIndex(&b, entries)).To(Succeed())
		doc, err := html.Parse(&b)
		Expect(err).NotTo(HaveOccurred())
		var rows []string
		walk(doc, func(n *html.Node) {
			if n.Data == "tr" && hasClass(n, "scenario") {
				cells := []string{}
				walk(n, func(c *html.Node) {
					switch c.Data {
					case "a":
						cells = append(cells, attrOf(c, "href"))
					case "td":
						cells = append(cells, strings.Join(strings.Fields(text(c)), " "))
					}
				})
				rows = append(rows, strings.Join(cells, " | "))
			}
		})
		Expect(rows).To(HaveLen(3))
		Expect(rows[0]).To(HavePrefix("no-nat-handling../../scenarios/no-nat-handling.yaml | out-no-nat-handling.html | PASS | call dropped as expected: ACK lost at proxy-b, blame proxy-bFix: in proxy-b"))
		Expect(rows[1]).To(HavePrefix("correct-nat-handling../../scenarios/correct-nat-handling.yaml | out-correct-nat-handling.html | PASS | call completed as expected: the ACK reached bob |"))
		Expect(rows[2]).To(HavePrefix("double-nat../../scenarios/double-nat.yaml | out-double-nat.html | FAIL | the run failed (interrupted); the run did not start |"))
		Expect(text(doc)).To(ContainSubstring("3 scenarios, 2 passed, 1 failed"))
	})
})
