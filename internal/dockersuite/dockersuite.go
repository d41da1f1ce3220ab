// Package dockersuite gates the project's specs that need a Docker engine and the
// locally built Kamailio image.
package dockersuite

import (
	"context"
	"os"

	. "github.com/onsi/ginkgo/v2"

	"github.com/sipnatlab/sipnatlab/harness/container"
)

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
