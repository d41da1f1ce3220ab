package main

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("sipnatlab explain", func() {
	It("tells one scenario in simulated time by default, ending with the lesson and the fix", func(ctx SpecContext) {
		code, out, stderr := runCLI(ctx, "explain", "../../scenarios/no-nat-handling.yaml")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("Step 1. alice calls bob: the INVITE"))
		Expect(out).To(ContainSubstring("lost at: proxy-b"))
		Expect(out).To(ContainSubstring("The lesson"))
		Expect(out).To(ContainSubstring("The fix\n  In proxy-b's reply route, call fix_nated_contact()"))
	})

	It("exits 1 after printing the expectations when they fail", func(ctx SpecContext) {
		code, out, stderr := runCLI(ctx, "explain", "testdata/wrong-expectation.yaml")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(1))
		Expect(out).To(ContainSubstring("\nThe expectations\n"))
		Expect(out).To(MatchRegexp(`FAIL ack-at-callee\s+want false\s+got true`))
	})

	It("exits 2 on usage errors", func(ctx SpecContext) {
		code, _, stderr := runCLI(ctx, "explain")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("want exactly one scenario file"))
		code, _, stderr = runCLI(ctx, "explain", "--clock", "sometimes", "../../scenarios/no-nat-handling.yaml")
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring(`clock "sometimes"`))
		code, _, _ = runCLI(ctx, "explain", "no-such-file.yaml")
		Expect(code).To(Equal(2))
	})
})

var _ = Describe("sipnatlab run --html", func() {
	It("writes one page per scenario, named after it, next to the report", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, out, _ := runCLI(ctx, "run", "--clock", "simulated", "--html", filepath.Join(dir, "ladder.html"), "../../scenarios/")
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("PASS excessive-nat-handling"))
		for _, name := range []string{"no-nat-handling", "excessive-nat-handling", "correct-nat-handling"} {
			page, err := os.ReadFile(filepath.Join(dir, "ladder-"+name+".html"))
			Expect(err).NotTo(HaveOccurred())
			Expect(string(page)).To(HavePrefix("<!DOCTYPE html>"))
			Expect(string(page)).To(ContainSubstring("<title>sipnatlab: " + name + "</title>"))
		}

		file := filepath.Join(dir, "one.html")
		code, _, _ = runCLI(ctx, "run", "--clock", "simulated", "--html", file, "../../scenarios/excessive-nat-handling.yaml")
		Expect(code).To(Equal(0))
		page, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(page), `class="row arrow `)).To(BeNumerically(">", 10))
	})
})
