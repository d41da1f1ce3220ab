package main

import (
	"context"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/match"
)

var _ = DescribeTable("every broken scenario of the golden table exits 2 with its exact error",
	func(file string) {
		golden, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".golden")
		Expect(err).NotTo(HaveOccurred())
		// The golden names the file as the loader's spec does; the CLI names it as given.
		want := strings.Replace(strings.TrimSpace(string(golden)), `"testdata/bad/`, `"../../harness/scenario/testdata/bad/`, 1)
		code, out, stderr := runCLI(context.Background(), "run", "--clock", "simulated", file)
		Expect(code).To(Equal(2))
		Expect(out).To(BeEmpty())
		Expect(strings.TrimSpace(stderr)).To(Equal("sipnatlab: " + want))
	},
	match.Entries("../../harness/scenario/testdata/bad"),
)
