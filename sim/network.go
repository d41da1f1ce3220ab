package sim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrNoLAN is wrapped by AddHost when a private address (RFC 1918, the RFC 6598
	// shared 100.64.0.0/10 range, or any address inside a NAT LAN) lies inside no NAT's LAN.
	ErrNoLAN = errors.New("private address lies inside no NAT LAN")
	// ErrClosed is wrapped by operations on a closed Conn or Network; errors.Is(err,
	// net.ErrClosed) holds for it.
	ErrClosed = fmt.Errorf("sim: %w", net.ErrClosed)
)

// sharedSpace is the RFC 6598 carrier-grade NAT range, private like RFC 1918.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

func isPrivate(a netip.Addr) bool { return a.IsPrivate() || sharedSpace.Contains(a) }

// Config configures a Network. Its zero value is ready to use: the system clock and the
// loopback carrier.
//
// Carrier selects how datagrams move between endpoints; parse its word with
// [ParseCarrier]. [Loopback] (the zero value) backs every endpoint with a real UDP socket
// on 127.0.0.1. [Memory] backs every endpoint with a bounded receive queue of 4096
// datagrams, with no sockets and no goroutines, so that a whole run, given the system
// clock, can execute inside a testing/synctest bubble on simulated time. Routing, NAT and
// the Capture behave alike on both: the same traffic yields the same records in the same
// order. Only the memory carrier can fill a queue; it then drops the datagram with the
// reason "receive queue full on <host>:<port>".
type Config struct {
	Clock   Clock       // the run's time source; nil: SystemClock
	Carrier CarrierKind // how datagrams travel; zero: Loopback
}

// Stats counts what the fabric did. RealSent and MemorySent count datagrams actually handed
// to the carrier, so a test can prove that a dropped datagram never touched it.
type Stats struct {
	RealSent   int64 // datagrams written to a real socket by the loopback carrier
	MemorySent int64 // datagrams queued for a receiving Conn by the memory carrier
	Delivered  int64 // datagrams read by a receiving Conn
	Dropped    int64 // datagrams dropped by the routing, or at a full receive queue
}

// Network is a simulated IPv4 network: hosts, NAT boxes with their LANs, and the capture
// of everything that crosses it. Its methods are safe for concurrent use. It starts no
// goroutines; Close closes every Conn.
type Network struct {
	clock   Clock
	kind    CarrierKind
	carrier carrier
	capture *Capture
	bufs    sync.Pool // *[]byte receive buffers of the loopback carrier

	realSent, memorySent, delivered, dropped atomic.Int64

	mu           sync.Mutex // guards the fields below, every NAT table and every Host.conns
	closed       bool
	hosts        map[string]*Host
	hostByAddr   map[netip.Addr]*Host
	nats         map[string]*NAT
	natByPublic  map[netip.Addr]*NAT
	natOrder     []*NAT // in creation order, for LAN lookup
	lastDatagram int
}

// NewNetwork returns an empty network that carries datagrams with cfg.Carrier. It panics
// if cfg.Carrier is neither Loopback nor Memory.
func NewNetwork(cfg Config) *Network {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	var car carrier
	switch cfg.Carrier {
	case Loopback:
		car = loopback{}
	case Memory:
		car = memory{}
	default:
		panic(fmt.Sprintf("sim: NewNetwork: invalid carrier %s", cfg.Carrier))
	}
	return &Network{
		clock:       cfg.Clock,
		kind:        cfg.Carrier,
		carrier:     car,
		capture:     newCapture(cfg.Clock),
		bufs:        sync.Pool{New: func() any { b := make([]byte, maxDatagram+headerLen); return &b }},
		hosts:       make(map[string]*Host),
		hostByAddr:  make(map[netip.Addr]*Host),
		nats:        make(map[string]*NAT),
		natByPublic: make(map[netip.Addr]*NAT),
	}
}

// Capture returns the network's capture.
func (n *Network) Capture() *Capture { return n.capture }

// Carrier returns the kind of carrier the network moves datagrams with.
func (n *Network) Carrier() CarrierKind { return n.kind }

// Clock returns the network's clock.
func (n *Network) Clock() Clock { return n.clock }

// Stats returns the fabric's counters.
func (n *Network) Stats() Stats {
	return Stats{
		RealSent:   n.realSent.Load(),
		MemorySent: n.memorySent.Load(),
		Delivered:  n.delivered.Load(),
		Dropped:    n.dropped.Load(),
	}
}

