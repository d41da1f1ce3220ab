package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// commandNames are the names of every subcommand, so each new one is held to the same
// conventions.
func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

var _ = Describe("sipnatlab: command-line conventions", func() {
	DescribeTable("prints the global help to stdout and exits 0",
		func(args ...string) {
			code, out, stderr := runCLI(context.Background(), args...)
			Expect(code).To(Equal(0))
			Expect(stderr).To(BeEmpty())
			Expect(out).To(ContainSubstring("usage: sipnatlab COMMAND [flags] ARGS..."))
			for _, name := range commandNames() {
				Expect(out).To(MatchRegexp(`(?m)^  %s +\S`, name), "the help lists %s", name)
			}
		},
		Entry("--help", "--help"),
		Entry("-h", "-h"),
		Entry("help", "help"),
	)

	It("prints the global usage to stderr and exits 2 without a command", func() {
		code, out, stderr := runCLI(context.Background())
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty())
		Expect(stderr).To(ContainSubstring("usage: sipnatlab COMMAND"))
	})

	It("prints each command's own help to stdout and exits 0, however it is asked for", func() {
		for _, name := range commandNames() {
			for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}, {name, "x.yaml", "--help"}} {
				code, out, stderr := runCLI(context.Background(), args...)
				Expect(code).To(Equal(0), "%v", args)
				Expect(stderr).To(BeEmpty(), "%v", args)
				Expect(out).To(HavePrefix("usage: sipnatlab "+name+" [flags] "), "%v", args)
				Expect(out).To(ContainSubstring("\nFlags:\n"), "%v", args)
				Expect(out).To(ContainSubstring("Exit codes:"), "%v", args)
				Expect(out).To(ContainSubstring("-h, --help"), "%v", args)
			}
		}
	})

	It("takes flags after the operands as before them, and long flags with one dash as Go's flag package did", func(ctx SpecContext) {
		file := "../../scenarios/no-nat-handling.yaml"
		for _, cmd := range [][2][]string{
			{{"run", "--json", "--clock", "simulated", file}, {"run", file, "--clock", "simulated", "--json"}},
			{{"explain", "--clock=simulated", file}, {"explain", file, "--clock=simulated"}},
			{{"run", "--json", "--clock", "simulated", file}, {"run", "-json", "-clock", "simulated", file}}, // Go's flag style, as before
			{{"explain", "--clock=simulated", file}, {"explain", "-clock=simulated", file}},
		} {
			codeA, outA, errA := runCLI(ctx, cmd[0]...)
			codeB, outB, errB := runCLI(ctx, cmd[1]...)
			Expect(errB).To(Equal(errA), "%v", cmd[1])
			Expect(codeB).To(Equal(0), "%v", cmd[1])
			Expect(codeA).To(Equal(codeB))
			Expect(outB).To(Equal(outA), "%v", cmd[1])
		}
	})

	It(`takes everything after "--" as an operand`, func(ctx SpecContext) {
		code, _, stderr := runCLI(ctx, "run", "--clock", "simulated", "--", "--json")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`load scenario "--json"`))
	})

	It("names a bad flag with the command's usage line on stderr and exits 2", func() {
		for _, name := range commandNames() {
			code, out, stderr := runCLI(context.Background(), name, "--no-such-flag")
			Expect(code).To(Equal(2), name)
			Expect(out).To(BeEmpty(), name)
			Expect(stderr).To(HavePrefix("sipnatlab "+name+": unknown flag: --no-such-flag\nusage: sipnatlab "+name+" [flags] "), name)
		}
	})

	It("says that flags follow the command when one comes first", func() {
		code, _, stderr := runCLI(context.Background(), "--clock", "simulated", "run", "x.yaml")
		Expect(code).To(Equal(2))
		Expect(stderr).To(HavePrefix("sipnatlab: flag --clock before the command: flags follow it (sipnatlab COMMAND [flags] ARGS...)\n"))
	})

	It("prints its version and exits 0", func() {
		code, out, stderr := runCLI(context.Background(), "--version")
		Expect(code).To(Equal(0))
		Expect(stderr).To(BeEmpty())
		Expect(out).To(MatchRegexp(`^sipnatlab \S+ \(.*\) go\S+\n$`))
	})
})

var _ = Describe("sipnatlab --version of a binary built from a git checkout", func() {
	It("names the commit it was built from", func(ctx SpecContext) {
		if st, err := os.Stat("../../.git"); err != nil || !st.IsDir() {
			Skip("not a git checkout with a .git directory (the go command stamps no revision in a git worktree)")
		}
		head, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
		Expect(err).NotTo(HaveOccurred())
		bin := filepath.Join(GinkgoT().TempDir(), "sipnatlab")
		// -race shares the build cache of the test binaries; -buildvcs=auto as make build.
		build := exec.CommandContext(ctx, "go", "build", "-race", "-buildvcs=auto", "-o", bin, ".")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		out, err = exec.CommandContext(ctx, bin, "--version").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("(revision " + strings.TrimSpace(string(head))))
	})
})

var _ = Describe("versionOf", func() {
	It("gives the module version and the VCS revision, time and state the toolchain stamped", func() {
		info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/sipnatlab/sipnatlab", Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0a85f18c"}, {Key: "vcs.time", Value: "2026-12-01T22:54:34Z"}, {Key: "vcs.modified", Value: "true"}}}
		Expect(versionOf(info)).To(Equal("sipnatlab v1.2.3 (revision 0a85f18c, 2026-12-01T22:54:34Z, modified) go1.26.8"))
		info.Main.Version, info.Settings = "", nil
		Expect(versionOf(info)).To(Equal("sipnatlab (devel) (no VCS revision) go1.26.8"))
	})
})

var _ = Describe("sipnatlab help", func() {
	It("exits 2 for an unknown command", func() {
		code, _, stderr := runCLI(context.Background(), "help", "frobnicate")
		Expect(code).To(Equal(2))
		Expect(strings.Split(stderr, "\n")[0]).To(Equal(`sipnatlab help: unknown command "frobnicate"`))
	})
})
