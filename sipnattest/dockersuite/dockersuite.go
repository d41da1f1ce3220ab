// Package dockersuite gates Ginkgo specs that need a Docker engine and the locally
// built Kamailio and OpenSIPS images (sipnatlab validate, harness/realproxy): without
// Docker such a spec is skipped, or fails when CI=true.
//
//	It("keeps calls up with our Kamailio config", Label("container"), func(ctx SpecContext) {
//		dockersuite.RequireKamailio(ctx, "")
//		...
//	})
package dockersuite

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"

	"github.com/sipnatlab/sipnatlab/harness/container"
)

// RequireKamailio lets a spec go on only with a Docker engine and the
// Kamailio image container.KamailioImage, built with script (the repository's
// scripts/build-kamailio-image.sh) when missing; with script "", a missing
// image skips the spec. Without Docker the spec is skipped, or fails when
// CI=true; a failed build always fails. It also disables the testcontainers
// reaper, whose image no registry here serves.
func RequireKamailio(ctx context.Context, script string) {
	requireDocker(ctx)
	if script == "" {
		if ok, err := container.ImagePresent(ctx, container.KamailioImage); err != nil || !ok {
			Skip("no local image " + container.KamailioImage + " (make image in the sipnatlab repository builds it)")
		}
		return
	}
	if _, err := container.EnsureKamailioImage(ctx, container.KamailioImage, script, GinkgoWriter); err != nil {
		Fail("building the Kamailio image: " + err.Error())
	}
}

// RequireOpenSIPS lets a spec go on only with a Docker engine and an
// OpenSIPS image, and returns that image: the local one, built with
// root/scripts/build-opensips-image.sh from the source tarball
// ($OPENSIPS_SRC, else ../shared/vendor beside root) when missing; else,
// with no tarball, the official image when a registry answers. With neither,
// the spec is skipped with a message naming both ways to get an image; a
// failed build always fails. Docker as for RequireKamailio.
func RequireOpenSIPS(ctx context.Context, root string) string {
	requireDocker(ctx)
	src := os.Getenv("OPENSIPS_SRC")
	if src == "" {
		src = filepath.Join(root, container.OpenSIPSSource)
	}
	img, _, err := container.EnsureOpenSIPSImage(ctx, container.OpenSIPSImage, filepath.Join(root, "scripts", "build-opensips-image.sh"), src, GinkgoWriter)
	if errors.Is(err, container.ErrNoOpenSIPSImage) {
		Skip(err.Error())
	}
	if err != nil {
		Fail("getting an OpenSIPS image: " + err.Error())
	}
	return img
}

func requireDocker(ctx context.Context) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		GinkgoT().Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if err := container.DockerAvailable(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			Fail("CI=true and Docker is not available: " + err.Error())
		}
		Skip("Docker is not available: " + err.Error())
	}
}
