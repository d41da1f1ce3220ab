package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

// scenarioFile writes a scenario named name (with summary) into dir and returns its path.
func scenarioFile(dir, file, name, summary string) string {
	GinkgoHelper()
	path := filepath.Join(dir, file)
	Expect(os.WriteFile(path, []byte(`name: `+name+`
summary: `+summary+`
hosts:
  alice: {role: ua, address: 198.51.100.10}
steps:
  - wait: 1s
`), 0o644)).To(Succeed())
	return path
}

// runBounded is runCLI that fails the spec instead of hanging when the command does
// not return within 10 s.
func runBounded(ctx context.Context, args ...string) (int, string, string) {
	GinkgoHelper()
	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := runCLI(ctx, args...)
		done <- result{code, out, stderr}
	}()
	var r result
	Eventually(done, 10*time.Second).Should(Receive(&r), "sipnatlab %s did not return", strings.Join(args, " "))
	return r.code, r.out, r.stderr
}

var _ = Describe("sipnatlab run: inputs", func() {
	It("refuses a device as a scenario before reading from it", func(ctx SpecContext) {
		code, out, stderr := runBounded(ctx, "run", "--clock", "simulated", "/dev/zero")
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty())
		Expect(stderr).To(Equal("sipnatlab: load scenario \"/dev/zero\": not a regular file (a character device); a scenario is a YAML file\n"))
	})

	It("refuses a FIFO named like a scenario in a directory instead of hanging", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		scenarioFile(dir, "a.yaml", "a", "one")
		Expect(syscall.Mkfifo(filepath.Join(dir, "x.yaml"), 0o644)).To(Succeed())
		code, out, stderr := runBounded(ctx, "run", "--clock", "simulated", dir)
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty())
		Expect(stderr).To(ContainSubstring(`x.yaml": not a regular file (a named pipe)`))
	})
})

var _ = Describe("sipnatlab run: output paths are checked before anything runs", func() {
	It("exits 2 at once when --pcap names a missing directory", func(ctx SpecContext) {
		code, out, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap", "/nonexistent/x.pcap", "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty(), "nothing ran")
		Expect(stderr).To(Equal("sipnatlab: --pcap \"/nonexistent/x.pcap\": no such directory \"/nonexistent\"\n"))
	})

	It("exits 2 at once when --pcap and --html name the same file", func(ctx SpecContext) {
		file := filepath.Join(GinkgoT().TempDir(), "out")
		code, out, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap", file, "--html", file, "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty(), "nothing ran")
		Expect(stderr).To(Equal("sipnatlab: --html \"" + file + "\" and --pcap \"" + file + "\" would write the same file \"" + file + "\"\n"))
		Expect(file).NotTo(BeAnExistingFile())
	})

	It("exits 2 at once when an output would overwrite a scenario file", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		in := scenarioFile(dir, "a.yaml", "a", "one")
		before, err := os.ReadFile(in)
		Expect(err).NotTo(HaveOccurred())
		code, out, stderr := runCLI(ctx, "run", "--clock", "simulated", "--html", in, in)
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty())
		Expect(stderr).To(Equal("sipnatlab: --html \"" + in + "\" would overwrite the scenario file \"" + in + "\"\n"))
		Expect(os.ReadFile(in)).To(Equal(before))
	})

	It("exits 2 at once when an output is a directory", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, out, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap", dir, "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty())
		Expect(stderr).To(Equal("sipnatlab: --pcap \"" + dir + "\": is a directory; name a file\n"))
	})

	It("gives scenarios with long names valid file names, one each", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		long := strings.Repeat("abcdefghi-", 39) + "abcdefghi" // 399 characters
		a := scenarioFile(dir, "a.yaml", long, "long")
		b := scenarioFile(dir, "b.yaml", long+"-2", "longer")
		out := filepath.Join(dir, "out")
		Expect(os.Mkdir(out, 0o755)).To(Succeed())
		code, _, stderr := runCLI(ctx, "run", "--clock", "simulated", "--pcap", filepath.Join(out, "x.pcap"), "--html", filepath.Join(out, "x.html"), a, b)
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		entries, err := os.ReadDir(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(HaveLen(5)) // two captures, two pages and their index, x.html
		for _, e := range entries {
			Expect(len(e.Name())).To(BeNumerically("<=", 255), e.Name())
			Expect(e.Name()).To(Or(HavePrefix("x-abcdefghi-"), Equal("x.html")))
		}
	})
})