// unicast4 reports why a is not a routable unicast IPv4 address, or "".
func unicast4(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "no address"
	case !a.Is4():
		return "IPv6 is not routed"
	case a.IsUnspecified():
		return "the unspecified address is not routed"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast is not routed"
	case a.IsMulticast():
		return "multicast is not routed"
	case a.IsLoopback():
		return "loopback is not routed"
	}
	return ""
}

// AddNAT adds a NAT box. It fails if the name is empty or taken, the LAN is not an IPv4
// prefix or overlaps another NAT's LAN or holds an existing host or NAT, or the public
// address is not unicast IPv4 or is taken.
//
// A NAT may sit behind another one: when its public address lies in the LAN of a NAT
// added before it (a home router on a carrier-grade NAT's 100.64.0.0/10, RFC 6598), its
// outside traffic crosses that NAT too. Outer NATs are added first, so a private public
// address inside no LAN fails with an error wrapping ErrNoLAN.
//
//	bob 192.168.1.10 ── home-nat (public 100.64.0.2) ── cgn (public 203.0.113.99) ── proxy
func (n *Network) AddNAT(cfg NATConfig) (*NAT, error) {
	cfg = cfg.withDefaults()
	cfg.LAN = cfg.LAN.Masked()
	fail := func(format string, a ...any) (*NAT, error) {
		return nil, fmt.Errorf("add NAT %q: "+format, append([]any{cfg.Name}, a...)...)
	}
	cfg.Public = cfg.Public.Unmap()
	switch {
	case cfg.Name == "":
		return fail("empty name")
	case !cfg.LAN.IsValid() || !cfg.LAN.Addr().Is4():
		return fail("LAN %q is not an IPv4 prefix", cfg.LAN)
	case unicast4(cfg.Public) != "":
		return fail("public address %q: %s", cfg.Public, unicast4(cfg.Public))
	case !cfg.Mapping.valid():
		return fail("invalid mapping behavior %s", cfg.Mapping)
	case !cfg.Filtering.valid():
		return fail("invalid filtering behavior %s", cfg.Filtering)
	case !cfg.PortAllocation.valid():
		return fail("invalid port allocation %s", cfg.PortAllocation)
	case cfg.BindingTimeout < 0:
		return fail("negative binding timeout %s", cfg.BindingTimeout)
	}
	if cfg.LAN.Contains(cfg.Public) {
		return fail("public address %s lies inside its own LAN %s", cfg.Public, cfg.LAN)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fail("%w", ErrClosed)
	}
	if n.nats[cfg.Name] != nil || n.hosts[cfg.Name] != nil {
		return fail("name already taken")
	}
	var outer *NAT
	for _, o := range n.natOrder {
		if o.cfg.LAN.Overlaps(cfg.LAN) {
			return fail("LAN %s overlaps LAN %s of %s", cfg.LAN, o.cfg.LAN, o.cfg.Name)
		}
		if o.cfg.LAN.Contains(cfg.Public) {
			outer = o
		}
		if cfg.LAN.Contains(o.cfg.Public) {
			return fail("LAN %s holds the public address %s of %s; add the outer NAT first", cfg.LAN, o.cfg.Public, o.cfg.Name)
		}
	}
	if outer == nil && isPrivate(cfg.Public) {
		return fail("public address %s: %w", cfg.Public, ErrNoLAN)
	}
	if o := n.natByPublic[cfg.Public]; o != nil {
		return fail("public address %s is taken by NAT %s", cfg.Public, o.cfg.Name)
	}
	if h := n.hostByAddr[cfg.Public]; h != nil {
		return fail("public address %s is taken by host %s", cfg.Public, h.name)
	}
	for a, h := range n.hostByAddr {
		if cfg.LAN.Contains(a) {
			return fail("LAN %s holds existing host %s (%s)", cfg.LAN, h.name, a)
		}
	}
	nat := &NAT{net: n, cfg: cfg, table: newTable(cfg), outer: outer}
	n.nats[cfg.Name] = nat
	n.natByPublic[cfg.Public] = nat
	n.natOrder = append(n.natOrder, nat)
	return nat, nil
}

// lanOf returns the NAT whose LAN holds a, or nil. Callers hold n.mu.
func (n *Network) lanOf(a netip.Addr) *NAT {
	for _, nat := range n.natOrder {
		if nat.cfg.LAN.Contains(a) {
			return nat
		}
	}
	return nil
}

