package lint_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/lint"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// lineOf returns the 1-based line of the first line of file that, once
// trimmed, equals text; the specs find their expected lines this way so that
// editing a fixture's comments does not break them.
func lineOf(file, text string) int {
	f, err := os.Open(file)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == text {
			return n
		}
	}
	Fail("no line " + text + " in " + file)
	return 0
}

var _ = Describe("lint over the fixtures", func() {
	fixture := func(proxy, name string) string { return filepath.Join("..", "..", "fixtures", proxy, name+".cfg") }

	DescribeTable("finds each fixture's pitfall at its line",
		func(proxy, name string, dialect scenario.Engine, rule lint.Rule, at string) {
			file := fixture(proxy, name)
			r, err := lint.CheckFile(file)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Dialect).To(Equal(dialect))
			if rule == "" {
				Expect(r.Findings).To(BeEmpty())
				return
			}
			Expect(r.Findings).To(HaveLen(1))
			f := r.Findings[0]
			Expect(f.Rule).To(Equal(rule))
			Expect(f.Line).To(Equal(lineOf(file, at)), f.String())
			Expect(f.File).To(Equal(file))
			Expect(f.String()).To(HavePrefix(file + ":"))
		},
		Entry("kamailio none: no reply route fixes the Contact", "kamailio", "none", scenario.EngineKamailio, lint.MissingReplyFix, "onreply_route[REPLY] {"),
		Entry("kamailio excessive: unconditional fix", "kamailio", "excessive", scenario.EngineKamailio, lint.UnconditionalReplyFix, "fix_nated_contact();"),
		Entry("kamailio correct: clean", "kamailio", "correct", scenario.EngineKamailio, lint.Rule(""), ""),
		Entry("opensips none: no reply route fixes the Contact", "opensips", "none", scenario.EngineOpenSIPS, lint.MissingReplyFix, "onreply_route[reply] {"),
		Entry("opensips excessive: unconditional fix", "opensips", "excessive", scenario.EngineOpenSIPS, lint.UnconditionalReplyFix, "fix_nated_contact();"),
		Entry("opensips correct: clean", "opensips", "correct", scenario.EngineOpenSIPS, lint.Rule(""), ""),
		Entry("kamailio no-rport: no force_rport()", "kamailio", "no-rport", scenario.EngineKamailio, lint.MissingForceRport, "request_route {"),
		Entry("kamailio registration-not-fixed: save() with no fix_nated_register()", "kamailio", "registration-not-fixed", scenario.EngineKamailio, lint.UnfixedRegister, `if (!save("location")) sl_reply_error();`),
		Entry("opensips no-rport: no force_rport()", "opensips", "no-rport", scenario.EngineOpenSIPS, lint.MissingForceRport, "route {"),
		Entry("opensips registration-not-fixed: save() with no fix_nated_register()", "opensips", "registration-not-fixed", scenario.EngineOpenSIPS, lint.UnfixedRegister, `if (!save("location")) sl_reply_error();`),
		Entry("kamailio behind-nat: clean (its pitfall is the address, not the script)", "kamailio", "behind-nat", scenario.EngineKamailio, lint.Rule(""), ""),
		Entry("kamailio behind-nat-advertise: clean", "kamailio", "behind-nat-advertise", scenario.EngineKamailio, lint.Rule(""), ""),
		Entry("opensips behind-nat: clean", "opensips", "behind-nat", scenario.EngineOpenSIPS, lint.Rule(""), ""),
		Entry("opensips behind-nat-advertise: clean", "opensips", "behind-nat-advertise", scenario.EngineOpenSIPS, lint.Rule(""), ""),
	)

	It("names NAT handling on requests in the missing-fix message", func() {
		r, err := lint.CheckFile(fixture("kamailio", "none"))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Findings[0].Message).To(ContainSubstring("nat_uac_test() at line %d", lineOf(fixture("kamailio", "none"), `if (nat_uac_test("19")) {`)))
	})
})

