// Package suite holds what the project's own Ginkgo suites share: the leak
// guard every suite installs, and the gate of the specs that need Docker and
// the locally built Kamailio image.
package suite

import (
	"context"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/sipnatlab/sipnatlab/harness/container"
)

// GuardLeaks registers, at the top level of a suite, a check after every
// spec that it left no goroutine behind (a run's Close waits for what it
// started). The Docker client's idle HTTP connections and Ginkgo's own
// output copiers are not ours and are ignored. It returns true so a suite
// can write var _ = suite.GuardLeaks().
func GuardLeaks() bool {
	var baseline goleak.Option
	BeforeEach(func() { baseline = goleak.IgnoreCurrent() })
	AfterEach(func() {
		Expect(goleak.Find(baseline,
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
			// Under ginkgo -p, Ginkgo's output interceptor restarts its
			// copiers around the nodes of a spec.
			goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1"),
			goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1.1"),
		)).To(Succeed())
	})
	return true
}

// RequireKamailio lets a spec go on only with a Docker engine and the
// Kamailio image (built with script when missing). Without Docker the spec
// is skipped, or fails when CI=true; a failed build always fails. It also
// disables the testcontainers reaper, whose image no registry here serves.
func RequireKamailio(ctx context.Context, script string) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		GinkgoT().Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if err := container.DockerAvailable(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			Fail("CI=true and Docker is not available: " + err.Error())
		}
		Skip("Docker is not available: " + err.Error())
	}
	if _, err := container.EnsureKamailioImage(ctx, container.KamailioImage, script, GinkgoWriter); err != nil {
		Fail("building the Kamailio image: " + err.Error())
	}
}
