// Package container starts a real SIP proxy (Kamailio or OpenSIPS, from
// images built locally or named by the user) from one of the fixtures in a Docker container on
// an internal Docker network, so the seed's three cases can be reproduced
// with the proxies operators actually run.
//
// It is shaped like a testcontainers-go module: Run(ctx, image, opts...)
// returns a *Proxy even on error, so the caller registers Terminate before
// checking the error, and readiness is a wait strategy (a SIP OPTIONS over
// UDP answered by the proxy), never a sleep. Images are local only: Run
// refuses an image the engine does not have instead of pulling it, and
// refuses to start while testcontainers' reaper (Ryuk) is enabled, since
// that would pull an image too.
//
//	              host (this process)
//	                   │  OPTIONS over UDP, from the bridge's host-side address
//	┌──────────── internal Docker network (no route out) ─────────────┐
//	│   gateway 172.x.0.1 (host)          proxy 172.x.0.2:5060        │
//	└─────────────────────────────────────────────────────────────────┘
//
// Start is the other way, the one sipnatlab validate takes: a container with no
// network at all, whose engine waits until the caller has given its network
// namespace an eth0 (package harness/realproxy: a TUN device at the scenario's
// address). Everything this package creates is labelled with its owner process
// (pid, boot id, start time); Sweep removes what owners that no longer run left.
package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dnetwork "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/network"
)

// KamailioImage is the tag scripts/build-kamailio-image.sh builds.
const KamailioImage = "sipnatlab/kamailio:5.6"

// SIPPort is the UDP port the proxies listen on inside their container: SIP's own.
const SIPPort = endpoint.DefaultPort

// Sentinel errors callers branch on.
var (
	// ErrRyukEnabled: testcontainers' reaper would pull its own image from a
	// registry; set TESTCONTAINERS_RYUK_DISABLED=true.
	ErrRyukEnabled = errors.New("testcontainers reaper (Ryuk) is enabled: set TESTCONTAINERS_RYUK_DISABLED=true")
	// ErrImageNotFound: the engine has no such image; it is never pulled.
	ErrImageNotFound = errors.New("image not found locally (images are built here, never pulled)")
)

// Flavor is the proxy software inside the image, in the scenario's vocabulary (its
// engine key); it decides where the config goes and how the proxy is started and
// checked.
type Flavor = scenario.Engine

// Flavors.
const (
	Kamailio = scenario.EngineKamailio
	OpenSIPS = scenario.EngineOpenSIPS
)

// ConfigPath is where a proxy of flavor f reads its config inside the container.
func ConfigPath(f Flavor) string {
	if f == OpenSIPS {
		return "/etc/opensips/opensips.cfg"
	}
	return "/etc/kamailio/kamailio.cfg"
}

// runCommand is the command line that starts the proxy in the foreground, logging
// to stderr.
func runCommand(f Flavor, defines []string) []string {
	if f == OpenSIPS {
		return []string{"opensips", "-F", "-m", "64", "-M", "8", "-f", ConfigPath(f)}
	}
	cmd := []string{"kamailio", "-DD", "-E", "-m", "64", "-M", "8", "-f", ConfigPath(f)}
	for _, d := range defines {
		cmd = append(cmd, "-A", d)
	}
	return cmd
}

// checkCommand is the command line that parses the config and exits.
func checkCommand(f Flavor, defines []string) []string {
	if f == OpenSIPS {
		return []string{"opensips", "-c", "-f", ConfigPath(f)}
	}
	cmd := []string{"kamailio", "-c", "-f", ConfigPath(f)}
	for _, d := range defines {
		cmd = append(cmd, "-A", d)
	}
	return cmd
}

// Proxy is a SIP proxy running in a container on an internal network.
// Its methods may be called concurrently; Terminate is idempotent.
type Proxy struct {
	flavor  Flavor
	defines []string          // kamailio -A
	env     map[string]string // the engine's environment (OpenSIPS reads defines there)
	pid     int               // Start's container's first process
	runID   string            // the runLabel of Start's container
	ctr     *testcontainers.DockerContainer
	nw      *testcontainers.DockerNetwork
	ownsNW  bool
	logs    *logBuffer
	addr    netip.AddrPort // the proxy's SIP address on the network
	gateway netip.Addr     // the host's address on the network

	once    sync.Once
	termErr error
}