// AddHost adds a host with the virtual address addr. A host whose address lies in a NAT's
// LAN sits behind that NAT; any other private address fails with an error wrapping
// ErrNoLAN. Names and addresses are unique (NAT public addresses included).
func (n *Network) AddHost(name string, addr netip.Addr) (*Host, error) {
	addr = addr.Unmap()
	fail := func(format string, a ...any) (*Host, error) {
		return nil, fmt.Errorf("add host %q: "+format, append([]any{name}, a...)...)
	}
	if name == "" {
		return fail("empty name")
	}
	if why := unicast4(addr); why != "" {
		return fail("address %q: %s", addr, why)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fail("%w", ErrClosed)
	}
	if n.hosts[name] != nil || n.nats[name] != nil {
		return fail("name already taken")
	}
	if h := n.hostByAddr[addr]; h != nil {
		return fail("address %s is taken by host %s", addr, h.name)
	}
	if nat := n.natByPublic[addr]; nat != nil {
		return fail("address %s is the public address of NAT %s", addr, nat.cfg.Name)
	}
	nat := n.lanOf(addr)
	if nat == nil && isPrivate(addr) {
		return fail("%s: %w", addr, ErrNoLAN)
	}
	h := &Host{net: n, name: name, addr: addr, nat: nat, conns: make(map[uint16]*Conn), ephemeral: firstEphemeral}
	n.hosts[name] = h
	n.hostByAddr[addr] = h
	return h, nil
}

// Host returns the host named name, or nil.
func (n *Network) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hosts[name]
}

// HostByAddr returns the host with virtual address a, or nil.
func (n *Network) HostByAddr(a netip.Addr) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hostByAddr[a.Unmap()]
}

// NAT returns the NAT named name, or nil.
func (n *Network) NAT(name string) *NAT {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nats[name]
}

// Close closes every Conn of the network; later ListenPacket, AddHost and AddNAT calls
// fail with ErrClosed. It is idempotent. The network owns no goroutines, so nothing is
// left running once it returns.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	var conns []*Conn
	for _, h := range n.hosts {
		for _, c := range h.conns {
			conns = append(conns, c)
		}
	}
	n.mu.Unlock()
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Resolve reports, without sending anything or changing any NAT state, which host and
// port a datagram sent now from host from to dst would reach, or ok=false with the reason
// it would be dropped. It follows the NAT bindings that exist now and applies filtering to
// the source from would present after its own NAT. The source port is the lowest port
// from listens on; if it listens on none, the port is unknown, a new binding is predicted
// and address-and-port-dependent filtering is judged on the address alone.
func (n *Network) Resolve(from string, dst netip.AddrPort) (host string, port uint16, ok bool, reason string) {
	return n.ResolveFrom(from, 0, dst)
}

// ResolveFrom is Resolve for a datagram sent from port srcPort of host from; srcPort 0
// means what it means to Resolve.
func (n *Network) ResolveFrom(from string, srcPort uint16, dst netip.AddrPort) (host string, port uint16, ok bool, reason string) {
	r := n.ResolveAt(n.clock.Now(), from, srcPort, dst)
	return r.Host, r.Port, r.OK, r.Reason
}

// Resolution is where a datagram would go: the host and port it would reach, or the hop
// where it would be dropped and why.
type Resolution struct {
	OK     bool
	Host   string // the receiving host, when OK
	Port   uint16 // the port it would arrive on, when OK
	Hop    string // where it would be dropped, when !OK
	Cause  Cause  // why, for programs, when !OK
	Reason string // why, in words, when !OK
}

// ResolveAt is ResolveFrom at the instant now instead of the clock's, with the hop and
// typed cause of a drop. A NAT binding idle at now for its timeout or longer counts as
// expired. Together with [Network.Replay] it judges a capture after the fact.
func (n *Network) ResolveAt(now time.Time, from string, srcPort uint16, dst netip.AddrPort) Resolution {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.hosts[from]
	if h == nil {
		return Resolution{Hop: from, Cause: CauseNoHost, Reason: fmt.Sprintf("no host named %q", from)}
	}
	if srcPort == 0 {
		for p := range h.conns {
			if srcPort == 0 || p < srcPort {
				srcPort = p
			}
		}
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	v := n.route(now, h, netip.AddrPortFrom(h.addr, srcPort), dst, nil)
	if !v.ok {
		return Resolution{Hop: v.hop, Cause: v.cause, Reason: v.reason}
	}
	return Resolution{OK: true, Host: v.to.host.name, Port: v.dst.Port()}
}

// Replay applies the NAT table records of a capture (BindingCreated, Translated,
// BindingExpired) to the NATs of n that have the same names, so that their tables hold
// the bindings, the remote endpoints each binding was used towards (for filtering) and
// the instants they were last used, as the recorded network had them after those
// records. It sends nothing and records nothing; other records and records of hops n
// does not know are ignored. Replaying a capture on a network built from the same
// topology, in Seq order, lets [Network.ResolveAt] answer where a datagram would have
// gone at any instant of the run.
func (n *Network) Replay(recs ...Record) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range recs {
		if nat := n.nats[r.Hop]; nat != nil {
			nat.table.replay(r)
		}
	}
}

