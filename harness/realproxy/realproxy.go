// Package realproxy puts real proxies (Kamailio, OpenSIPS) in containers in place of
// in-process proxy hosts of a run: harness.Options{Proxies: realproxy.Docker{}}. It is
// the only part of the runner that imports Docker code, so a simulated-time user of
// package harness pulls none.
package realproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/testcontainers/testcontainers-go"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// owner is the org.sipnatlab.owner label value of the real proxies this process
// starts: "pid-" and the process id.
func owner() string { return container.Owner() }

// ErrContainer wraps failures to set up or reach a real proxy.
var ErrContainer = errors.New("real proxy")

// Docker starts real proxies in containers with testcontainers-go, from locally
// built images, each with no network but an interface this process owns (see
// tun.go). Its zero value is ready.
type Docker struct{}

// world is what a run with real proxies adds: the proxies, each in its own
// container with no network but the eth0 this process gives it, and the relays
// that carry datagrams between the fabric and them. It implements harness.Started.
type world struct {
	s    *scenario.Scenario // with unusable addresses mapped
	real map[string]string

	mu      sync.Mutex                  // guards proxies and relays while they start
	proxies map[string]*container.Proxy // by host name
	relays  map[string]*relay
}

// Start starts the scenario's real proxies, all at once, each at its host's
// scenario address (or the address it is mapped to, when that is no private,
// shared, benchmarking or documentation address), and waits until each is ready.
// Each start first removes what runs of processes that no longer exist left
// behind (container.Sweep). On error, what was started is in the returned Started,
// whose Close removes it.
func (Docker) Start(ctx context.Context, s *scenario.Scenario, specs map[string]harness.Container) (harness.Started, error) {
	w := &world{proxies: map[string]*container.Proxy{}, relays: map[string]*relay{}}
	w.s, w.real = withSafeAddresses(s)
	if w.real == nil {
		w.real = map[string]string{}
	}
	return w, w.start(ctx, specs)
}

func (w *world) start(ctx context.Context, specs map[string]harness.Container) error {
	if len(specs) == 0 {
		return fmt.Errorf("%w: no real proxy named", ErrContainer)
	}
	for name, spec := range specs {
		if err := check(ctx, w.s, name, spec); err != nil {
			return err
		}
	}
	probe := probeAddr(w.s)
	errs := make(chan error, len(specs))
	for name, spec := range specs {
		go func() { errs <- w.startOne(ctx, name, spec, probe) }()
	}
	var all []error
	for range specs {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	if len(all) > 0 {
		return errors.Join(all...)
	}
	for name := range specs {
		h, _ := w.s.Host(name)
		if _, mapped := w.real[name]; !mapped {
			w.real[name] = h.Address.String()
		}
	}
	return nil
}

// check refuses a spec that cannot run, before anything starts.
func check(ctx context.Context, s *scenario.Scenario, name string, spec harness.Container) error {
	h, ok := s.Host(name)
	if !ok || h.Role != scenario.RoleProxy {
		return fmt.Errorf("%w: %q is not a proxy host of scenario %s", ErrContainer, name, s.Name)
	}
	if why := s.RealProxyBehindNAT(h, engineOf(spec)); why != "" {
		return fmt.Errorf("%w: %s: %s", ErrContainer, name, why)
	}
	switch spec.Engine {
	case "", scenario.EngineKamailio, scenario.EngineOpenSIPS:
	default:
		return fmt.Errorf("%w: unknown engine %q (kamailio or opensips)", ErrContainer, spec.Engine)
	}
	if spec.Image == "" {
		if ok, err := container.ImagePresent(ctx, imageOf(spec)); err == nil && !ok {
			return fmt.Errorf("%w: %s: %w", ErrContainer, imageOf(spec), missingImage(spec.Engine))
		}
	}
	if _, err := os.Stat(spec.Config); err != nil {
		return fmt.Errorf("%w: config: %w", ErrContainer, err)
	}
	// A proxy that listens on loopback only would start and never be
	// reached: say so before waiting for its answer to OPTIONS.
	if why := loopbackListener(spec.Config); why != "" {
		return fmt.Errorf("%w: %s", ErrContainer, why)
	}
	return nil
}

func engineOf(spec harness.Container) scenario.Engine {
	if spec.Engine == "" {
		return scenario.EngineKamailio
	}
	return spec.Engine
}

func imageOf(spec harness.Container) string {
	switch {
	case spec.Image != "":
		return spec.Image
	case engineOf(spec) == scenario.EngineOpenSIPS:
		return container.OpenSIPSImage
	}
	return container.KamailioImage
}

// startOne starts the real proxy of host name, gives it its eth0 and waits until
// it is ready.
func (w *world) startOne(ctx context.Context, name string, spec harness.Container, probe netip.AddrPort) error {
	h, _ := w.s.Host(name)
	engine := engineOf(spec)
	who := fmt.Sprintf("%s (%s, %s)", name, engine, spec.Config)
	opts := []testcontainers.ContainerCustomizer{container.WithConfigFile(spec.Config), container.WithOwner(owner()), container.WithFlavor(engine)}
	if h.NextHop != "" {
		// The fixtures' NEXT_HOP: a -A define for Kamailio, an environment
		// variable for OpenSIPS.
		if nh, ok := w.s.Host(h.NextHop); ok {
			opts = append(opts, container.WithNextHop("sip:"+nh.Address.String()))
		}
	}
	for _, d := range spec.Defines {
		opts = append(opts, container.WithDefine(d))
	}
	p, err := container.Start(ctx, imageOf(spec), opts...)
	if p != nil {
		w.mu.Lock()
		w.proxies[name] = p
		w.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrContainer, who, err)
	}
	tun, err := openTUN(p.Pid(), h.Address.Addr())
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrContainer, who, err)
	}
	r := newRelay(tun, h.Address, probe)
	w.mu.Lock()
	w.relays[name] = r
	w.mu.Unlock()
	return r.waitReady(ctx, p, who)
}

