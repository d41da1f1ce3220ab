package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// ErrConfigRejected: the engine's own check (kamailio -c, opensips -c)
// refused the config.
var ErrConfigRejected = errors.New("config rejected by the engine's own check")

// CheckConfigFile runs the engine's own config check (kamailio -c /
// opensips -c) on the config at path (on the host) in a throw-away container
// of img, on an internal network of its own (so the container has a network
// interface, as scripts that name eth0 in socket= need), and returns the
// check's output. The error wraps ErrConfigRejected when the check fails,
// ErrImageNotFound when img is missing. Container and network are removed
// before it returns. Options (WithFlavor, WithEnv, WithDefine, WithOwner)
// apply as for Run.
func CheckConfigFile(ctx context.Context, img, path string, opts ...Option) (string, error) {
	s := settings{flavor: flavorOf(img)}
	for _, o := range opts {
		o(&s)
	}
	s.finish()
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("check %s with %s: %w", path, img, err)
	}
	if !testcontainers.ReadConfig().RyukDisabled {
		return "", fmt.Errorf("check %s with %s: %w", path, img, ErrRyukEnabled)
	}
	if err := imageExists(ctx, img); err != nil {
		return "", fmt.Errorf("check %s with %s: %w", path, img, err)
	}
	_, _ = Sweep(ctx)

	labels := s.labels()
	labels[runLabel] = randomHex(8)
	nw, err := network.New(ctx, network.WithInternal(), network.WithLabels(labels))
	if err != nil {
		err = errors.Join(err, removeNetworks(ctx, runLabel+"="+labels[runLabel]))
		return "", fmt.Errorf("check %s with %s: create internal network: %w", path, img, err)
	}
	defer func() { _ = removeNetworks(ctx, runLabel+"="+labels[runLabel]) }()

	cmd := checkCommand(s.flavor, s.defines)
	copts := []testcontainers.ContainerCustomizer{
		testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath: path, ContainerFilePath: ConfigPath(s.flavor), FileMode: 0o644,
		}),
		testcontainers.WithEntrypoint(cmd[0]),
		testcontainers.WithCmd(cmd[1:]...),
		network.WithNetwork([]string{"check"}, nw),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(time.Minute).WithPollInterval(100 * time.Millisecond)),
		testcontainers.WithLabels(s.labels()),
	}
	if len(s.env) > 0 {
		copts = append(copts, testcontainers.WithEnv(s.env))
	}
	ctr, err := testcontainers.Run(ctx, img, copts...)
	defer func() {
		if ctr != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = ctr.Terminate(tctx)
		}
	}()
	what := fmt.Sprintf("check %s with %s (%s)", path, img, strings.Join(cmd, " "))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	st, err := ctr.State(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	r, err := ctr.Logs(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: logs: %w", what, err)
	}
	b, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil {
		return "", fmt.Errorf("%s: logs: %w", what, err)
	}
	out := string(b)
	if st.ExitCode != 0 {
		return out, fmt.Errorf("%s: exit code %d: %w", what, st.ExitCode, ErrConfigRejected)
	}
	return out, nil
}
