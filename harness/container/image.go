package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/moby/moby/client"
)

// EnsureKamailioImage makes sure the engine has img, running script
// (scripts/build-kamailio-image.sh) when it does not; the script's output
// goes to out. It reports whether it built the image. The script needs root
// and the Debian mirror; it is cached by tag, so a second call is cheap.
func EnsureKamailioImage(ctx context.Context, img, script string, out io.Writer) (built bool, err error) {
	err = imageExists(ctx, img)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrImageNotFound) {
		return false, fmt.Errorf("ensure image %s: %w", img, err)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "SIPNATLAB_KAMAILIO_IMAGE="+img)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("ensure image %s: %s: %w", img, script, err)
	}
	if err := imageExists(ctx, img); err != nil {
		return false, fmt.Errorf("ensure image %s: after %s: %w", img, script, err)
	}
	return true, nil
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
