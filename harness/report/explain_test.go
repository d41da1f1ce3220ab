package report_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/sim/alg"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// explain runs a scenario in simulated time and tells it.
func explain(s *scenario.Scenario) (*harness.Result, string) {
	res, err := harness.Run(context.Background(), s, harness.Options{Clock: harness.Simulated})
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Calls).NotTo(BeEmpty())
	var b bytes.Buffer
	report.WriteExplain(&b, s, res)
	return res, b.String()
}

// fixSays is, per diagnosis class, what the fix sentence must say: the
// OpenSIPS/Kamailio change of the class (README, "Teaching").
var fixSays = map[judge.Class][]string{
	judge.ClassACKArrived:           {"Nothing to fix"},
	judge.ClassPrivateContact:       {"fix_nated_contact()", "reply route"},
	judge.ClassContactNamesProxy:    {"fix_nated_contact() only to replies straight from a NATed end-point", "never to replies relayed by another proxy"},
	judge.ClassFilteredByNAT:        {"Record-Route (record_route())"},
	judge.ClassNoHairpin:            {"Record-Route (record_route())", "enable hairpinning"},
	judge.ClassBindingExpired:       {"keep-alives more often than", "binding timeout", "re-register"},
	judge.ClassOKLost:               {"force_rport()"},
	judge.ClassNotAnswered:          {"INVITE reach"},
	judge.ClassPrivateRoute:         {"advertise", "socket=udp:", " as "},
	judge.ClassSIPALG:               {"SIP ALG (", "fix_nated_contact()"},
	judge.ClassNoRport:              {"force_rport()", "rport in its Via"},
	judge.ClassRegistrationNotFixed: {"fix_nated_register()", "save(\"location\")"},
}

// twin is the correct twin of a bundled scenario whose ACK is lost: the
// scenario with the fix the explanation names applied (fix), and the bundled
// file that shows the same network working, when there is one (file). Each
// must get the ACK to the callee.
type twin struct {
	file string
	// fixes change the host or NAT the explanation's fix names, one way
	// each when it names several.
	fixes map[string]func(*scenario.Scenario)
}

func host(s *scenario.Scenario, name string) *scenario.Host {
	for i := range s.Hosts {
		if s.Hosts[i].Name == name {
			return &s.Hosts[i]
		}
	}
	Fail("no host " + name + " in " + s.Name)
	return nil
}

func nat(s *scenario.Scenario, name string) *scenario.NAT {
	for i := range s.NATs {
		if s.NATs[i].Name == name {
			return &s.NATs[i]
		}
	}
	Fail("no NAT " + name + " in " + s.Name)
	return nil
}

var twins = map[string]twin{
	"no-nat-handling": {file: "correct-nat-handling", fixes: map[string]func(*scenario.Scenario){
		"proxy-b": func(s *scenario.Scenario) { host(s, "proxy-b").NATHandling = proxy.HandlingCorrect },
	}},
	"excessive-nat-handling": {file: "correct-nat-handling", fixes: map[string]func(*scenario.Scenario){
		"proxy-a": func(s *scenario.Scenario) { host(s, "proxy-a").NATHandling = proxy.HandlingCorrect },
	}},
	"late-2xx-retransmissions": {fixes: map[string]func(*scenario.Scenario){
		"proxy-a": func(s *scenario.Scenario) { host(s, "proxy-a").NATHandling = proxy.HandlingCorrect },
	}},
	"same-nat-hairpin-off": {file: "same-nat-hairpin-on", fixes: map[string]func(*scenario.Scenario){
		"proxy":    func(s *scenario.Scenario) { host(s, "proxy").RecordRoute = true },
		"home-nat": func(s *scenario.Scenario) { nat(s, "home-nat").Hairpinning = true },
	}},
	"no-record-route-filtering": {fixes: map[string]func(*scenario.Scenario){
		"proxy-b": func(s *scenario.Scenario) { host(s, "proxy-b").RecordRoute = true },
	}},
	"proxy-behind-nat": {file: "proxy-behind-nat-advertise", fixes: map[string]func(*scenario.Scenario){
		"proxy": func(s *scenario.Scenario) { host(s, "proxy").Advertise = s.Forwarded("proxy")[0] },
	}},
	"sip-alg": {file: "sip-alg-off", fixes: map[string]func(*scenario.Scenario){
		"home-nat": func(s *scenario.Scenario) { nat(s, "home-nat").SIPALG = alg.None },
	}},
	"no-rport": {file: "no-rport-forced", fixes: map[string]func(*scenario.Scenario){
		"proxy": func(s *scenario.Scenario) { host(s, "proxy").ForceRport = true },
		"bob":   func(s *scenario.Scenario) { host(s, "bob").Rport = true },
	}},
	"registration-not-fixed": {file: "registration-fixed", fixes: map[string]func(*scenario.Scenario){
		"proxy": func(s *scenario.Scenario) { host(s, "proxy").FixRegister = true },
	}},
	"binding-expiry": {file: "binding-expiry-keep-alive", fixes: map[string]func(*scenario.Scenario){
		"bob": func(s *scenario.Scenario) {
			host(s, "bob").KeepAlive = &scenario.KeepAlive{Method: ua.KeepAliveCRLF, Interval: nat(s, "home-nat").BindingTimeout / 2}
		},
	}},
}

