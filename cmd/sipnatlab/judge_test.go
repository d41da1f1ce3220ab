package main

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("sipnatlab judge", func() {
	DescribeTable("prints the JSON verdict and the report of the run that wrote the capture, with its exit code",
		func(ctx SpecContext, file string, code int) {
			pcap := filepath.Join(GinkgoT().TempDir(), "run.pcapng")
			runCode, runJSON, _ := runCLI(ctx, "run", "--clock", "simulated", "--json", "--pcap", pcap, file)
			Expect(runCode).To(Equal(code))
			judgeCode, judgeJSON, stderr := runCLI(ctx, "judge", "--json", pcap)
			Expect(stderr).To(BeEmpty())
			Expect(judgeCode).To(Equal(code))
			Expect(judgeJSON).To(Equal(runJSON))

			_, runText, _ := runCLI(ctx, "run", "--clock", "simulated", file)
			_, judgeText, _ := runCLI(ctx, "judge", pcap)
			Expect(judgeText).To(Equal(runText))
		},
		Entry("a lost ACK whose expectations hold", "../../scenarios/excessive-nat-handling.yaml", 0),
		Entry("an ACK that arrives", "../../scenarios/correct-nat-handling.yaml", 0),
		Entry("an expectation that fails", "testdata/wrong-expectation.yaml", 1),
	)

	It("gives the same bytes for two runs with one --seed, and prints the seed", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		a, b := filepath.Join(dir, "a.pcapng"), filepath.Join(dir, "b.pcapng")
		_, jsA, _ := runCLI(ctx, "run", "--clock", "simulated", "--seed", "42", "--json", "--pcap", a, "../../scenarios/no-nat-handling.yaml")
		_, jsB, _ := runCLI(ctx, "run", "--clock", "simulated", "--seed", "42", "--json", "--pcap", b, "../../scenarios/no-nat-handling.yaml")
		Expect(jsB).To(Equal(jsA))
		Expect(jsA).To(ContainSubstring(`"seed": 42`))
		bytesA, err := os.ReadFile(a)
		Expect(err).NotTo(HaveOccurred())
		bytesB, err := os.ReadFile(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytesB).To(Equal(bytesA))
	})

	DescribeTable("exits 2 on bad input, naming the file",
		func(ctx SpecContext, args []string, says string) {
			code, stdout, stderr := runCLI(ctx, append([]string{"judge"}, args...)...)
			Expect(code).To(Equal(2))
			Expect(stdout).To(BeEmpty())
			Expect(stderr).To(ContainSubstring(says))
		},
		Entry("no file", []string{}, "no capture file given"),
		Entry("a missing file", []string{"testdata/no-such.pcapng"}, "no-such.pcapng"),
		Entry("a file that is no pcapng", []string{"testdata/wrong-expectation.yaml"}, "wrong-expectation.yaml"),
	)
})
