// Package realproxy puts real proxies (Kamailio, OpenSIPS) in containers in place of
// in-process proxy hosts of a run: harness.Options{Proxies: realproxy.Docker{}}. It is
// the only part of the runner that imports Docker code, so a simulated-time user of
// package harness pulls none.
package realproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/container"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// owner is the org.sipnatlab.owner label value of the real proxies (and
// their networks) this process starts: "pid-" and the process id.
func owner() string { return fmt.Sprintf("pid-%d", os.Getpid()) }

// ErrContainer wraps failures to set up or reach a real proxy.
var ErrContainer = errors.New("real proxy")

// Docker starts real proxies in containers with testcontainers-go, on an internal
// Docker network (no route out), from locally built images. Its zero value is ready.
type Docker struct{}

// world is what a run with containers adds: the internal network, the real
// addresses the in-process hosts take on it, the proxies and the relays that carry
// datagrams between the fabric and them. It implements harness.Started.
type world struct {
	s       *scenario.Scenario          // relocated
	proxies map[string]*container.Proxy // by host name
	relays  map[string]*relay
	bridge  string       // the network's Linux bridge
	aliases []netip.Addr // addresses added to the bridge
	real    map[string]string
}

// relocate returns a copy of s whose public addresses are real ones on
// subnet: each public host and each NAT's public side gets its own address
// (added to the bridge), and each containerised host the container's own.
// Private LAN addresses stay virtual.
func relocate(s *scenario.Scenario, subnet netip.Prefix, containers map[string]netip.Addr) (*scenario.Scenario, map[string]string, []netip.Addr, error) {
	for _, n := range s.NATs {
		if n.LAN.Overlaps(subnet) {
			return nil, nil, nil, fmt.Errorf("%w: nat %s lan %s overlaps the proxy network %s", ErrContainer, n.Name, n.LAN, subnet)
		}
	}
	c := *s
	real := map[string]string{}
	var aliases []netip.Addr
	next := subnet.Addr().Next() // .1 is the gateway
	for range 9 {
		next = next.Next()
	} // hosts from .10
	take := func() netip.Addr {
		a := next
		next = next.Next()
		aliases = append(aliases, a)
		return a
	}
	c.NATs = append([]scenario.NAT(nil), s.NATs...)
	for i := range c.NATs {
		if c.NATs[i].Outside != "" {
			continue // its public side is inside another NAT's LAN: virtual
		}
		c.NATs[i].Public = take()
		real[c.NATs[i].Name] = c.NATs[i].Public.String()
	}
	c.Hosts = append([]scenario.Host(nil), s.Hosts...)
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if k, ok := containers[h.Name]; ok {
			h.Address = netip.AddrPortFrom(k, container.SIPPort)
		} else if h.NAT == "" {
			h.Address = netip.AddrPortFrom(take(), h.Address.Port())
		} else {
			continue
		}
		real[h.Name] = h.Address.String()
	}
	return &c, real, aliases, nil
}

// Start starts the scenario's real proxies on one internal network and relocates the
// scenario onto it. On error, what was started is in the returned Started, whose Close
// removes it.
func (Docker) Start(ctx context.Context, s *scenario.Scenario, specs map[string]harness.Container) (harness.Started, error) {
	w := &world{s: s, proxies: map[string]*container.Proxy{}, relays: map[string]*relay{}}
	return w, w.start(ctx, specs)
}

func (w *world) start(ctx context.Context, specs map[string]harness.Container) error {
	if len(specs) != 1 {
		return fmt.Errorf("%w: one real proxy per run is supported, got %d", ErrContainer, len(specs))
	}
	var name string
	var spec harness.Container
	for name, spec = range specs {
	}
	h, ok := w.s.Host(name)
	if !ok || h.Role != scenario.RoleProxy {
		return fmt.Errorf("%w: %q is not a proxy host of scenario %s", ErrContainer, name, w.s.Name)
	}
	img := spec.Image
	switch spec.Engine {
	case "", scenario.EngineKamailio:
		if img == "" {
			img = container.KamailioImage
		}
	case scenario.EngineOpenSIPS:
		if img == "" {
			img = container.OpenSIPSImage
		}
	default:
		return fmt.Errorf("%w: unknown engine %q (kamailio or opensips)", ErrContainer, spec.Engine)
	}
	if spec.Image == "" {
		if ok, err := container.ImagePresent(ctx, img); err == nil && !ok {
			return fmt.Errorf("%w: %s: %w", ErrContainer, img, missingImage(spec.Engine))
		}
	}
	if _, err := os.Stat(spec.Config); err != nil {
		return fmt.Errorf("%w: config: %w", ErrContainer, err)
	}
	// A proxy that listens on loopback only would start and never be
	// reached: say so before waiting a minute for its answer to OPTIONS.
	if why := loopbackListener(spec.Config); why != "" {
		return fmt.Errorf("%w: %s", ErrContainer, why)
	}

	// A subnet no other run and no scenario LAN uses, from the benchmarking
	// range of RFC 2544, so the fabric treats its addresses as public (they
	// live only on the internal network); picked again when Docker reports
	// an overlap.
	var p *container.Proxy
	var subnet netip.Prefix
	var relocated *scenario.Scenario
	var real map[string]string
	var aliases []netip.Addr
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		subnet = container.BenchmarkingSubnet()
		// The container's address is assigned by Docker (.2 on a fresh
		// network); the other hosts' addresses are ours, so the next hop
		// of the proxy is known before it starts.
		k := subnet.Addr().Next().Next()
		relocated, real, aliases, err = relocate(w.s, subnet, map[string]netip.Addr{name: k})
		if err != nil {
			return err
		}
		engine := spec.Engine
		if engine == "" {
			engine = scenario.EngineKamailio
		}
		opts := []container.Option{container.WithConfigFile(spec.Config), container.WithSubnet(subnet), container.WithOwner(owner()), container.WithFlavor(engine)}
		if h.NextHop != "" {
			// The fixtures' NEXT_HOP: a -A define for Kamailio, an
			// environment variable for OpenSIPS.
			if nh, ok := relocated.Host(h.NextHop); ok {
				opts = append(opts, container.WithNextHop("sip:"+nh.Address.String()))
			}
		}
		p, err = runProxy(ctx, img, opts)
		if p != nil {
			w.proxies[name] = p
		}
		if err == nil {
			if p.Addr().Addr() != k {
				return fmt.Errorf("%w: container got %s, expected %s", ErrContainer, p.Addr().Addr(), k)
			}
			break
		}
		if p != nil {
			_ = p.Terminate(context.Background())
			delete(w.proxies, name)
		}
		if !container.SubnetTaken(err) {
			return fmt.Errorf("%w: %w", ErrContainer, err)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrContainer, err)
	}
	w.bridge = "br-" + p.Network().ID[:12]
	for _, a := range aliases {
		if out, err := exec.CommandContext(ctx, "ip", "-4", "addr", "add", a.String()+"/32", "dev", w.bridge).CombinedOutput(); err != nil {
			return fmt.Errorf("%w: add %s to %s: %v: %s", ErrContainer, a, w.bridge, err, out)
		}
		w.aliases = append(w.aliases, a)
	}
	w.real = real
	w.s = relocated
	return nil
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

