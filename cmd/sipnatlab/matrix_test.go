package main

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const template = "../../scenarios/matrix/callee-nat.yaml"

var _ = Describe("sipnatlab matrix", func() {
	It("prints the table and the summary, exit 0 when every cell meets its expectations", func(ctx SpecContext) {
		code, out, stderr := runCLI(ctx, "matrix", "--only", "proxy-b=correct", "--only", "hairpinning=false", template)
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("18 of 108 cells run, simulated time"))
		Expect(out).To(ContainSubstring("✗ filtered-by-nat @alice ⚑proxy-b"))
		Expect(out).To(ContainSubstring("The ACK is lost in 6 of 18 cells, whenever filtering is address-dependent or address-and-port-dependent and record-route is false."))
	})

	It("runs shards 1/3, 2/3 and 3/3 whose merge prints the unsharded JSON", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		args := []string{"matrix", "--json", "--only", "proxy-b=correct,none", "--only", "mapping=endpoint-independent", template}
		code, whole, _ := runCLI(ctx, args...)
		Expect(code).To(Equal(0))
		var files []string
		for _, sh := range []string{"1/3", "2/3", "3/3"} {
			code, out, stderr := runCLI(ctx, append([]string{"matrix", "--shard", sh}, args[1:]...)...)
			Expect(code).To(Equal(0), stderr)
			Expect(out).To(ContainSubstring(`"shard": "` + sh + `"`))
			f := filepath.Join(dir, strings.ReplaceAll(sh, "/", "-")+".json")
			Expect(os.WriteFile(f, []byte(out), 0o644)).To(Succeed())
			files = append(files, f)
		}
		code, merged, stderr := runCLI(ctx, append([]string{"matrix", "merge", "--json"}, files...)...)
		Expect(code).To(Equal(0), stderr)
		Expect(merged).To(Equal(whole))

		code, _, stderr = runCLI(ctx, "matrix", "merge", files[0], files[2])
		Expect(code).To(Equal(2))
		Expect(stderr).To(ContainSubstring("a shard is missing"))
	})

	It("writes the cells as scenarios with --emit, each of which run reruns alone", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, out, stderr := runCLI(ctx, "matrix", "--emit", dir, "--only", "proxy-b=correct", "--only", "record-route=false",
			"--only", "mapping=address-dependent", "--only", "hairpinning=true", template)
		Expect(code).To(Equal(0), stderr)
		files := strings.Fields(out)
		Expect(files).To(HaveLen(3))
		code, out, _ = runCLI(ctx, "run", "--clock", "simulated", files[1])
		Expect(code).To(Equal(0))
		Expect(out).To(ContainSubstring("PASS callee-nat-address-dependent-address-dependent-hairpinning-no-record-route-correct"))
	})

	It("writes the HTML table with a ladder page per cell", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		code, _, stderr := runCLI(ctx, "matrix", "--html", dir, "--only", "proxy-b=excessive", "--only", "mapping=endpoint-independent", "--only", "hairpinning=false", template)
		Expect(code).To(Equal(0), stderr)
		page, err := os.ReadFile(filepath.Join(dir, "index.html"))
		Expect(err).NotTo(HaveOccurred())
		cells, err := filepath.Glob(filepath.Join(dir, "cells", "*.html"))
		Expect(err).NotTo(HaveOccurred())
		Expect(cells).To(HaveLen(6))
		for _, c := range cells {
			Expect(string(page)).To(ContainSubstring(`href="cells/` + filepath.Base(c) + `"`))
		}
	})

	It("exits 1 when a cell misses its expectations, and names it", func(ctx SpecContext) {
		data, err := os.ReadFile(template)
		Expect(err).NotTo(HaveOccurred())
		// Forget the filtering rule: the cells it covered now expect an ACK they do not get.
		bad := strings.Replace(string(data), "        filtering: [address-dependent, address-and-port-dependent]\n", "", 1)
		f := filepath.Join(GinkgoT().TempDir(), "t.yaml")
		Expect(os.WriteFile(f, []byte(bad), 0o644)).To(Succeed())
		code, out, _ := runCLI(ctx, "matrix", "--only", "proxy-b=correct", "--only", "mapping=endpoint-independent", "--only", "hairpinning=false", f)
		Expect(code).To(Equal(1))
		Expect(out).To(ContainSubstring("1 of 6 cells failed their expectations:"))
		Expect(out).To(ContainSubstring("callee-nat-endpoint-independent-endpoint-independent-no-hairpinning-no-record-route-correct: ack-at-callee want false, got true"))
	})

	DescribeTable("exits 2 on bad input, saying what is wrong",
		func(want string, args ...string) {
			code, out, stderr := runCLI(GinkgoT().Context(), append([]string{"matrix"}, args...)...)
			Expect(code).To(Equal(2))
			Expect(out).To(BeEmpty())
			Expect(stderr).To(ContainSubstring(want))
		},
		Entry("no template", "give exactly one template file"),
		Entry("a scenario without a matrix block", `load scenario "../../scenarios/correct-nat-handling.yaml": line 10: matrix: missing`, "../../scenarios/correct-nat-handling.yaml"),
		Entry("a bad shard", `--shard: shard "4/3": want I/N`, "--shard", "4/3", template),
		Entry("an unknown axis", `--only: matrix "../../scenarios/matrix/callee-nat.yaml": no axis "nat"`, "--only", "nat=x", template),
		Entry("an unknown value", `axis proxy-b has no value "sometimes"`, "--only", "proxy-b=sometimes", template),
		Entry("a bad proxy", `--proxy "proxy-b=kamailio": want HOST=ENGINE:CONFIG`, "--proxy", "proxy-b=kamailio", template),
		Entry("a proxy the template lacks", `proxy-c: scenario "callee-nat-endpoint-independent-endpoint-independent-no-hairpinning-record-route-none"`, "--proxy", "proxy-c=kamailio:../../fixtures/kamailio/correct.cfg", template),
		Entry("a define without a proxy", `--config and --as, or --proxy, are required`, "--define", "NO_RR", template),
		Entry("a proxy flag with merge", `merge takes --json and --html only`, "merge", "--proxy", "proxy-b=kamailio:x", "a.json"),
		Entry("a real proxy in simulated time", `a real proxy runs in real time only`, "--clock", "simulated", "--proxy", "proxy-b=kamailio:../../fixtures/kamailio/correct.cfg", template),
		Entry("merge of no report", "give the shards' JSON reports", "merge"),
	)
})
