package report_test

import (
	"bytes"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/html"

	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/sim"
)

// walk calls f for every element node under n.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return strings.Contains(" "+v+" ", " "+class+" ")
}

func text(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

var _ = Describe("the HTML ladder", func() {
	DescribeTable("is one self-contained page with an arrow per datagram",
		func(name string) {
			s, res := run(name)
			var b bytes.Buffer
			Expect(report.WriteHTML(&b, s, res, nil)).To(Succeed())
			page := b.String()
			doc, err := html.Parse(strings.NewReader(page))
			Expect(err).NotTo(HaveOccurred())

			// Nothing to fetch: no remote references, no external scripts or styles.
			Expect(page).NotTo(ContainSubstring("http://"))
			Expect(page).NotTo(ContainSubstring("https://"))
			walk(doc, func(n *html.Node) {
				if n.Data == "script" || n.Data == "img" || n.Data == "iframe" {
					_, src := attr(n, "src")
					Expect(src).To(BeFalse(), "<%s src>", n.Data)
				}
				if n.Data == "link" {
					Fail("the page links an external resource")
				}
			})

			datagrams := map[int]bool{}
			for _, r := range res.Capture.All() {
				if r.Datagram != 0 {
					datagrams[r.Datagram] = true
				}
			}
			arrows := map[string]int{}
			messages := 0
			walk(doc, func(n *html.Node) {
				if n.Data == "g" && hasClass(n, "arrow") {
					id, _ := attr(n, "data-datagram")
					arrows[id]++
				}
				if n.Data == "pre" {
					if id, _ := attr(n, "id"); strings.HasPrefix(id, "m") && id != "msg" {
						messages++
					}
				}
			})
			Expect(arrows).To(HaveLen(len(datagrams)))
			for id, n := range arrows {
				Expect(n).To(Equal(1), "datagram %s", id)
			}
			// The full SIP message of every arrow, for click and hover.
			Expect(messages).To(Equal(len(datagrams)))

			// A column per host and NAT, with its address.
			for _, c := range res.Columns {
				Expect(page).To(ContainSubstring(">" + c.Name + "<"))
				Expect(page).To(ContainSubstring(c.Addr.String()))
			}
			Expect(text(doc)).To(ContainSubstring(res.Calls[0].Diagnosis))
		},
		Entry(nil, "no-nat-handling"),
		Entry(nil, "excessive-nat-handling"),
		Entry(nil, "correct-nat-handling"),
	)

	It("highlights the rewritten Contact and shows NAT translations and drops", func() {
		s, res := run("excessive-nat-handling")
		var b bytes.Buffer
		Expect(report.WriteHTML(&b, s, res, nil)).To(Succeed())
		doc, err := html.Parse(strings.NewReader(b.String()))
		Expect(err).NotTo(HaveOccurred())
		var rewritten, plain []string
		xlats := 0
		walk(doc, func(n *html.Node) {
			switch {
			case n.Data == "g" && hasClass(n, "contact") && hasClass(n, "rewritten"):
				rewritten = append(rewritten, text(n))
			case n.Data == "g" && hasClass(n, "contact"):
				plain = append(plain, text(n))
			case n.Data == "path" && hasClass(n, "xlat"):
				xlats++
			}
		})
		// proxy-a's rewrite to proxy-b's own address, on every 200 OK it relays.
		Expect(rewritten).To(ContainElement(ContainSubstring("Contact: sip:bob@203.0.113.2:5060 (rewritten)")))
		Expect(rewritten).To(ContainElement(ContainSubstring("rewritten by the sender from sip:bob@203.0.113.50:40000")))
		// bob's own Contact is not a rewrite.
		Expect(plain).To(ContainElement(ContainSubstring("Contact: sip:bob@192.168.1.10:5060")))
		Expect(xlats).To(BeNumerically(">", 0))
		Expect(b.String()).To(ContainSubstring("names proxy-b itself"))

		s, res = run("no-nat-handling")
		b.Reset()
		Expect(report.WriteHTML(&b, s, res, nil)).To(Succeed())
		Expect(b.String()).To(ContainSubstring("dropped at proxy-b: no route to private address 192.168.1.10:5060"))
		Expect(b.String()).To(MatchRegexp(`class="row arrow ack dropped"`))
	})

	It("labels CRLF keep-alives as the text ladder does, not as (not SIP)", func() {
		s, res := run("binding-expiry-keep-alive")
		var h, t bytes.Buffer
		Expect(report.WriteHTML(&h, s, res, nil)).To(Succeed())
		report.WriteText(&t, s, res, nil, report.TextOptions{})
		doc, err := html.Parse(strings.NewReader(h.String()))
		Expect(err).NotTo(HaveOccurred())
		var labels []string
		walk(doc, func(n *html.Node) {
			if n.Data == "g" && hasClass(n, "arrow") {
				labels = append(labels, text(n))
			}
		})
		keepAlives := 0
		for _, l := range labels {
			Expect(l).NotTo(ContainSubstring("(not SIP)"))
			if strings.Contains(l, "CRLF keep-alive") {
				keepAlives++
			}
		}
		sent := 0
		for _, r := range res.Capture.All() {
			if r.Kind == sim.Sent && string(r.Data) == "\r\n\r\n" {
				sent++
			}
		}
		Expect(sent).To(BeNumerically(">=", 3), "bob's keep-alives every 4 s")
		Expect(keepAlives).To(Equal(sent))
		Expect(strings.Count(t.String(), "CRLF keep-alive")).To(Equal(sent))
	})

	It("and the text ladder mark the same Contacts as rewritten", func() {
		s, res := run("excessive-nat-handling")
		var h, t bytes.Buffer
		Expect(report.WriteHTML(&h, s, res, nil)).To(Succeed())
		report.WriteText(&t, s, res, nil, report.TextOptions{})
		rewrittenHTML := strings.Count(h.String(), `class="contact rewritten"`)
		Expect(rewrittenHTML).To(BeNumerically(">", 0))
		Expect(strings.Count(t.String(), "(rewritten, was ")).To(Equal(rewrittenHTML))
		Expect(t.String()).To(ContainSubstring("» Contact: sip:bob@203.0.113.2:5060 (rewritten, was sip:bob@203.0.113.50:40000)"))
		Expect(t.String()).NotTo(ContainSubstring("» Contact: sip:bob@192.168.1.10:5060 (rewritten"))
	})
})