// runProxy starts one proxy container.
func runProxy(ctx context.Context, img string, opts []container.Option) (*container.Proxy, error) {
	cs := make([]testcontainers.ContainerCustomizer, 0, len(opts))
	for _, o := range opts {
		cs = append(cs, o)
	}
	return container.Run(ctx, img, cs...)
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

// Attach makes a relay carry what the fabric delivers to host's conn to the container
// standing in for host, and back; false when host is no real proxy.
func (w *world) Attach(host string, conn *sim.Conn) (bool, error) {
	p, ok := w.proxies[host]
	if !ok {
		return false, nil
	}
	r, err := newRelay(conn, p.Addr(), w.realEndpoints())
	if err != nil {
		return true, err
	}
	w.relays[host] = r
	return true, nil
}

// Close removes relays, proxies and bridge addresses; it is safe to call after a
// failed start.
func (w *world) Close() {
	for _, r := range w.relays {
		r.close()
	}
	for _, p := range w.proxies {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = p.Terminate(ctx)
		cancel()
	}
	for _, a := range w.aliases {
		_ = exec.Command("ip", "-4", "addr", "del", a.String()+"/32", "dev", w.bridge).Run()
	}
}

// realEndpoints are the addresses of the in-process public hosts, where a
// real proxy may send requests unprompted.
func (w *world) realEndpoints() []netip.AddrPort {
	var out []netip.AddrPort
	for _, h := range w.s.Hosts {
		if _, isReal := w.proxies[h.Name]; !isReal && h.NAT == "" {
			out = append(out, h.Address)
		}
	}
	return out
}

// relay stands in the fabric for a real proxy: what the fabric delivers to
// its endpoint it sends to the container from a real socket bound to the
// sender's (real) address, and what the container sends to such an address
// it puts back into the fabric from the proxy's endpoint. So the container
// sees every in-process host at its own address, and the capture records
// every datagram to and from the proxy like those of an in-process one.
type relay struct {
	conn   *sim.Conn
	target netip.AddrPort // the container

	mu     sync.Mutex // guards socks and closed
	socks  map[netip.AddrPort]*net.UDPConn
	closed bool
	wg     sync.WaitGroup
}

func newRelay(conn *sim.Conn, target netip.AddrPort, endpoints []netip.AddrPort) (*relay, error) {
	r := &relay{conn: conn, target: target, socks: map[netip.AddrPort]*net.UDPConn{}}
	for _, e := range endpoints {
		if _, err := r.socket(e); err != nil {
			r.close()
			return nil, err
		}
	}
	r.wg.Add(1)
	go r.fromFabric()
	return r, nil
}

// socket returns the real socket bound to local, opening it (and its
// reader) on first use.
func (r *relay) socket(local netip.AddrPort) (*net.UDPConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, net.ErrClosed
	}
	if s, ok := r.socks[local]; ok {
		return s, nil
	}
	s, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("%w: bind %s: %w", ErrContainer, local, err)
	}
	r.socks[local] = s
	r.wg.Add(1)
	go r.fromContainer(s, local)
	return s, nil
}

func (r *relay) fromFabric() {
	defer r.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, src, err := r.conn.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s, err := r.socket(src)
		if err != nil {
			continue // the capture has it as delivered to the proxy; it goes no further
		}
		_, _ = s.WriteToUDPAddrPort(buf[:n], r.target)
	}
}

func (r *relay) fromContainer(s *net.UDPConn, local netip.AddrPort) {
	defer r.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := s.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if from.Addr().Unmap() != r.target.Addr() {
			continue // only the container talks to these sockets
		}
		_, _ = r.conn.WriteToAddrPort(buf[:n], local)
	}
}

func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	for _, s := range r.socks {
		_ = s.Close()
	}
	r.mu.Unlock()
	_ = r.conn.Close()
	r.wg.Wait()
}