// datagram is one datagram being routed for real (not a dry run).
type datagram struct {
	id   int
	data []byte
}

// verdict is where routing ended: at a receiving Conn, or dropped at a hop.
type verdict struct {
	ok       bool
	queued   bool           // the memory carrier already queued it for to
	to       *Conn          // the receiving Conn, when ok
	hop      string         // where it ended
	src, dst netip.AddrPort // as seen there
	cause    Cause          // why it was dropped, for programs
	reason   string         // why it was dropped, in words
}

func dropAt(hop string, src, dst netip.AddrPort, cause Cause, format string, a ...any) verdict {
	return verdict{hop: hop, src: src, dst: dst, cause: cause, reason: fmt.Sprintf(format, a...)}
}

// send records a datagram written by c to dst and routes it. Routing and recording happen
// under n.mu so that the records of one datagram are contiguous decisions in Seq order.
// With the memory carrier, send also queues the datagram for the receiving Conn under
// n.mu, so every queue holds its datagrams in the Seq order of their Sent records and a
// full queue is recorded with the datagram's other records.
func (n *Network) send(c *Conn, dst netip.AddrPort, data []byte) (verdict, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || c.closed.Load() {
		return verdict{}, 0, ErrClosed
	}
	n.lastDatagram++
	dg := &datagram{id: n.lastDatagram, data: data}
	n.capture.add(Record{Datagram: dg.id, Kind: Sent, Hop: c.host.name, Src: c.local, Dst: dst, Data: data})
	v := n.route(n.clock.Now(), c.host, c.local, dst, dg)
	if v.ok && n.kind == Memory {
		err := c.sock.send(v.to.sock, frame{id: dg.id, src: v.src, data: data})
		switch {
		case errors.Is(err, errQueueFull):
			v = dropAt(v.hop, v.src, v.dst, CauseQueueFull, "receive queue full on %s:%d", v.to.host.name, v.dst.Port())
		case errors.Is(err, net.ErrClosed):
			return verdict{}, 0, ErrClosed
		case err != nil:
			return verdict{}, 0, err
		default:
			v.queued = true
			n.memorySent.Add(1)
		}
	}
	if !v.ok {
		n.capture.add(Record{Datagram: dg.id, Kind: Dropped, Hop: v.hop, Src: v.src, Dst: v.dst, Cause: v.cause, Reason: v.reason, Data: data})
		n.dropped.Add(1)
	}
	return v, dg.id, nil
}

