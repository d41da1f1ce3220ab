package sim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
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

// IsPrivate reports whether a is in a private range (RFC 1918 and the like) or
// RFC 6598 shared space: an address no host on the internet reaches.
func IsPrivate(a netip.Addr) bool { return a.IsPrivate() || sharedSpace.Contains(a) }

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
//
// Spill says how many payload bytes the [Capture] keeps in memory before it writes
// further ones to an unlinked temporary file.
type Config struct {
	Clock   Clock       // the run's time source; nil: SystemClock
	Carrier CarrierKind // how datagrams travel; zero: Loopback
	Spill   SpillConfig // where the capture's payloads go; zero: past 64 MiB, to os.TempDir()
}

// Stats counts what the fabric did. RealSent and MemorySent count datagrams actually handed
// to the carrier, so a test can prove that a dropped datagram never touched it.
type Stats struct {
	RealSent   int64 // datagrams written to a real socket by the loopback carrier
	MemorySent int64 // datagrams queued for a receiving Conn by the memory carrier
	Delivered  int64 // datagrams read by a receiving Conn
	Dropped    int64 // datagrams dropped by the routing, or at a full receive queue
	// Forged counts the frames the loopback carrier's receivers refused as not sent to
	// them by this run's fabric, whether recorded one by one or not ([CauseForged]).
	Forged int64
}

// Network is a simulated IPv4 network: hosts, NAT boxes with their LANs, and the capture
// of everything that crosses it. Its methods are safe for concurrent use. It starts no
// goroutines; Close closes every Conn.
type Network struct {
	clock   Clock
	kind    CarrierKind
	carrier carrier
	capture *Capture
	bufs    sync.Pool // *[]byte buffers of the loopback carrier, to read and write frames in

	realSent, memorySent, delivered, dropped, forged atomic.Int64

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
	n := &Network{
		clock:       cfg.Clock,
		kind:        cfg.Carrier,
		capture:     newCapture(cfg.Clock, cfg.Spill),
		bufs:        sync.Pool{New: func() any { b := make([]byte, maxDatagram+headerLen); return &b }},
		hosts:       make(map[string]*Host),
		hostByAddr:  make(map[netip.Addr]*Host),
		nats:        make(map[string]*NAT),
		natByPublic: make(map[netip.Addr]*NAT),
	}
	switch cfg.Carrier {
	case Loopback:
		key := newSecret()
		n.carrier = loopback{key: &key, bufs: &n.bufs}
	case Memory:
		n.carrier = memory{}
	default:
		panic(fmt.Sprintf("sim: NewNetwork: invalid carrier %s", cfg.Carrier))
	}
	return n
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
		Forged:     n.forged.Load(),
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
	if outer == nil && IsPrivate(cfg.Public) {
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
	if nat == nil && IsPrivate(addr) {
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