// loopbackListener explains why a proxy whose config listens on loopback
// only (every socket=/listen= on 127.0.0.1, as OpenSIPS's templates ship,
// marked "CUSTOMIZE ME") cannot take part in a run; "" when it has a
// listener elsewhere, or none named.
func loopbackListener(config string) string {
	src, err := os.ReadFile(config)
	if err != nil {
		return ""
	}
	var lines []string
	for i, l := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(l)
		key, val, ok := strings.Cut(t, "=")
		key = strings.TrimSpace(key)
		if !ok || (key != "socket" && key != "listen") {
			continue
		}
		val, _, _ = strings.Cut(val, "#")
		val = strings.TrimSpace(val)
		if !strings.Contains(val, "127.0.0.1") && !strings.Contains(val, "localhost") && !strings.Contains(val, ":lo:") {
			return "" // a listener other hosts may reach
		}
		lines = append(lines, fmt.Sprintf("line %d: %s", i+1, val))
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("%s listens on loopback only (%s): nothing outside its own container can reach it, so no SIP "+
		"request of the scenario ever arrives; set the socket to the address the other hosts reach, "+
		"e.g. socket=udp:eth0:5060 in a container, or the proxy's own address in the field", config, strings.Join(lines, "; "))
}

// missingImage says how to get the default image of engine.
func missingImage(engine scenario.Engine) error {
	if engine == scenario.EngineOpenSIPS {
		return fmt.Errorf("%w (here: make image, or scripts/build-opensips-image.sh)", container.ErrNoOpenSIPSImage)
	}
	return errors.New("no local Kamailio image: make image (scripts/build-kamailio-image.sh, as root) builds it")
}

// Logs returns each real proxy's output by host name; it implements
// harness.LogsReporter.
func (w *world) Logs() map[string]string {
	out := map[string]string{}
	for name, p := range w.proxies {
		out[name] = p.Logs()
	}
	return out
}

// Scenario returns the scenario relocated onto the real addresses.
func (w *world) Scenario() *scenario.Scenario { return w.s }

// Real maps each host and NAT that took a real address to it.
func (w *world) Real() map[string]string { return w.real }

// Attach makes the relay of host carry what the fabric delivers to host's conn to
// the real proxy standing there, and back; false when host is no real proxy.
func (w *world) Attach(host string, conn *sim.Conn) (bool, error) {
	r, ok := w.relays[host]
	if !ok {
		return false, nil
	}
	r.attach(conn)
	return true, nil
}

// Close removes relays and proxies, the proxies all at once; it is safe to call
// after a failed start.
func (w *world) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.relays {
		r.close()
	}
	var wg sync.WaitGroup
	for _, p := range w.proxies {
		wg.Go(func() { _ = p.Terminate(context.Background()) })
	}
	wg.Wait()
}