var _ = Describe("sipnatlab run: terminal output", func() {
	It("shows control and bidi characters of a scenario escaped, never raw", func(ctx SpecContext) {
		in := scenarioFile(GinkgoT().TempDir(), "esc.yaml", "esc", `"\e]0;title\a\e[2J sum\u202Emary"`)
		code, out, stderr := runCLI(ctx, "run", "--clock", "simulated", in)
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		Expect(out).NotTo(ContainSubstring("\x1b"))
		Expect(out).NotTo(ContainSubstring("\a"))
		Expect(out).NotTo(ContainSubstring("\u202e"))
		Expect(out).To(ContainSubstring(`  \x1b]0;title\x07\x1b[2J sum\u202emary` + "\n"))
	})

	It("keeps the JSON verdict valid JSON with the same strings", func(ctx SpecContext) {
		in := scenarioFile(GinkgoT().TempDir(), "e\u202es.yaml", "esc", "one")
		code, out, _ := runCLI(ctx, "run", "--json", "--clock", "simulated", in)
		Expect(code).To(Equal(0))
		Expect(out).NotTo(ContainSubstring("\u202e"))
		Expect(out).To(ContainSubstring(`"file": "` + filepath.Dir(in) + `/e\u202es.yaml"`))
		var doc struct{ Scenarios []struct{ File string } }
		Expect(json.Unmarshal([]byte(out), &doc)).To(Succeed())
		Expect(doc.Scenarios[0].File).To(Equal(in))
	})
})

var _ = Describe("sipnatlab explain interrupted", func() {
	// The finding was explain --clock real: interrupted, it told "bob did not hang up by
	// itself" as if the run had ended.
	DescribeTable("says that the run was interrupted before telling what it saw",
		func(clock string) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			code, out, stderr := runCLI(ctx, "explain", "--clock", clock, "../../scenarios/no-nat-handling.yaml")
			Expect(code).To(Equal(1))
			Expect(out).To(HavePrefix("Interrupted: the run was stopped before it ended, so what follows is only what happened until then.\n"))
			Expect(stderr).To(HaveSuffix("sipnatlab: interrupted\n"))
		},
		Entry("simulated time", "simulated"),
		Entry("real time", Label("loopback"), "real"),
	)
})

var _ = Describe("report.TerminalSafe", func() {
	DescribeTable("escapes what could drive a terminal and keeps the report's own colours",
		func(color bool, in, want string) {
			var b strings.Builder
			n, err := report.TerminalSafe(&b, color).Write([]byte(in))
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(len(in)))
			Expect(b.String()).To(Equal(want))
		},
		Entry("title and clear screen", false, "a\x1b]0;t\a\x1b[2Jb\n", `a\x1b]0;t\x07\x1b[2Jb`+"\n"),
		Entry("carriage return, DEL, C1", false, "a\rb\x7fc\u009bd\te", `a\x0db\u007fc\u009bd`+"\te"),
		Entry("bidi overrides and isolates", false, "x\u202ey\u2066z\u200f", `x\u202ey\u2066z\u200f`),
		Entry("bad UTF-8", false, "a\xffb", `a\xffb`),
		Entry("colours off: even the report's codes", false, "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`),
		Entry("colours on: the report's codes pass", true, "\x1b[1;33m» x\x1b[0m", "\x1b[1;33m» x\x1b[0m"),
		Entry("colours on: any other sequence does not", true, "\x1b[2J\x1b]0;t\a\x1b[31;1m", `\x1b[2J\x1b]0;t\x07\x1b[31;1m`),
	)
})

var _ = Describe("sipnatlab judge: output paths", func() {
	It("exits 2 before printing anything when --html names a missing directory", func(ctx SpecContext) {
		capture := filepath.Join(GinkgoT().TempDir(), "c.pcap")
		code, _, _ := runCLI(ctx, "run", "--clock", "simulated", "--pcap", capture, "../../scenarios/correct-nat-handling.yaml")
		Expect(code).To(Equal(0))
		code, out, stderr := runCLI(ctx, "judge", "--html", "/nonexistent/x.html", capture)
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty())
		Expect(stderr).To(Equal("sipnatlab judge: --html \"/nonexistent/x.html\": no such directory \"/nonexistent\"\n"))
	})
})
