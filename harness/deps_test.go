package harness_test

import (
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sipnatlab/sipnatlab/harness/judge"
)

var _ = Describe("a simulated-time user's imports", func() {
	It("name no Docker, testcontainers, moby or OpenTelemetry package", func(ctx SpecContext) {
		if _, err := exec.LookPath("go"); err != nil {
			Skip("no go command: " + err.Error())
		}
		cmd := exec.CommandContext(ctx, "go", "list", "-deps",
			"github.com/sipnatlab/sipnatlab/harness",
			"github.com/sipnatlab/sipnatlab/harness/scenario",
			"github.com/sipnatlab/sipnatlab/harness/trace",
			"github.com/sipnatlab/sipnatlab/harness/judge",
			"github.com/sipnatlab/sipnatlab/harness/report",
			"github.com/sipnatlab/sipnatlab/harness/match",
		)
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred())
		deps := strings.Fields(string(out))
		Expect(deps).To(ContainElement("github.com/sipnatlab/sipnatlab/sim"), "the listing is real")
		for _, d := range deps {
			for _, bad := range []string{"testcontainers", "github.com/docker/", "github.com/moby/", "go.opentelemetry.io/", "harness/realproxy", "harness/container"} {
				Expect(d).NotTo(ContainSubstring(bad), "%s is imported", d)
			}
		}
	})
})

var _ = Describe("blame", func() {
	It("follows what the ACK met, not the NAT state at the end of the run", func(ctx SpecContext) {
		// correct handling, then bob's binding expires long before the run ends.
		c := chain{nat: ", binding-timeout: 30s", aHandling: "correct", bHandling: "correct"}
		f := runYAML(ctx, "late-end", c.yaml("late-end")+"  - wait: 10m\n")
		Expect(f.ACKAtCallee).To(BeTrue())
		Expect(f.Blame).To(BeEmpty())
		Expect(f.Class).To(Equal(judge.ClassACKArrived))
		for _, h := range f.Hops[1:] {
			Expect(h.Leads).To(BeTrue(), "%s's Contact %s %s", h.Host, h.Out, h.Resolves)
		}
	})

	It("is the hop whose Contact stopped leading to the callee when the ACK is lost, the same with a long wait after", func(ctx SpecContext) {
		c := chain{aHandling: "none", bHandling: "none"}
		short := runYAML(ctx, "none", c.yaml("none"))
		long := runYAML(ctx, "none-late", c.yaml("none-late")+"  - wait: 10m\n")
		Expect(short.Blame).To(Equal("proxy-b"))
		Expect(long.Blame).To(Equal(short.Blame))
		Expect(long.Hops).To(Equal(short.Hops))
	})
})