var _ = Describe("lint rules", func() {
	check := func(src string) []lint.Finding {
		r, err := lint.Check("x.cfg", []byte(src))
		Expect(err).NotTo(HaveOccurred())
		return r.Findings
	}
	rules := func(fs []lint.Finding) []string {
		out := []string{}
		for _, f := range fs {
			out = append(out, string(f.Rule)+"@"+itoa(f.Line))
		}
		return out
	}

	// Each table looks at its own rules only: the scripts are fragments that
	// the other rules may flag too (a reply route's fragment calls no
	// force_rport(), a request's has no reply route).
	only := func(fs []lint.Finding, keep ...lint.Rule) []lint.Finding {
		return slices.DeleteFunc(fs, func(f lint.Finding) bool { return !slices.Contains(keep, f.Rule) })
	}
	DescribeTable("reply-route Contact fixing",
		func(src string, want ...string) {
			Expect(rules(only(check(src), lint.MissingReplyFix, lint.UnconditionalReplyFix, lint.NATTestReplyFix))).To(Equal(append([]string{}, want...)))
		},
		Entry("guarded by a branch flag",
			"request_route {\n if (nat_uac_test(\"19\")) fix_nated_register();\n t_on_reply(\"R\");\n t_relay();\n}\n"+
				"onreply_route[R] {\n if (isbflagset(6)) {\n  fix_nated_contact();\n }\n}\n"),
		Entry("guarded by a source check",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nonreply_route[r] {\n if ($si == \"203.0.113.50\") fix_nated_contact();\n}\n"),
		Entry("a status check is no guard",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nonreply_route[r] {\n if (status =~ \"^2\") {\n  fix_nated_contact();\n }\n}\n",
			"unconditional-reply-contact-fix@7"),
		Entry("early return on a NAT test guards what follows",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nonreply_route[r] {\n if (!isbflagset(\"NAT\")) { return; }\n fix_nated_contact();\n}\n"),
		Entry("a helper route called from the reply route, unguarded",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nroute[NATMANAGE] {\n xlog(\"x\");\n fix_nated_contact();\n}\nonreply_route[r] {\n route(NATMANAGE);\n}\n",
			"unconditional-reply-contact-fix@7"),
		Entry("a helper route called under a guard",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nroute[NATMANAGE] {\n fix_nated_contact();\n}\nonreply_route[r] {\n if (isbflagset(\"NAT\")) route(NATMANAGE);\n}\n"),
		Entry("a helper route called under a NAT test of the reply only",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nroute[NATMANAGE] {\n fix_nated_contact();\n}\nonreply_route[r] {\n if (nat_uac_test(\"1\")) route(NATMANAGE);\n}\n",
			"nat-test-reply-contact-fix@6"),
		Entry("the residential template's reply route: fixed whenever nat_uac_test() is true",
			"route {\n if (nat_uac_test(\"private-contact\")) { fix_nated_register(); setbflag(\"NAT\"); }\n t_on_reply(\"handle_nat\");\n t_relay();\n}\n"+
				"onreply_route[handle_nat] {\n if (nat_uac_test(\"private-contact\"))\n  fix_nated_contact();\n xlog(\"incoming reply\\n\");\n}\n",
			"nat-test-reply-contact-fix@8"),
		Entry("a NAT test and a branch flag",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nonreply_route[r] {\n if (isbflagset(\"NAT\") && nat_uac_test(\"private-contact\")) fix_nated_contact();\n}\n"),
		Entry("an early return on a NAT test only",
			"route {\n fix_nated_register();\n t_on_reply(\"r\");\n}\nonreply_route[r] {\n if (!nat_uac_test(\"1\")) { return; }\n fix_nated_contact();\n}\n",
			"nat-test-reply-contact-fix@7"),
		Entry("a reply route armed only under a NAT test of the request",
			"route {\n fix_nated_register();\n if (nat_uac_test(\"19\")) t_on_reply(\"nat\");\n t_relay();\n}\nonreply_route[nat] {\n fix_nated_contact();\n}\n",
			"nat-test-reply-contact-fix@7"),
		Entry("a reply route armed only for NATed branches",
			"route {\n fix_nated_register();\n if (isbflagset(\"NAT\")) t_on_reply(\"nat\");\n t_relay();\n}\nonreply_route[nat] {\n fix_nated_contact();\n}\n"),
		Entry("a reply route armed once with and once without a guard",
			"route {\n fix_nated_register();\n if (isbflagset(\"NAT\")) t_on_reply(\"nat\");\n t_on_reply(\"nat\");\n}\nonreply_route[nat] {\n fix_nated_contact();\n}\n",
			"unconditional-reply-contact-fix@7"),
		Entry("the global reply route, unguarded",
			"request_route {\n sl_send_reply(\"200\", \"OK\");\n}\nreply_route {\n fix_nated_contact();\n}\n",
			"unconditional-reply-contact-fix@5"),
		Entry("NAT handled on requests, no reply route at all",
			"request_route {\n force_rport();\n if (nat_uac_test(\"19\")) { fix_nated_register(); }\n save(\"location\");\n}\n",
			"missing-reply-contact-fix@3"),
		Entry("NAT handled only through received_avp",
			"modparam(\"registrar\", \"received_avp\", \"$avp(r)\")\nrequest_route {\n save(\"location\");\n}\nonreply_route[r] {\n xlog(\"r\");\n}\n",
			"missing-reply-contact-fix@5"),
		Entry("no NAT handling anywhere: nothing to say",
			"request_route {\n t_relay();\n}\nonreply_route[r] {\n xlog(\"r\");\n}\n"),
		Entry("comments and strings mentioning fix_nated_contact do not count",
			"# fix_nated_contact();\nrequest_route {\n /* fix_nated_contact(); */ xlog(\"fix_nated_contact();\");\n}\n"),
		Entry("a fix in the request route is not a reply fix",
			"request_route {\n if (nat_uac_test(\"19\")) fix_nated_contact();\n t_relay();\n}\n",
			"missing-reply-contact-fix@2"),
		Entry("switch, while and else-if parse",
			"request_route {\n fix_nated_register();\n switch ($rm) {\n case \"INVITE\":\n  t_on_reply(\"r\");\n  break;\n default:\n  xlog(\"x\");\n }\n $var(i) = 0;\n while ($var(i) < 2) { $var(i) = $var(i) + 1; }\n}\n"+
				"onreply_route[r] {\n if (status == \"100\") { xlog(\"t\"); } else if (isbflagset(6)) { fix_nated_contact(); } else { xlog(\"x\"); }\n}\n"),
	)

	DescribeTable("requests from phones behind NAT: force_rport() and a fixed registration",
		func(src string, want ...string) {
			Expect(rules(only(check(src), lint.MissingForceRport, lint.UnfixedRegister))).To(Equal(append([]string{}, want...)))
		},
		Entry("a registrar with rport and fix_nated_register: clean",
			"request_route {\n force_rport();\n if (nat_uac_test(\"19\")) fix_nated_register();\n save(\"location\");\n}\n"),
		Entry("force_rport() under a NAT test in a helper route counts",
			"request_route {\n route(NATDETECT);\n if (is_method(\"REGISTER\")) { fix_nated_register(); save(\"location\"); }\n}\nroute[NATDETECT] {\n if (nat_uac_test(\"19\")) { force_rport(); }\n}\n"),
		Entry("Kamailio's global force_rport=yes counts",
			"#!KAMAILIO\nforce_rport=yes\nrequest_route {\n fix_nated_register();\n save(\"location\");\n}\n"),
		Entry("NAT handled but no force_rport(): at the request route",
			"request_route {\n if (nat_uac_test(\"19\")) fix_nated_register();\n save(\"location\");\n}\n",
			"missing-force-rport@1"),
		Entry("a registrar without NAT handling: no rport, and save() not fixed",
			"route {\n if (is_method(\"REGISTER\")) {\n  save(\"location\");\n  exit;\n }\n t_relay();\n}\n",
			"missing-force-rport@1", "register-not-fixed@3"),
		Entry("force_rport() only in a reply route does not count",
			"route {\n fix_nated_register();\n save(\"location\");\n t_on_reply(\"r\");\n}\nonreply_route[r] {\n force_rport();\n}\n",
			"missing-force-rport@1"),
		Entry("received_avp set but nothing fills it: save() not fixed",
			"modparam(\"registrar\", \"received_avp\", \"$avp(r)\")\nrequest_route {\n force_rport();\n save(\"location\");\n}\n",
			"register-not-fixed@4"),
		Entry("add_rcv_param() fixes the registration",
			"route {\n force_rport();\n add_rcv_param();\n save(\"location\");\n}\n"),
		Entry("fix_nated_register() in a helper route counts",
			"route {\n force_rport();\n route(REG);\n}\nroute[REG] {\n if (nat_uac_test(\"19\")) fix_nated_register();\n save(\"location\");\n}\n"),
		Entry("a proxy that neither handles NAT nor registers: nothing to say",
			"request_route {\n t_relay();\n}\n"),
	)

	// OpenSIPS scripts (proto_udp.so names the dialect) with what 3.x
	// refuses to parse or to start with; a Kamailio script may say the same.
	DescribeTable("OpenSIPS 1.x/2.x constructs 3.x rejects",
		func(src string, want ...string) {
			Expect(rules(check(src))).To(Equal(append([]string{}, want...)))
		},
		Entry("uri == myself: one finding per bare word",
			"socket=udp:eth0:5060\nloadmodule \"proto_udp.so\"\nroute {\n if (uri == myself) exit;\n}\n",
			"opensips-3x-rejects@4", "opensips-3x-rejects@4"),
		Entry("the 3.x way is clean",
			"socket=udp:eth0:5060\nloadmodule \"proto_udp.so\"\nroute {\n if (is_myself(\"$rd\") && is_method(\"OPTIONS\") && $(ru{uri.user}) == NULL && $avp(method) == 1) exit;\n $var(uri) = $ru;\n}\n"),
		Entry("method and src_ip",
			"socket=udp:eth0:5060\nloadmodule \"proto_udp.so\"\nroute {\n if (method == \"INVITE\") xlog(\"i\");\n if (src_ip == 10.0.0.1) exit;\n}\n",
			"opensips-3x-rejects@4", "opensips-3x-rejects@5"),
		Entry("a call without parentheses",
			"socket=udp:eth0:5060\nloadmodule \"proto_udp.so\"\nroute {\n t_relay;\n exit;\n}\n",
			"opensips-3x-rejects@4"),
		Entry("2.x global parameters",
			"children=4\ndebug=3\nfork=yes\nsocket=udp:eth0:5060\nudp_workers=2\nloadmodule \"proto_udp.so\"\nroute {\n exit;\n}\n",
			"opensips-3x-rejects@1", "opensips-3x-rejects@2", "opensips-3x-rejects@3"),
		Entry("no socket line",
			"log_level=3\nloadmodule \"proto_udp.so\"\nroute {\n exit;\n}\n",
			"opensips-3x-rejects@1"),
		Entry("listen= still counts as a socket",
			"listen=udp:10.0.0.1:5060\nloadmodule \"proto_udp.so\"\nroute {\n exit;\n}\n"),
		Entry("Kamailio keeps uri == myself and children",
			"#!KAMAILIO\nchildren=4\nrequest_route {\n if (uri == myself) exit;\n}\n"),
	)

	It("flags the OpenSIPS fixture as it was before 3.x syntax", func() {
		src, err := os.ReadFile(filepath.Join("testdata", "opensips-2x-correct.cfg"))
		Expect(err).NotTo(HaveOccurred())
		r, err := lint.Check("old.cfg", src)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Dialect).To(Equal(scenario.EngineOpenSIPS))
		Expect(rules(r.Findings)).To(ContainElement("opensips-3x-rejects@62"))
		Expect(r.Findings).NotTo(BeEmpty(), "the engine cannot parse it: it is not clean")
	})

	DescribeTable("refuses what is not a routing script",
		func(src, want string) {
			_, err := lint.Check("bad.cfg", []byte(src))
			Expect(err).To(MatchError(lint.ErrBadScript))
			Expect(err.Error()).To(HavePrefix(`lint "bad.cfg": `))
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("empty", "", "no route block"),
		Entry("YAML", "name: x\nsteps:\n  - wait: 1s\n", "no route block"),
		Entry("JSON", "{\"name\": \"x\"}\n", `line 1: "{" outside any route block`),
		Entry("unclosed block", "request_route {\n if (x) {\n  t_relay();\n}\n", "line 1: block opened here is never closed"),
		Entry("stray brace", "request_route {\n t_relay();\n}\n}\n", `line 4: "}" outside any route block`),
		Entry("unclosed string", "request_route {\n xlog(\"oops);\n}\n", "line 2: string never closed"),
		Entry("unclosed comment", "request_route {\n /* t_relay();\n}\n", "line 2: comment /* never closed"),
		Entry("unbalanced parentheses", "request_route {\n if (x { t_relay(); }\n}\n", "line 2: '(' never closed"),
		Entry("binary", "request_route {\x00}", "NUL byte"),
	)

	It("reads at most MaxFileSize bytes of an endless input and refuses it", func() {
		_, err := lint.CheckFile("/dev/zero")
		Expect(err).To(MatchError(lint.ErrBadScript))
		Expect(err).To(MatchError(`lint "/dev/zero": not a readable Kamailio or OpenSIPS routing script: longer than 4 MiB; a routing script is tens of kilobytes`))
	})

	It("reads a script from a pipe, as from lint <(ssh host cat kamailio.cfg)", func() {
		r, w, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		src, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "kamailio", "none.cfg"))
		Expect(err).NotTo(HaveOccurred())
		go func() {
			defer GinkgoRecover()
			defer w.Close()
			_, err := w.Write(src)
			Expect(err).NotTo(HaveOccurred())
		}()
		rep, err := lint.CheckFile(fmt.Sprintf("/dev/fd/%d", r.Fd()))
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Findings).NotTo(BeEmpty())
	})

	It("reports an unreadable file as an I/O error, not a finding", func() {
		_, err := lint.CheckFile(filepath.Join(GinkgoT().TempDir(), "missing.cfg"))
		Expect(err).To(MatchError(os.ErrNotExist))
	})
})

func itoa(n int) string { return strconv.Itoa(n) }
