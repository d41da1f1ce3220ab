package main

import (
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("sipnatlab diagnose", func() {
	const testdata = "../../harness/field/testdata/"

	It("prints run's report and the evidence, and exits 1 when a call lost its ACK", func(ctx SpecContext) {
		code, out, stderr := runCLI(ctx, "diagnose", testdata+"sim-no-nat-handling-registrar.pcap")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(1))
		Expect(out).To(ContainSubstring("diagnosis: The ACK for 192.168.1.10's 200 OK never reached 192.168.1.10: 203.0.113.2 sent it to the private Contact"))
		Expect(out).To(ContainSubstring("certain:       203.0.113.2 sent the ACK (Request-URI sip:bob@192.168.1.10:5060)"))
		Expect(out).To(ContainSubstring("almost certain: 192.168.1.10 hung up because no ACK came"))
		Expect(out).To(ContainSubstring("timers: T1 ≈ 500ms, T2 ≈ 4s"))
	})

	It("exits 0 when every ACK arrived, names hosts from --hosts, and writes --json and --html", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		hosts := filepath.Join(dir, "hosts")
		Expect(os.WriteFile(hosts, []byte("# address name\n198.51.100.10 alice\n192.168.1.10 bob\n203.0.113.50 home-nat\n"), 0o644)).To(Succeed())
		html := filepath.Join(dir, "ladder.html")
		code, out, stderr := runCLI(ctx, "diagnose", "--json", "--hosts", hosts, "--html", html, testdata+"sim-correct-nat-handling-plain.pcap")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		var doc struct {
			Scenarios []struct {
				Calls []map[string]any
			}
			Evidence []struct {
				Statements []struct{ Confidence, Text string }
			}
			NATs []struct{ Name string } `json:"inferred_nats"`
		}
		Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed())
		Expect(doc.Scenarios[0].Calls[0]).To(HaveKeyWithValue("from", "alice"))
		Expect(doc.Scenarios[0].Calls[0]).To(HaveKeyWithValue("to", "bob"))
		Expect(doc.Scenarios[0].Calls[0]).To(HaveKeyWithValue("ack_at_callee", true))
		Expect(doc.NATs[0].Name).To(Equal("home-nat"))
		Expect(doc.Evidence[0].Statements).NotTo(BeEmpty())
		page, err := os.ReadFile(html)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(page)).To(ContainSubstring("alice"))
	})

	It("writes a scenario that reproduces the verdict with --scenario-out", func(ctx SpecContext) {
		out := filepath.Join(GinkgoT().TempDir(), "incident.yaml")
		code, _, stderr := runCLI(ctx, "diagnose", "--scenario-out", out, testdata+"kamailio-no-nat-handling-bridge.pcap")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(1))
		code, report, stderr := runCLI(ctx, "run", "--clock", "simulated", out)
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0), report)
		Expect(report).To(ContainSubstring("ok   blame"))
	})

	DescribeTable("exits 2 on input it cannot read, after diagnosing what it could",
		func(ctx SpecContext, data func() []byte, want string, diagnosed bool) {
			f := filepath.Join(GinkgoT().TempDir(), "bad.pcap")
			Expect(os.WriteFile(f, data(), 0o644)).To(Succeed())
			code, out, stderr := runCLI(ctx, "diagnose", f)
			Expect(code).To(Equal(2))
			Expect(stderr).To(And(ContainSubstring("bad.pcap"), ContainSubstring(want)))
			if diagnosed {
				Expect(out).To(ContainSubstring("diagnosis: The ACK for 192.168.1.10's 200 OK never reached"))
				Expect(out).To(ContainSubstring("everything before it is diagnosed above"))
			} else {
				Expect(out).To(BeEmpty())
			}
		},
		Entry("a truncated capture", func() []byte {
			b, err := os.ReadFile(testdata + "sim-no-nat-handling-plain.pcap")
			Expect(err).NotTo(HaveOccurred())
			return b[:len(b)*3/4]
		}, "truncated", true),
		Entry("no capture at all", func() []byte { return []byte("hello, this is text\n") }, "not a pcap or pcapng capture", false),
		Entry("an empty file", func() []byte { return nil }, "not a pcap or pcapng capture", false),
	)

	It("exits 2 before reading when --html and --scenario-out name one file, or an output is a capture", func(ctx SpecContext) {
		out := filepath.Join(GinkgoT().TempDir(), "x")
		code, _, stderr := runCLI(ctx, "diagnose", "--html", out, "--scenario-out", out, testdata+"sim-correct-nat-handling-plain.pcap")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("would write the same file"))
		code, _, _ = runCLI(ctx, "diagnose", "--scenario-out", testdata+"sim-correct-nat-handling-plain.pcap", testdata+"sim-correct-nat-handling-plain.pcap")
		Expect(code).To(Equal(2))
	})

	It("exits 2 on a bad --hosts line, naming file and line", func(ctx SpecContext) {
		hosts := filepath.Join(GinkgoT().TempDir(), "hosts")
		Expect(os.WriteFile(hosts, []byte("198.51.100.10 alice\nnot-an-address bob\n"), 0o644)).To(Succeed())
		code, _, stderr := runCLI(ctx, "diagnose", "--hosts", hosts, testdata+"sim-correct-nat-handling-plain.pcap")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`line 2: "not-an-address" is not an IP address`))
	})
})