// Run starts img with the config given by WithConfigFile on a new internal
// Docker network (or the one given by WithNetwork) and waits until the proxy
// answers SIP OPTIONS. The returned Proxy is non-nil whenever something was
// created, also with an error: register Terminate before checking the error.
// Options other than this package's are passed to testcontainers.Run after
// its own, so they may override them.
func Run(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Proxy, error) {
	s, extra, err := prepare(ctx, img, settings{flavor: flavorOf(img), startup: 60 * time.Second}, opts)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", img, err)
	}

	p := &Proxy{flavor: s.flavor, defines: s.defines, env: s.env, logs: &logBuffer{}, nw: s.network}
	if p.nw == nil {
		// The network carries a label of its own: when the request fails,
		// the engine may still have made it (a context that ended while
		// the answer was on its way), and the label is how to find it.
		labels := s.labels()
		labels[runLabel] = randomHex(8)
		nopts := []network.NetworkCustomizer{network.WithInternal(), network.WithLabels(labels)}
		if s.subnet.IsValid() {
			nopts = append(nopts, network.WithIPAM(&dnetwork.IPAM{Config: []dnetwork.IPAMConfig{{Subnet: s.subnet}}}))
		}
		nw, err := network.New(ctx, nopts...)
		if err != nil {
			err = errors.Join(err, removeNetworks(ctx, runLabel+"="+labels[runLabel]))
			return nil, fmt.Errorf("run %s: create internal network: %w", img, err)
		}
		p.nw, p.ownsNW = nw, true
	}

	cmd := runCommand(s.flavor, s.defines)
	own := []testcontainers.ContainerCustomizer{
		testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath: s.config, ContainerFilePath: ConfigPath(s.flavor), FileMode: 0o644,
		}),
		testcontainers.WithEntrypoint(cmd[0]),
		testcontainers.WithCmd(cmd[1:]...),
		network.WithNetwork([]string{string(s.flavor)}, p.nw),
		testcontainers.WithLogConsumers(p.logs),
		testcontainers.WithWaitStrategy(ForSIPOptions(p.nw.Name).WithStartupTimeout(s.startup)),
		testcontainers.WithLabels(s.labels()),
	}
	if len(s.env) > 0 {
		own = append(own, testcontainers.WithEnv(s.env))
	}
	ctr, err := testcontainers.Run(ctx, img, append(own, extra...)...)
	p.ctr = ctr
	if err != nil {
		return p, fmt.Errorf("run %s: %w%s", img, err, p.logTail(ctx))
	}
	if err := p.readAddresses(ctx); err != nil {
		return p, fmt.Errorf("run %s: %w", img, err)
	}
	return p, nil
}

// runLabel names the network of one Run.
const runLabel = "org.sipnatlab.run"

