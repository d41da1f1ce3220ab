package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"
)

// OpenSIPSImage is the tag scripts/build-opensips-image.sh builds from the
// OpenSIPS 3.6 source tarball; `validate --engine opensips` starts it unless
// another image is named.
const OpenSIPSImage = "sipnatlab/opensips:3.6"

// OfficialOpenSIPSImage is the OpenSIPS project's own image, pulled by
// EnsureOpenSIPSImage only where no source tarball and no local image exist.
const OfficialOpenSIPSImage = "opensips/opensips:3.6"

// OpenSIPSSource is the source tarball the OpenSIPS image is built from,
// relative to the project root (../shared/vendor, beside the clone); the
// environment variable OPENSIPS_SRC names another.
const OpenSIPSSource = "../shared/vendor/opensips-3.6.8.tar.gz"

// ErrNoOpenSIPSImage: no local OpenSIPS image, no source tarball to build one
// and no registry to pull the official one from.
var ErrNoOpenSIPSImage = errors.New("no OpenSIPS image: build one from a source tarball (OPENSIPS_SRC=opensips-X.Y.Z.tar.gz scripts/build-opensips-image.sh) " +
	"or pull the official one where a registry answers (docker pull " + OfficialOpenSIPSImage + ", then --image / SIPNATLAB_OPENSIPS_IMAGE)")

// EnsureKamailioImage makes sure the engine has img, running script
// (scripts/build-kamailio-image.sh) when it does not; the script's output
// goes to out. It reports whether it built the image. The script needs root
// and the Debian mirror; it is cached by tag, so a second call is cheap.
func EnsureKamailioImage(ctx context.Context, img, script string, out io.Writer) (built bool, err error) {
	return ensureImage(ctx, img, script, []string{"SIPNATLAB_KAMAILIO_IMAGE=" + img}, out)
}

// EnsureOpenSIPSImage returns an OpenSIPS image the engine has, and whether
// it built it: img when present; else img built by script
// (scripts/build-opensips-image.sh) from the tarball src (OpenSIPSSource
// resolved against the project root, or $OPENSIPS_SRC) when that exists;
// else OfficialOpenSIPSImage, pulled when a registry answers within a
// minute. Otherwise the error wraps ErrNoOpenSIPSImage. Output of the build
// goes to out.
func EnsureOpenSIPSImage(ctx context.Context, img, script, src string, out io.Writer) (string, bool, error) {
	err := imageExists(ctx, img)
	if err == nil {
		return img, false, nil
	}
	if !errors.Is(err, ErrImageNotFound) {
		return "", false, fmt.Errorf("ensure image %s: %w", img, err)
	}
	if _, serr := os.Stat(src); serr == nil {
		abs, _ := filepath.Abs(src)
		built, err := ensureImage(ctx, img, script, []string{"SIPNATLAB_OPENSIPS_IMAGE=" + img, "OPENSIPS_SRC=" + abs}, out)
		return img, built, err
	}
	if imageExists(ctx, OfficialOpenSIPSImage) == nil {
		return OfficialOpenSIPSImage, false, nil
	}
	if perr := pullImage(ctx, OfficialOpenSIPSImage, time.Minute); perr != nil {
		return "", false, fmt.Errorf("ensure image %s: no source tarball at %s and %s: %w", img, src, perr, ErrNoOpenSIPSImage)
	}
	return OfficialOpenSIPSImage, false, nil
}

// ensureImage runs script with env added when img is missing.
func ensureImage(ctx context.Context, img, script string, env []string, out io.Writer) (built bool, err error) {
	err = imageExists(ctx, img)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrImageNotFound) {
		return false, fmt.Errorf("ensure image %s: %w", img, err)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("ensure image %s: %s: %w", img, script, err)
	}
	if err := imageExists(ctx, img); err != nil {
		return false, fmt.Errorf("ensure image %s: after %s: %w", img, script, err)
	}
	return true, nil
}

// pullImage pulls img from its registry, giving up after limit. It is the
// only place this package pulls, and only EnsureOpenSIPSImage calls it, when
// nothing local can give an OpenSIPS image.
func pullImage(ctx context.Context, img string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	r, err := cli.ImagePull(ctx, img, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", img, err)
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("pull %s: %w", img, err)
	}
	return imageExists(ctx, img)
}

// ImagePresent reports whether the engine has img (never pulling it); the
// error is non-nil only when the engine cannot be asked.
func ImagePresent(ctx context.Context, img string) (bool, error) {
	err := imageExists(ctx, img)
	if errors.Is(err, ErrImageNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DockerAvailable reports whether a Docker engine answers, and why not.
func DockerAvailable(ctx context.Context) error {
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	return nil
}
