package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/html"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

// headless runs Chromium headless on the page file with args (--screenshot,
// --dump-dom) and returns its standard output. Chromium gets a profile of its own and
// a proxy on a closed loopback port, so that nothing it might fetch leaves the machine.
func headless(ctx SpecContext, file string, args ...string) string {
	GinkgoHelper()
	bin := tool("chromium")
	base := []string{"--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
		"--proxy-server=127.0.0.1:9", "--user-data-dir=" + GinkgoT().TempDir(), "--virtual-time-budget=2000"}
	if os.Geteuid() == 0 {
		base = append(base, "--no-sandbox") // Chromium's sandbox refuses root
	}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+file)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	Expect(cmd.Run()).To(Succeed(), stderr.String())
	return stdout.String()
}

// browserChecks is run by the page in Chromium after its own script: it drives the
// page with the keyboard and the fold button, measures what the browser drew, and
// leaves the findings as JSON in <pre id="checks">.
const browserChecks = `<script>
(function () {
  var out = {};
  var arrows = Array.prototype.slice.call(document.querySelectorAll("svg .arrow"));
  function key(k) { document.activeElement.dispatchEvent(new KeyboardEvent("keydown", {key: k, bubbles: true})); }
  function index() { return arrows.indexOf(document.activeElement); }
  arrows[0].focus();
  out.focusFirst = index();
  key("ArrowDown"); key("ArrowDown");
  out.afterDown = index();
  key("ArrowUp");
  out.afterUp = index();
  key("End");
  out.afterEnd = index();
  key("Home");
  out.afterHome = index();
  // Enter on the first 2xx a hop rewrote: its message, its Contact line marked.
  var ok = arrows.filter(function (g) { return g.querySelector(".contact.rewritten"); })[0];
  ok.focus();
  key("Enter");
  out.selected = ok.classList.contains("sel") && ok.getAttribute("aria-pressed") === "true";
  var msg = document.getElementById("msg");
  out.message = msg.textContent.split(/\r?\n/)[0];
  var mark = msg.querySelector("mark.rewritten");
  out.mark = mark ? mark.textContent : "";
  var was = msg.querySelector(".was");
  out.was = was ? was.textContent : "";
  // Every label inside its box.
  out.spills = [];
  document.querySelectorAll("svg .contact").forEach(function (c) {
    var t = c.querySelector("text").getBBox(), r = c.querySelector("rect").getBBox();
    if (t.x < r.x || t.x + t.width > r.x + r.width) { out.spills.push(c.querySelector("text").textContent); }
  });
  // Every arrow's label clear of the NAT marks on it.
  out.covered = [];
  arrows.forEach(function (g) {
    var l = g.querySelector(".lbl").getBBox();
    g.querySelectorAll(".xlat").forEach(function (x) {
      var b = x.getBBox();
      if (l.x < b.x + b.width && b.x < l.x + l.width && l.y < b.y + b.height && b.y < l.y + l.height) { out.covered.push(g.id); }
    });
  });
  // Fold the retransmissions away and back.
  var svg = document.querySelector(".ladder svg"), btn = document.getElementById("retrans");
  function shown() { return arrows.filter(function (g) { return g.getBoundingClientRect().height > 0; }).length; }
  out.arrows = arrows.length;
  out.retrans = document.querySelectorAll("svg .arrow.retrans").length;
  out.height = +svg.getAttribute("height");
  btn.click();
  out.foldedShown = shown();
  out.foldedHeight = +svg.getAttribute("height");
  out.pressed = btn.getAttribute("aria-pressed");
  var last = arrows.filter(function (g) { return !g.classList.contains("retrans"); }).pop();
  out.lastBottom = last.getBBox().y + last.getBBox().height + (last.transform.baseVal.numberOfItems ? last.transform.baseVal.getItem(0).matrix.f : 0);
  btn.click();
  out.unfoldedShown = shown();
  out.unfoldedHeight = +svg.getAttribute("height");
  var pre = document.createElement("pre");
  pre.id = "checks";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
`