// removeNetworks removes every network labelled label (key=value), even
// once ctx has ended, within 30 s.
func removeNetworks(ctx context.Context, label string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	list, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", label)})
	if err != nil {
		return fmt.Errorf("list networks labelled %s: %w", label, err)
	}
	var errs []error
	for _, n := range list.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// labels are what Run puts on its container and network.
func (s settings) labels() map[string]string {
	l := map[string]string{"org.sipnatlab": "proxy"}
	if s.owner != "" {
		l[ownerLabel] = s.owner
	}
	if s.owner == Owner() {
		for k, v := range ownerLabels() {
			l[k] = v
		}
	}
	return l
}

// flavorOf guesses the flavor from the image name: OpenSIPS when the name
// says so, Kamailio otherwise. WithFlavor overrides it.
func flavorOf(img string) Flavor {
	if strings.Contains(strings.ToLower(img), "opensips") {
		return OpenSIPS
	}
	return Kamailio
}

func (p *Proxy) readAddresses(ctx context.Context) error {
	info, err := p.ctr.Inspect(ctx)
	if err != nil {
		return fmt.Errorf("inspect container: %w", err)
	}
	ep, ok := info.NetworkSettings.Networks[p.nw.Name]
	if !ok || !ep.IPAddress.IsValid() {
		return fmt.Errorf("container has no address on network %s", p.nw.Name)
	}
	p.addr = netip.AddrPortFrom(ep.IPAddress, SIPPort)
	p.gateway = ep.Gateway
	return nil
}

// Flavor is the proxy software in the container.
func (p *Proxy) Flavor() Flavor { return p.flavor }

// Addr is the proxy's SIP address (UDP) on its internal network, reachable
// from the host and from other containers on that network.
func (p *Proxy) Addr() netip.AddrPort { return p.addr }

// HostAddr is the host's own address on the proxy's network (the bridge's
// gateway): where a process on the host is seen from the proxy.
func (p *Proxy) HostAddr() netip.Addr { return p.gateway }

// Network is the Docker network the proxy sits on.
func (p *Proxy) Network() *testcontainers.DockerNetwork { return p.nw }

// ContainerID is the Docker ID of the proxy's container ("" when none was
// created).
func (p *Proxy) ContainerID() string {
	if p.ctr == nil {
		return ""
	}
	return p.ctr.GetContainerID()
}

// Container is the underlying testcontainers container, for what this type
// does not wrap.
func (p *Proxy) Container() *testcontainers.DockerContainer { return p.ctr }

// Logs returns everything the proxy wrote to stdout and stderr so far; it
// stays readable after Terminate.
func (p *Proxy) Logs() string { return p.logs.String() }

// Options sends one SIP OPTIONS to the proxy and returns the status code of
// its answer.
func (p *Proxy) Options(ctx context.Context) (int, error) {
	return SendOptions(ctx, p.addr)
}

// CheckConfig runs the proxy's own config check (kamailio -c / opensips -c)
// on the config inside the container, with the same defines, and returns its
// output; the error is non-nil when the check fails.
func (p *Proxy) CheckConfig(ctx context.Context) (string, error) {
	cmd := checkCommand(p.flavor, p.defines)
	code, r, err := p.ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("config check %q: %w", strings.Join(cmd, " "), err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("config check %q: read output: %w", strings.Join(cmd, " "), err)
	}
	if code != 0 {
		return string(out), fmt.Errorf("config check %q: exit code %d: %s", strings.Join(cmd, " "), code, lastLines(string(out), 5))
	}
	return string(out), nil
}

// Terminate stops and removes the container and, when Run created it, the
// network; it always tries both. It is idempotent, safe on a nil *Proxy, and
// runs even when ctx is already cancelled (it then has 30 s of its own).
func (p *Proxy) Terminate(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		var errs []error
		switch {
		case p.runID != "":
			// Start's container, found by its label whether or not the
			// request that made it returned: killed and removed at once
			// (nothing of a proxy needs a graceful stop, and an interrupted
			// run must be gone within a second). testcontainers' own
			// Terminate then only stops following the log, which has ended.
			if p.ctr != nil && removeContainer(ctx, p.ctr.GetContainerID()) == nil {
				_ = p.ctr.Terminate(ctx, testcontainers.StopTimeout(0))
				break
			}
			if err := removeContainers(ctx, runLabel+"="+p.runID); err != nil {
				errs = append(errs, err)
			}
			if p.ctr != nil {
				_ = p.ctr.Terminate(ctx, testcontainers.StopTimeout(0))
			}
		case p.ctr != nil:
			if err := p.ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
				errs = append(errs, fmt.Errorf("remove container %s: %w", p.ctr.GetContainerID(), err))
			}
		}
		if p.ownsNW && p.nw != nil {
			if err := p.nw.Remove(ctx); err != nil {
				errs = append(errs, fmt.Errorf("remove network %s: %w", p.nw.Name, err))
			}
		}
		p.termErr = errors.Join(errs...)
	})
	return p.termErr
}

// logTail is the end of the container's output for an error message. It
// asks the engine, since the log consumer may not have caught up with a
// container that has just exited.
func (p *Proxy) logTail(ctx context.Context) string {
	logs := p.logs.String()
	if p.ctr != nil {
		if r, err := p.ctr.Logs(context.WithoutCancel(ctx)); err == nil {
			if b, err := io.ReadAll(r); err == nil && len(b) > len(logs) {
				logs = string(b)
			}
			_ = r.Close()
		}
	}
	if t := lastLines(logs, 15); t != "" {
		return "\nlast log lines:\n" + t
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// imageExists asks the engine for img; a missing image is ErrImageNotFound.
func imageExists(ctx context.Context, img string) error {
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, img); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%w: %s", ErrImageNotFound, img)
		}
		return fmt.Errorf("inspect image: %w", err)
	}
	return nil
}

// newClient connects to the Docker engine testcontainers is configured for.
func newClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	return cli, nil
}

// logBuffer keeps a container's output; testcontainers feeds it from its
// own goroutine while callers read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

// Accept implements testcontainers.LogConsumer.
func (b *logBuffer) Accept(l testcontainers.Log) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(l.Content)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