// route follows a datagram from src on host from to dst through the topology: out through
// every NAT in front of from until a LAN holds dst or the public side is reached, then in
// through the NATs in front of the destination. With dg nil it is a dry run: nothing is
// recorded and no NAT table changes. Callers hold n.mu.
func (n *Network) route(now time.Time, from *Host, src, dst netip.AddrPort, dg *datagram) verdict {
	commit := dg != nil
	emit := func(r Record) {
		if dg == nil {
			return
		}
		r.Datagram = dg.id
		if r.Kind == Translated {
			r.Data = dg.data
		}
		n.capture.add(r)
	}
	if why := unicast4(dst.Addr()); why != "" {
		return dropAt(from.name, src, dst, CauseUnroutable, "no host owns %s (%s)", dst.Addr(), why)
	}
	here := from.name
	for nat := from.nat; nat != nil; nat = nat.outer {
		if nat.cfg.LAN.Contains(dst.Addr()) {
			return n.onLAN(now, nat, here, src, dst, emit, commit)
		}
		out, err := nat.table.outbound(now, src, dst, commit)
		if err != nil {
			return dropAt(nat.cfg.Name, src, dst, CauseNoPort, "%v on %s for %s", err, nat.cfg.Name, src)
		}
		for _, e := range []*Binding{out.Expired, out.Reclaimed} {
			if e != nil {
				emit(expiredRecord(nat, e))
			}
		}
		note := fmt.Sprintf("binding %s -> %s refreshed (idle %s)", src, out.External, out.Idle)
		if out.Created {
			note = fmt.Sprintf("new binding %s -> %s", src, out.External)
			why := fmt.Sprintf("%s mapping", nat.cfg.Mapping)
			if nat.cfg.PortAllocation != SequentialPorts {
				why += fmt.Sprintf(", %s port allocation", nat.cfg.PortAllocation)
			}
			emit(Record{Kind: BindingCreated, Hop: nat.cfg.Name, Src: src, XSrc: out.External, Dst: dst, XDst: dst, Reason: why})
		}
		emit(Record{Kind: Translated, Hop: nat.cfg.Name, Src: src, Dst: dst, XSrc: out.External, XDst: dst, Reason: note})
		src, here = out.External, nat.cfg.Name
		if dst.Addr() == nat.cfg.Public {
			if !nat.cfg.Hairpinning {
				return dropAt(here, src, dst, CauseNoHairpin, "hairpinning disabled on %s", nat.cfg.Name)
			}
			return n.inbound(now, nat, src, dst, true, emit, commit)
		}
	}
	if nat := n.natByPublic[dst.Addr()]; nat != nil && nat.outer == nil {
		return n.inbound(now, nat, src, dst, false, emit, commit)
	}
	if nat := n.lanOf(dst.Addr()); nat != nil {
		return dropAt(here, src, dst, CausePrivateUnreachable, "no route to private address %s from %s (it lies behind %s)", dst, src.Addr(), nat.cfg.Name)
	}
	if isPrivate(dst.Addr()) {
		return dropAt(here, src, dst, CausePrivateUnreachable, "no route to private address %s from %s (no LAN holds it)", dst, src.Addr())
	}
	h := n.hostByAddr[dst.Addr()]
	if h == nil {
		return dropAt(here, src, dst, CauseNoHost, "no host owns %s", dst.Addr())
	}
	return n.arrive(h, src, dst)
}

func expiredRecord(nat *NAT, e *Binding) Record {
	return Record{Kind: BindingExpired, Hop: nat.cfg.Name, Src: e.Internal, XSrc: e.External, Dst: e.Remote,
		Reason: fmt.Sprintf("idle since %s, timeout %s", e.LastUsed.Format(time.RFC3339Nano), nat.cfg.BindingTimeout)}
}

// onLAN hands a datagram on nat's LAN, last handled at here, to the host that owns dst or
// to the NAT behind nat whose public address dst is. Callers hold n.mu.
func (n *Network) onLAN(now time.Time, nat *NAT, here string, src, dst netip.AddrPort, emit func(Record), commit bool) verdict {
	if h := n.hostByAddr[dst.Addr()]; h != nil && h.nat == nat {
		return n.arrive(h, src, dst)
	}
	if inner := n.natByPublic[dst.Addr()]; inner != nil && inner.outer == nat {
		return n.inbound(now, inner, src, dst, false, emit, commit)
	}
	return dropAt(here, src, dst, CauseNoHost, "no host owns %s on the LAN of %s", dst.Addr(), nat.cfg.Name)
}

// inbound passes a datagram from src to nat's public endpoint dst through the NAT's table
// (RFC 4787 §5), or through its hairpin (§6). Callers hold n.mu.
func (n *Network) inbound(now time.Time, nat *NAT, src, dst netip.AddrPort, hairpin bool, emit func(Record), commit bool) verdict {
	in := nat.table.inbound(now, src, dst.Port(), commit)
	if e := in.Expired; e != nil {
		emit(expiredRecord(nat, e))
	}
	if !in.OK {
		return dropAt(nat.cfg.Name, src, dst, in.Cause, "%s", in.Reason)
	}
	note := fmt.Sprintf("binding %s -> %s", in.Binding.External, in.Internal)
	if in.Refreshed {
		note += fmt.Sprintf(" refreshed by inbound (idle %s)", in.Idle)
	}
	if hairpin {
		note = "hairpin via " + note
	}
	emit(Record{Kind: Translated, Hop: nat.cfg.Name, Src: src, Dst: dst, XSrc: src, XDst: in.Internal, Reason: note})
	return n.onLAN(now, nat, nat.cfg.Name, src, in.Internal, emit, commit)
}

// arrive hands a datagram to the Conn listening on dst of host h. Callers hold n.mu.
func (n *Network) arrive(h *Host, src, dst netip.AddrPort) verdict {
	c := h.conns[dst.Port()]
	if c == nil {
		return dropAt(h.name, src, dst, CausePortUnreachable, "port %d unreachable on %s", dst.Port(), h.name)
	}
	return verdict{ok: true, to: c, hop: h.name, src: src, dst: dst}
}
