package matrix_test

import (
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("a simulated-time user of matrix", func() {
	It("imports no Docker, testcontainers or container package", func(ctx SpecContext) {
		if _, err := exec.LookPath("go"); err != nil {
			Skip("no go command: " + err.Error())
		}
		out, err := exec.CommandContext(ctx, "go", "list", "-deps",
			"github.com/sipnatlab/sipnatlab/harness/matrix",
			"github.com/sipnatlab/sipnatlab/harness/matrix/matrixtest").Output()
		Expect(err).NotTo(HaveOccurred())
		deps := strings.Fields(string(out))
		Expect(deps).To(ContainElement("github.com/sipnatlab/sipnatlab/harness/report"), "the listing is real")
		for _, d := range deps {
			for _, bad := range []string{"testcontainers", "github.com/docker/", "github.com/moby/", "harness/realproxy", "harness/container"} {
				Expect(d).NotTo(ContainSubstring(bad))
			}
		}
	})
})