// copyScenario copies the slices a twin changes, so the original stays as loaded.
func copyScenario(s *scenario.Scenario) *scenario.Scenario {
	c := *s
	c.Hosts = append([]scenario.Host(nil), s.Hosts...)
	c.NATs = append([]scenario.NAT(nil), s.NATs...)
	return &c
}

// bundled lists every scenario file when the tree is built, so that a new
// file is covered without touching this spec.
func bundled() []TableEntry {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		panic("no bundled scenarios")
	}
	var entries []TableEntry
	for _, f := range files {
		entries = append(entries, Entry(strings.TrimSuffix(filepath.Base(f), ".yaml"), f))
	}
	return entries
}

var _ = Describe("explain", func() {
	DescribeTable("tells every bundled scenario: where the ACK stopped, who broke the Contact, the lesson and a fix that makes the correct twin pass",
		func(file string) {
			s, err := scenario.Load(file)
			Expect(err).NotTo(HaveOccurred())
			res, out := explain(s)
			c := res.Calls[0]

			// The judgement agrees with the scenario's own expect block.
			for _, e := range s.Expect {
				switch e.Key {
				case scenario.ExpectBlame:
					Expect(c.Blame).To(Equal(e.Host), "expect: blame")
				case scenario.ExpectACKAtCallee:
					Expect(c.ACKAtCallee).To(Equal(*e.Bool), "expect: ack-at-callee")
				}
			}

			Expect(out).To(ContainSubstring("Step 1. %s calls %s: the INVITE", c.From, c.To))
			// The verdict names the lost-at hop and the blamed hop.
			verdict := "lost at: none "
			if !c.ACKAtCallee {
				Expect(c.ACKLostAt).NotTo(BeEmpty())
				_, known := s.Host(c.ACKLostAt)
				Expect(known).To(BeTrue(), "lost at %q, a host of the scenario", c.ACKLostAt)
				verdict = "lost at: " + c.ACKLostAt + " "
			}
			Expect(out).To(ContainSubstring(verdict))
			if c.Blame == "" {
				Expect(out).To(ContainSubstring("blame: none "))
			} else {
				Expect(out).To(ContainSubstring("blame: " + c.Blame + " "))
			}
			Expect(out).To(ContainSubstring("class: " + string(c.Class)))

			// The story says what became of the ACK, in the step that follows it.
			switch {
			case c.ACKAtCallee:
				Expect(out).To(ContainSubstring("The ACK reached " + c.To))
				Expect(out).To(ContainSubstring("Every hop passed on a Contact that leads to " + c.To))
			case !c.Answered:
				Expect(out).To(ContainSubstring(c.To + " never answered."))
			case c.ContactAtCaller == "":
				Expect(out).To(ContainSubstring("No ACK for the 200 OK was ever sent, so none reached %s.", c.To))
			default:
				Expect(out).To(ContainSubstring("The ACK never reached %s. It stopped at %s: ", c.To, c.ACKLostAt))
				contactBlamed := false
				for _, h := range c.Hops {
					if h.Host == c.Blame {
						contactBlamed = !h.Leads
					}
				}
				switch {
				case c.Blame != "" && contactBlamed:
					Expect(out).To(ContainSubstring("The first hop whose Contact no longer leads to %s: %s.", c.To, c.Blame))
				case c.Blame != "":
					Expect(out).To(ContainSubstring("the hop to blame is %s", c.Blame))
				}
			}

			if s.Lesson != "" {
				Expect(out).To(ContainSubstring("The lesson\n  " + strings.TrimSpace(s.Lesson)[:40]))
			}
			_, fix, found := strings.Cut(out, "The fix\n")
			Expect(found).To(BeTrue())
			says, ok := fixSays[c.Class]
			Expect(ok).To(BeTrue(), "no fix sentence known for class %s", c.Class)
			for _, sub := range says {
				Expect(fix).To(ContainSubstring(sub))
			}
			if c.Blame != "" {
				Expect(fix).To(ContainSubstring(c.Blame), "the fix names the blamed hop")
			}
			if c.ACKAtCallee {
				return
			}

			// The ACK is lost: the fix the explanation names makes the
			// scenario's correct twin pass.
			tw, ok := twins[s.Name]
			Expect(ok).To(BeTrue(), "%s loses its ACK: add its correct twin to the table", s.Name)
			for name, apply := range tw.fixes {
				Expect(fix).To(ContainSubstring(name), "the fix names %s", name)
				fixed := copyScenario(s)
				apply(fixed)
				res, out := explain(fixed)
				Expect(res.Calls[0].ACKAtCallee).To(BeTrue(), "%s with %s fixed:\n%s", s.Name, name, out)
				Expect(res.Calls[0].Class).To(Equal(judge.ClassACKArrived))
				Expect(out).To(ContainSubstring("Nothing to fix"))
			}
			if tw.file != "" {
				t, err := scenario.Load(filepath.Join(filepath.Dir(file), tw.file+".yaml"))
				Expect(err).NotTo(HaveOccurred())
				res, out := explain(t)
				Expect(res.Calls[0].ACKAtCallee).To(BeTrue(), "%s, the twin of %s:\n%s", tw.file, s.Name, out)
				Expect(out).To(ContainSubstring("lost at: none   blame: none   class: ack-arrived"))
			}
		},
		bundled(),
	)

	It("has a lesson in docs/lessons.md for every bundled scenario, with the command to run it", func() {
		course, err := os.ReadFile("../../docs/lessons.md")
		Expect(err).NotTo(HaveOccurred())
		files, err := filepath.Glob("../../scenarios/*.yaml")
		Expect(err).NotTo(HaveOccurred())
		for _, f := range files {
			Expect(string(course)).To(ContainSubstring("sipnatlab explain scenarios/"+filepath.Base(f)), "docs/lessons.md")
		}
	})

	type story struct {
		says []string // exact header values and steps the narrative must quote
	}
	DescribeTable("quotes the exact header values of each hop",
		func(name string, want story) {
			s, res := run(name)
			var b bytes.Buffer
			report.WriteExplain(&b, s, res)
			out := b.String()
			for _, sub := range want.says {
				Expect(out).To(ContainSubstring(sub))
			}
		},
		Entry("the private Contact relayed unchanged", "no-nat-handling", story{says: []string{
			"bob sends 200 OK to 203.0.113.2:5060 with Contact: sip:bob@192.168.1.10:5060",
			"proxy-a sends 200 OK to 198.51.100.10:5060 with Contact: sip:bob@192.168.1.10:5060",
			"alice sends ACK sip:bob@192.168.1.10:5060 (Route: <sip:203.0.113.1:5060;lr>, <sip:203.0.113.2:5060;lr>)",
			"proxy-b sends ACK sip:bob@192.168.1.10:5060 (no Route) to 192.168.1.10:5060: DROPPED at proxy-b: no route to private address",
			"The first hop whose Contact no longer leads to bob: proxy-b.",
			"hung up with BYE",
		}}),
		Entry("the relayed Contact rewritten to proxy-b", "excessive-nat-handling", story{says: []string{
			"proxy-b sends 200 OK to 203.0.113.1:5060 with Contact: sip:bob@203.0.113.50:40000",
			"proxy-a REWROTE the Contact: it received sip:bob@203.0.113.50:40000",
			"proxy-a sends 200 OK to 198.51.100.10:5060 with Contact: sip:bob@203.0.113.2:5060",
			"proxy-a sends ACK sip:bob@203.0.113.2:5060 (Route: <sip:203.0.113.2:5060;lr>) to 203.0.113.2:5060: delivered to proxy-b",
			"It stopped at proxy-b: ACK's Request-URI sip:bob@203.0.113.2:5060 names proxy-b itself",
		}}),
		Entry("the Contact fixed once", "correct-nat-handling", story{says: []string{
			"proxy-a sends 200 OK to 198.51.100.10:5060 with Contact: sip:bob@203.0.113.50:40000",
			"proxy-b sends ACK sip:bob@203.0.113.50:40000 (no Route) to 203.0.113.50:40000: delivered to bob",
			"The ACK reached bob",
		}}),
		Entry("the BYE of a callee that hangs up itself, dropped on its way to the caller's private Contact", "caller-behind-nat", story{says: []string{
			"bob sends BYE sip:alice@192.168.1.20:5060 to 203.0.113.2:5060: delivered to proxy",
			"proxy sends BYE sip:alice@192.168.1.20:5060 to 192.168.1.20:5060: DROPPED at proxy: no route to private address 192.168.1.20:5060",
			"alice never heard that bob hung up",
			"But when bob hung up, its BYE to alice's Contact sip:alice@192.168.1.20:5060 was dropped at proxy",
			"fix alice's Contact in the request route too (fix_nated_contact() after nat_uac_test())",
		}}),
		Entry("the registration before a quiet wait, and the binding timeout it outlasts", "binding-expiry", story{says: []string{
			"Before the call\n",
			"0.000 s  bob sends REGISTER to 203.0.113.2:5060: delivered to proxy-b",
			"home-nat translates 192.168.1.10:5060 -> 203.0.113.2:5060 into 203.0.113.50:40000 -> 203.0.113.2:5060",
			"15.0 s of silence before the call, longer than home-nat's\n  10s binding timeout",
			"DROPPED at home-nat: binding 192.168.1.10:5060 -> 203.0.113.50:40000 on home-nat expired",
		}}),
		Entry("the keep-alives that refresh the binding", "binding-expiry-keep-alive", story{says: []string{
			"bob sends 3 keep-alives to 203.0.113.2:5060, from 4.000 s to 12.000 s: each one refreshes its NAT binding.",
			"bob last sent at 12.000 s, 3.0 s before the call, inside the binding timeout (home-nat: 10s).",
		}}),
		Entry("the hairpin the ACK needs from inside the NAT", "same-nat-hairpin-off", story{says: []string{
			"alice sends ACK sip:bob@203.0.113.50:40001 (no Route) to 203.0.113.50:40001: DROPPED at home-nat: hairpinning disabled on home-nat",
			"alice, inside home-nat's LAN, sent it to the public mapping sip:bob@203.0.113.50:40001",
		}}),
		Entry("the filter in front of a callee reached without Record-Route", "no-record-route-filtering", story{says: []string{
			"alice sends ACK sip:bob@203.0.113.50:40000 (no Route) to 203.0.113.50:40000: DROPPED at home-nat: filtered by home-nat",
			"home-nat only lets in peers bob has sent to",
		}}),
		Entry("two NATs on the way in", "double-nat", story{says: []string{
			"cgn translates 203.0.113.2:5060 -> 203.0.113.99:40000 into 203.0.113.2:5060 -> 100.64.0.2:5060",
			"home-nat translates 203.0.113.2:5060 -> 100.64.0.2:5060 into 203.0.113.2:5060 -> 192.168.1.10:5060",
		}}),
	)
})

