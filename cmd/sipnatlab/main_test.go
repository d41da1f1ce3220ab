package main

import (
	"bytes"
	"context"
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func runCLI(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, &interrupts{}, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var _ = Describe("sipnatlab run", func() {
	It("prints the contract's JSON verdict and exits 0 when every expectation holds", func(ctx SpecContext) {
		code, out, stderr := runCLI(ctx, "run", "--json", "--clock", "simulated", "../../scenarios/correct-nat-handling.yaml")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))

		var doc map[string]any
		Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed())
		Expect(doc).To(HaveKey("scenarios"))
		scenarios := doc["scenarios"].([]any)
		Expect(scenarios).To(HaveLen(1))
		s := scenarios[0].(map[string]any)
		Expect(s).To(HaveKeyWithValue("name", "correct-nat-handling"))
		Expect(s).To(HaveKeyWithValue("file", "../../scenarios/correct-nat-handling.yaml"))
		Expect(s).To(HaveKeyWithValue("passed", true))
		for _, e := range s["expectations"].([]any) {
			Expect(e).To(HaveKey("key"))
			Expect(e).To(HaveKey("want"))
			Expect(e).To(HaveKey("got"))
			Expect(e).To(HaveKeyWithValue("ok", true))
		}
		call := s["calls"].([]any)[0].(map[string]any)
		for _, k := range []string{"from", "to", "answered", "ack_at_callee", "ack_delay_ms", "ok_retransmissions",
			"callee_bye", "callee_bye_after_ms", "contact_at_caller", "ack_lost_at", "blame", "diagnosis"} {
			Expect(call).To(HaveKey(k))
		}
		Expect(call).To(HaveKeyWithValue("from", "alice"))
		Expect(call).To(HaveKeyWithValue("to", "bob"))
		Expect(call).To(HaveKeyWithValue("ack_at_callee", true))
		Expect(call["ack_delay_ms"]).To(BeNumerically(">=", 0))
		Expect(call).To(HaveKeyWithValue("callee_bye_after_ms", BeNil()))
		Expect(call).To(HaveKeyWithValue("contact_at_caller", "sip:bob@203.0.113.50:40000"))
		Expect(call).To(HaveKeyWithValue("ack_lost_at", ""))
		Expect(call).To(HaveKeyWithValue("blame", ""))
	})

	It("judges the lost-ACK cases in simulated time: 10 retransmissions, BYE at exactly 32 s", func(ctx SpecContext) {
		code, out, _ := runCLI(ctx, "run", "--json", "--clock", "simulated", "../../scenarios/")
		Expect(code).To(Equal(0))
		var doc struct {
			Scenarios []struct {
				Name  string
				Calls []map[string]any
			}
		}
		Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed())
		lost := 0
		for _, s := range doc.Scenarios {
			if s.Name != "no-nat-handling" && s.Name != "excessive-nat-handling" {
				continue
			}
			lost++
			Expect(s.Calls[0]).To(HaveKeyWithValue("ok_retransmissions", BeNumerically("==", 10)), s.Name)
			Expect(s.Calls[0]).To(HaveKeyWithValue("callee_bye_after_ms", BeNumerically("==", 32000)), s.Name)
			Expect(s.Calls[0]).To(HaveKeyWithValue("ack_lost_at", "proxy-b"), s.Name)
		}
		Expect(lost).To(Equal(2))
	})

	It("prints the ladder, the Contact at each hop and the verdict as text (loopback, real time)", Label("loopback"), func(ctx SpecContext) {
		code, out, _ := runCLI(ctx, "run", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("alice"))
		Expect(out).To(ContainSubstring("-INVITE-"))
		Expect(out).To(ContainSubstring("» Contact: sip:bob@203.0.113.50:40000"))
		Expect(out).To(ContainSubstring("rewritten from sip:bob@192.168.1.10:5060"))
		Expect(out).To(ContainSubstring("PASS correct-nat-handling"))
		Expect(out).NotTo(ContainSubstring("\x1b["), "no colours when stdout is not a terminal")
	})

	It("exits 1 when an expectation fails, naming it", func(ctx SpecContext) {
		code, out, _ := runCLI(ctx, "run", "--clock=simulated", "testdata/wrong-expectation.yaml")
		Expect(code).To(Equal(1))
		Expect(out).To(MatchRegexp(`FAIL\s+ack-at-callee\s+want false\s+got true`))
		Expect(out).To(ContainSubstring("FAIL wrong-expectation"))
	})

	DescribeTable("exits 2 on bad input with an error naming file, line and field",
		func(file string, want string) {
			code, out, stderr := runCLI(context.Background(), "run", file)
			Expect(code).To(Equal(2))
			Expect(out).To(BeEmpty(), "nothing runs when an input is bad")
			Expect(stderr).To(ContainSubstring(`load scenario "` + file + `"`))
			Expect(stderr).To(ContainSubstring(want))
		},
		Entry("unknown host", "../../harness/scenario/testdata/bad/via-unknown-host.yaml", `line 24: steps[1].call.via: no host named "proxy-z"`),
		Entry("private address outside every NAT LAN", "../../harness/scenario/testdata/bad/private-outside-lan.yaml", "hosts.bob.address"),
		Entry("broken YAML", "../../harness/scenario/testdata/bad/broken-yaml.yaml", "invalid YAML"),
		Entry("missing file", "testdata/no-such-file.yaml", "no such file"),
	)

	DescribeTable("exits 2 on bad usage",
		func(args ...string) {
			code, _, stderr := runCLI(context.Background(), args...)
			Expect(code).To(Equal(2))
			Expect(stderr).To(ContainSubstring("usage: sipnatlab"))
		},
		Entry("no command"),
		Entry("unknown command", "frobnicate"),
		Entry("run without files", "run"),
		Entry("unknown flag", "run", "--nope", "x.yaml"),
		Entry("unknown clock", "run", "--clock", "fast", "x.yaml"),
	)
})
