package harness_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/container"
)

// requireDocker skips (or, with CI=true, fails) when there is no Docker
// engine or no Kamailio image can be built.
func requireDocker(ctx context.Context) {
	// There is no registry to pull the reaper image from.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		GinkgoT().Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if err := container.DockerAvailable(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			Fail("CI=true and Docker is not available: " + err.Error())
		}
		Skip("Docker is not available: " + err.Error())
	}
	if _, err := container.EnsureKamailioImage(ctx, container.KamailioImage, filepath.Join("..", "scripts", "build-kamailio-image.sh"), GinkgoWriter); err != nil {
		Fail("building the Kamailio image: " + err.Error())
	}
}

// facts is what must agree between an in-process proxy and a real one.
type facts struct {
	ACKAtCallee bool
	CalleeBYE   bool
	Blame       string
	ACKLostAt   string
}

func factsOf(res *harness.Result) facts {
	c := res.Call(0)
	return facts{c.ACKAtCallee, c.CalleeBYE, c.Blame, c.ACKLostAt}
}

var _ = Describe("the seed scenarios with Kamailio in place of an in-process proxy", Label("container"), Ordered, func() {
	BeforeAll(func(ctx SpecContext) { requireDocker(ctx) }, NodeTimeout(10*time.Minute))

	DescribeTable("agree with the in-process run",
		func(ctx SpecContext, file, host, config string) {
			s, err := harness.Load(filepath.Join("..", "scenarios", file))
			Expect(err).NotTo(HaveOccurred())
			s = s.Scaled(0.2)
			inProcess, err := harness.Run(ctx, s, harness.Options{Clock: harness.Simulated})
			Expect(err).NotTo(HaveOccurred())

			res, err := harness.Run(ctx, s, harness.Options{Containers: map[string]harness.Container{
				host: {Engine: "kamailio", Config: filepath.Join("..", "fixtures", "kamailio", config)},
			}})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Real).To(HaveKey(host))
			Expect(factsOf(res)).To(Equal(factsOf(inProcess)), res.Call(0).Diagnosis)
			Expect(res.Passed).To(BeTrue())
		},
		Entry("no-nat-handling, proxy-b is Kamailio none.cfg", "no-nat-handling.yaml", "proxy-b", "none.cfg"),
		Entry("excessive-nat-handling, proxy-b is Kamailio correct.cfg", "excessive-nat-handling.yaml", "proxy-b", "correct.cfg"),
		Entry("excessive-nat-handling, proxy-a is Kamailio excessive.cfg", "excessive-nat-handling.yaml", "proxy-a", "excessive.cfg"),
		Entry("correct-nat-handling, proxy-b is Kamailio correct.cfg", "correct-nat-handling.yaml", "proxy-b", "correct.cfg"),
		Entry("correct-nat-handling, proxy-a is Kamailio correct.cfg", "correct-nat-handling.yaml", "proxy-a", "correct.cfg"),
	)
})