var _ = Describe("explain, lesson 13 of docs/lessons.md (the 200 OK goes astray)", func() {
	It("says the caller never sent an ACK for the 200 OK, and what its ACK for the 408 was, as the lesson quotes", func(ctx SpecContext) {
		course, err := os.ReadFile("../../docs/lessons.md")
		Expect(err).NotTo(HaveOccurred())
		_, lesson, ok := strings.Cut(string(course), "## Lesson 13")
		Expect(ok).To(BeTrue())
		_, yaml, ok := strings.Cut(lesson, "```yaml\n")
		Expect(ok).To(BeTrue())
		yaml, _, _ = strings.Cut(yaml, "```")
		s, err := scenario.Parse("lesson-13.yaml", []byte(yaml))
		Expect(err).NotTo(HaveOccurred())
		res, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
		Expect(err).NotTo(HaveOccurred())
		var b bytes.Buffer
		report.WriteExplain(&b, s, res)
		out := b.String()
		Expect(res.Calls[0].Class).To(Equal(judge.ClassOKLost))
		Expect(out).To(ContainSubstring("alice never received the 200 OK, so it never sent an ACK for it."))
		Expect(out).To(ContainSubstring("alice sends ACK to 10.0.0.2:5060 for the 408 Request Timeout it received"))
		Expect(out).NotTo(ContainSubstring("alice sends ACK sip:"), "no ACK for a 2xx is told")
		Expect(out).To(ContainSubstring("No ACK for the 200 OK was ever sent, so none reached bob."))
		Expect(out).NotTo(ContainSubstring("alice never sent an ACK."), "not after telling the ACK alice did send")
		// Every quote of the lesson's "Look at" is in what explain prints.
		_, look, ok := strings.Cut(lesson, "*Look at*:")
		Expect(ok).To(BeTrue())
		look, _, _ = strings.Cut(look, "\n\n")
		quotes := regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(look, -1)
		Expect(quotes).NotTo(BeEmpty())
		for _, q := range quotes {
			Expect(out).To(ContainSubstring(q[1]), "lesson 13 quotes %q", q[1])
		}
	})
})

var _ = Describe("explain of a scenario whose expectations fail", func() {
	It("ends with every expectation, want and got", func() {
		s, res := run("correct-nat-handling")
		res.Passed = false
		res.Expectations[0].OK, res.Expectations[0].Got = false, "no"
		var b bytes.Buffer
		report.WriteExplain(&b, s, res)
		Expect(b.String()).To(MatchRegexp(`\nThe expectations\n  What happened is not what the scenario's expect block says:\n  FAIL ack-at-callee\s+want true\s+got no\s+\(line \d+\)\n`))

		s, res = run("correct-nat-handling")
		b.Reset()
		report.WriteExplain(&b, s, res)
		Expect(b.String()).NotTo(ContainSubstring("The expectations"), "nothing more when they hold")
	})
})