var _ = Describe("the HTML ladder in headless Chromium", func() {
	It("is driven by the keyboard, shows the rewritten Contact in the message, keeps labels in their boxes, folds retransmissions, and draws the ladder", func(ctx SpecContext) {
		s, res := run("excessive-nat-handling")
		var b bytes.Buffer
		Expect(report.WriteHTML(&b, s, res, nil)).To(Succeed())
		dir := GinkgoT().TempDir()
		checked := filepath.Join(dir, "checked.html")
		Expect(os.WriteFile(checked, bytes.Replace(b.Bytes(), []byte("</body>"), []byte(browserChecks+"</body>"), 1), 0o644)).To(Succeed())

		// One launch: the DOM once the checks ran, and a screenshot of the page.
		shot := filepath.Join(dir, "page.png")
		dom := headless(ctx, checked, "--dump-dom", "--screenshot="+shot, "--window-size=1400,1000", "--hide-scrollbars")
		doc, err := html.Parse(strings.NewReader(dom))
		Expect(err).NotTo(HaveOccurred())
		pre := byID(doc, "checks")
		Expect(pre).NotTo(BeNil(), "the checks ran: %s", dom[:min(len(dom), 500)])
		var got struct {
			FocusFirst, AfterDown, AfterUp, AfterEnd, AfterHome int
			Selected                                            bool
			Message, Mark, Was                                  string
			Spills, Covered                                     []string
			Arrows, Retrans, FoldedShown, UnfoldedShown         int
			Height, FoldedHeight, UnfoldedHeight, LastBottom    float64
			Pressed                                             string
		}
		Expect(json.Unmarshal([]byte(text(pre)), &got)).To(Succeed(), text(pre))

		Expect([]int{got.FocusFirst, got.AfterDown, got.AfterUp, got.AfterHome}).To(Equal([]int{0, 2, 1, 0}))
		Expect(got.AfterEnd).To(Equal(got.Arrows - 1))
		Expect(got.Selected).To(BeTrue())
		Expect(got.Message).To(Equal("SIP/2.0 200 OK"))
		Expect(got.Mark).To(HavePrefix("Contact: <sip:bob@203.0.113.50:40000>"), "proxy-b's rewrite, the first")
		Expect(got.Was).To(HaveSuffix("it received: sip:bob@192.168.1.10:5060"))
		Expect(got.Spills).To(BeEmpty())
		Expect(got.Covered).To(BeEmpty(), "labels under a NAT's mark")

		Expect(got.Retrans).To(BeNumerically(">", 0))
		Expect(got.FoldedShown).To(Equal(got.Arrows - got.Retrans))
		Expect(got.Pressed).To(Equal("true"))
		Expect(got.FoldedHeight).To(BeNumerically("<", got.Height))
		Expect(got.LastBottom).To(BeNumerically("<=", got.FoldedHeight), "the rows close up")
		Expect([]any{got.UnfoldedShown, got.UnfoldedHeight}).To(Equal([]any{got.Arrows, got.Height}))

		f, err := os.Open(shot)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		img, err := png.Decode(f)
		Expect(err).NotTo(HaveOccurred())
		Expect(img.Bounds().Size()).To(Equal(image.Pt(1400, 1000)))
		// Pixels of the colours the page paints with, each a fact on the page.
		want := map[string]color.RGBA{
			"rewritten Contact box": {0xff, 0xab, 0x40, 0xff},
			"Contact box":           {0xff, 0xf5, 0x9d, 0xff},
			"INVITE arrow":          {0x15, 0x65, 0xc0, 0xff},
			"2xx arrow":             {0x2e, 0x7d, 0x32, 0xff},
			"ACK arrow":             {0xef, 0x6c, 0x00, 0xff},
			"note mark":             {0xc6, 0x28, 0x28, 0xff},
		}
		count := map[string]int{}
		bounds := img.Bounds()
		for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
			for x := bounds.Min.X; x < bounds.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				for name, c := range want {
					if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
						count[name]++
					}
				}
			}
		}
		for name := range want {
			Expect(count[name]).To(BeNumerically(">", 20), fmt.Sprintf("%s drawn", name))
		}
		AddReportEntry("screenshot", shot)
	}, SpecTimeout(time.Minute))
})
