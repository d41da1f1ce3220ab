package container

import (
	"context"
	"errors"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"os"
	"strings"
	"time"

	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// waitForNetwork is the shell loop an isolated proxy's entrypoint runs before the
// engine: it waits until its network namespace has a default route through eth0,
// the last thing the caller of Start sets up, then execs the engine ("$0" "$@").
const waitForNetwork = `until awk '$1=="eth0" && $2=="00000000" {f=1} END {exit !f}' /proc/net/route 2>/dev/null; do sleep 0.01; done; exec "$0" "$@"`

// Start starts img with the config given by WithConfigFile and with no network at
// all (Docker's network mode "none": a loopback interface only). The engine does
// not start until the caller has given the container's network namespace (Pid) an
// interface named eth0 and a default route through it: the proxy's whole world is
// what the caller puts there. Start does not wait for the proxy to be ready. The
// returned Proxy is non-nil whenever a container may have been created, also with
// an error: register Terminate before checking the error; it removes whatever
// Docker created under this start's label.
func Start(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Proxy, error) {
	s, extra, err := prepare(ctx, img, settings{flavor: flavorOf(img)}, opts)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", img, err)
	}
	labels := s.labels()
	labels[runLabel] = randomHex(8)
	p := &Proxy{flavor: s.flavor, defines: s.defines, env: s.env, logs: &logBuffer{}, runID: labels[runLabel]}
	cmd := runCommand(s.flavor, s.defines)
	own := []testcontainers.ContainerCustomizer{
		testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath: s.config, ContainerFilePath: ConfigPath(s.flavor), FileMode: 0o644,
		}),
		testcontainers.WithEntrypoint("/bin/sh", "-c", waitForNetwork),
		testcontainers.WithCmd(cmd...),
		testcontainers.WithHostConfigModifier(func(hc *dcontainer.HostConfig) { hc.NetworkMode = "none" }),
		testcontainers.WithLogConsumers(p.logs),
		testcontainers.WithLabels(labels),
	}
	if len(s.env) > 0 {
		own = append(own, testcontainers.WithEnv(s.env))
	}
	// When ctx ends during the request that creates the container, Docker may
	// still make it: Terminate looks for the label, and Sweep removes what
	// came later once this process is gone.
	ctr, err := testcontainers.Run(ctx, img, append(own, extra...)...)
	p.ctr = ctr
	if err != nil {
		return p, fmt.Errorf("start %s: %w", img, err)
	}
	info, err := ctr.Inspect(ctx)
	if err != nil {
		return p, fmt.Errorf("start %s: inspect: %w", img, err)
	}
	if info.State == nil || info.State.Pid == 0 {
		return p, fmt.Errorf("start %s: the container is not running%s", img, p.logTail(ctx))
	}
	p.pid = info.State.Pid
	return p, nil
}

// Pid is the host process id of the container's first process (0 for a proxy Run
// started): /proc/PID/ns/net is the network namespace Start's caller sets up.
func (p *Proxy) Pid() int { return p.pid }

// removeContainers force-removes every container labelled label (key=value), even
// once ctx has ended, within 10 s. A container whose create request was given up
// can be listed before Docker lets it be removed ("no such container"): it is
// tried again until the label lists nothing.
func removeContainers(ctx context.Context, label string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", label)})
		if err != nil {
			return fmt.Errorf("list containers labelled %s: %w", label, err)
		}
		if len(list.Items) == 0 {
			return nil
		}
		for _, c := range list.Items {
			_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
			if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
				return fmt.Errorf("remove container %s: %w", c.ID[:12], err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove containers labelled %s: %w", label, ctx.Err())
		case <-retry.C:
		}
	}
}

// removeContainer force-removes the container id (killing it first): one request.
func removeContainer(ctx context.Context, id string) error {
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
	return err
}

// finish turns WithNextHop and WithDefine into the flavor's mechanism once every
// option is applied: -A defines for Kamailio, environment variables for OpenSIPS.
func (s *settings) finish() {
	if s.nextHop != "" {
		s.defines = append(s.defines, fmt.Sprintf("NEXT_HOP=%q", s.nextHop))
		s.nextHop = ""
	}
	if s.flavor != OpenSIPS {
		return
	}
	for _, d := range s.defines {
		name, value := defineEnv(d)
		WithEnv(name, value)(s)
	}
	s.defines = nil
}

// defineEnv is the environment variable an OpenSIPS script reads a define from
// ($env(NAME) of cfgutils): NAME=VALUE, or NAME=1 for a bare NAME.
func defineEnv(define string) (string, string) {
	name, value, ok := strings.Cut(define, "=")
	if !ok {
		return name, "1"
	}
	return name, strings.Trim(value, `"`)
}

// prepare applies this package's options to s, returns the others for
// testcontainers.Run, and checks what Run and Start need before anything is created:
// a config file, no reaper, the image. It also sweeps what dead owners left.
func prepare(ctx context.Context, img string, s settings, opts []testcontainers.ContainerCustomizer) (settings, []testcontainers.ContainerCustomizer, error) {
	var extra []testcontainers.ContainerCustomizer
	for _, o := range opts {
		if o, ok := o.(Option); ok {
			o(&s)
			continue
		}
		extra = append(extra, o)
	}
	if s.config == "" {
		return s, nil, errors.New("no config file (use WithConfigFile)")
	}
	if _, err := os.Stat(s.config); err != nil {
		return s, nil, fmt.Errorf("config: %w", err)
	}
	s.finish()
	if !testcontainers.ReadConfig().RyukDisabled {
		return s, nil, ErrRyukEnabled
	}
	if err := imageExists(ctx, img); err != nil {
		return s, nil, err
	}
	_, _ = Sweep(ctx) // best effort: a leftover is no reason not to start
	return s, extra, nil
}
