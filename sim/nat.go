package sim

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Defaults applied to a zero [NATConfig] field.
const (
	// DefaultBindingTimeout is the idle time after which a binding expires: the two minutes
	// of RFC 4787 §4.3, REQ-5.
	DefaultBindingTimeout = 120 * time.Second
	// DefaultFirstPort is the first external port a NAT allocates.
	DefaultFirstPort uint16 = 40000
)

// NATConfig describes one NAT box. Its zero values are documented defaults.
type NATConfig struct {
	Name      string       // unique among NATs and hosts; names the NAT in the Capture
	Public    netip.Addr   // the NAT's outside address
	LAN       netip.Prefix // the inside network
	Mapping   Behavior     // RFC 4787 §4.1; zero: endpoint-independent
	Filtering Behavior     // RFC 4787 §5; zero: endpoint-independent
	// BindingTimeout is how long a binding lives without traffic that refreshes it
	// (RFC 4787 §4.3); zero: DefaultBindingTimeout.
	BindingTimeout time.Duration
	// RefreshInbound lets inbound datagrams that pass the filter refresh a binding too;
	// outbound datagrams always do (RFC 4787 §4.3, REQ-6 and its discussion). Zero: only
	// outbound traffic refreshes.
	RefreshInbound bool
	// Hairpinning lets a LAN host reach another LAN host through the NAT's public address
	// (RFC 4787 §6, REQ-9).
	Hairpinning bool
	// PortAllocation chooses the external port of a new binding (RFC 4787 §4.2); zero:
	// SequentialPorts.
	PortAllocation PortAllocation
	// PortSeed seeds RandomPorts; the same seed yields the same ports.
	PortSeed uint64
	// FirstPort is where sequential allocation starts and the lowest port RandomPorts
	// draws (RFC 4787 §4.2); zero: DefaultFirstPort.
	FirstPort uint16
	// Forwards are static port forwards, as a router's "port forwarding" page sets them:
	// a datagram to the public address and a forward's Port reaches its To on the LAN,
	// whoever sent it (no filtering, no expiry), and what To sends from that endpoint
	// leaves from the public address and Port. Ports must differ; allocation skips them.
	Forwards []Forward
	// ALG, when set, is the NAT's application-level gateway (a router's "SIP ALG"): it is
	// given the payload of every datagram the NAT translates through a binding, with the
	// internal endpoint, the external one and the direction, and returns the payload to
	// send on (the same bytes when it changes nothing; it must not modify p). The
	// Translated record then holds the new payload. Package sim/alg has the SIP flavours
	// routers ship.
	ALG func(p []byte, internal, external netip.AddrPort, outbound bool) []byte
}

// Forward is one static port forward of a NAT: public port Port to the LAN endpoint To.
type Forward struct {
	Port uint16
	To   netip.AddrPort
}

// forwardTo returns the forward for public port port, if any.
func (c NATConfig) forwardTo(port uint16) (Forward, bool) {
	for _, f := range c.Forwards {
		if f.Port == port {
			return f, true
		}
	}
	return Forward{}, false
}

// forwardFrom returns the forward whose LAN endpoint is internal, if any.
func (c NATConfig) forwardFrom(internal netip.AddrPort) (Forward, bool) {
	for _, f := range c.Forwards {
		if f.To == internal {
			return f, true
		}
	}
	return Forward{}, false
}

func (c NATConfig) withDefaults() NATConfig {
	if c.BindingTimeout == 0 {
		c.BindingTimeout = DefaultBindingTimeout
	}
	if c.FirstPort == 0 {
		c.FirstPort = DefaultFirstPort
	}
	return c
}

// Binding is one entry of a NAT's table: the internal endpoint, the external endpoint the
// NAT maps it to and, for dependent mappings, the remote part of the mapping key.
type Binding struct {
	Internal, External netip.AddrPort
	// Remote is the remote part of the mapping key: invalid for endpoint-independent
	// mapping, address:0 for address-dependent, address:port for address-and-port-dependent.
	Remote   netip.AddrPort
	Created  time.Time
	LastUsed time.Time // last refresh: outbound use, or inbound with RefreshInbound (RFC 4787 §4.3, REQ-6)
}

// NAT is a NAT box of a [Network]. Its methods are safe for concurrent use.
type NAT struct {
	net   *Network
	cfg   NATConfig // with defaults applied
	table *table    // guarded by net.mu
	// outer is the NAT whose LAN holds this NAT's public address (a NAT behind a NAT, such
	// as a home router behind a carrier-grade NAT), or nil; guarded by net.mu.
	outer *NAT
}

// Name returns the NAT's name.
func (n *NAT) Name() string { return n.cfg.Name }

// Public returns the NAT's outside address.
func (n *NAT) Public() netip.Addr { return n.cfg.Public }

// LAN returns the NAT's inside network.
func (n *NAT) LAN() netip.Prefix { return n.cfg.LAN }

// Outer returns the NAT whose LAN holds this NAT's public address, or nil when that
// address is public.
func (n *NAT) Outer() *NAT {
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	return n.outer
}

// Config returns the NAT's configuration with defaults applied.
func (n *NAT) Config() NATConfig { return n.cfg }

// Bindings returns a snapshot of the bindings alive now on the network's clock, ordered by
// external port. Bindings that have expired but were not yet looked up are left out.
func (n *NAT) Bindings() []Binding {
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	return n.table.snapshot(n.net.clock.Now())
}

// errNoPort reports that every external port of a NAT is in use.
var errNoPort = errors.New("no free external port")

// mapKey is the key of a NAT binding (RFC 4787 §4.1): the internal endpoint plus the
// part of the remote endpoint the mapping behaviour depends on.
type mapKey struct {
	internal netip.AddrPort
	remote   netip.AddrPort
}

// binding is a table entry with the remote endpoints contacted through it, which
// address- and port-dependent filtering consults (RFC 4787 §5).
type binding struct {
	Binding
	key       mapKey
	contacted map[netip.AddrPort]struct{}
}

func (b *binding) permits(remote netip.AddrPort, f Behavior) bool {
	switch f {
	case EndpointIndependent:
		return true
	case AddressDependent:
		for r := range b.contacted {
			if r.Addr() == remote.Addr() {
				return true
			}
		}
		return false
	default:
		if remote.Port() == 0 { // a source port not known (see Network.Resolve)
			return b.permits(remote, AddressDependent)
		}
		_, ok := b.contacted[remote]
		return ok
	}
}

// table is the state machine of one NAT: its bindings, keyed both by mapping key and by
// external port. It does no I/O and reads no clock; every method takes now. Methods with a
// commit flag only report what would happen when commit is false.
type table struct {
	cfg    NATConfig
	ports  portAllocator
	byKey  map[mapKey]*binding
	byPort map[uint16]*binding
}

func newTable(cfg NATConfig) *table {
	cfg = cfg.withDefaults()
	return &table{
		cfg:    cfg,
		ports:  newPortAllocator(cfg),
		byKey:  make(map[mapKey]*binding),
		byPort: make(map[uint16]*binding),
	}
}

func (t *table) expired(b *binding, now time.Time) bool {
	return !now.Before(b.LastUsed.Add(t.cfg.BindingTimeout))
}

func (t *table) remove(b *binding) {
	delete(t.byKey, b.key)
	delete(t.byPort, b.External.Port())
}

// outResult is the outcome of an outbound datagram crossing a NAT.
type outResult struct {
	External netip.AddrPort // the translated source
	Created  bool           // a new binding was (or would be) created
	Idle     time.Duration  // how long the binding had been idle, when it existed
	Expired  *Binding       // a stale binding for the same key that was (or would be) removed
	// Reclaimed is a stale binding of another key whose external port the new binding
	// took over, removed (or that would be).
	Reclaimed *Binding
}

// outbound translates a datagram from internal to remote (RFC 4787 §4.1): it finds the
// binding for the mapping key or allocates one, refreshes it and remembers remote for
// filtering. Its only error is errNoPort.
func (t *table) outbound(now time.Time, internal, remote netip.AddrPort, commit bool) (outResult, error) {
	var res outResult
	key := mapKey{internal: internal, remote: t.cfg.Mapping.key(remote)}
	b := t.byKey[key]
	if b != nil && t.expired(b, now) {
		old := b.Binding
		res.Expired = &old
		if commit {
			t.remove(b)
		}
		b = nil
	}
	if b == nil {
		// A port is free when no binding holds it or its binding has expired.
		inUse := func(p uint16) bool {
			if _, fwd := t.cfg.forwardTo(p); fwd {
				return true
			}
			o, ok := t.byPort[p]
			return ok && !t.expired(o, now) && (res.Expired == nil || o.External != res.Expired.External)
		}
		port, ok := t.ports.next(internal, inUse)
		if !ok {
			return res, errNoPort
		}
		if o := t.byPort[port]; o != nil && (res.Expired == nil || o.External != res.Expired.External) {
			old := o.Binding
			res.Reclaimed = &old
			if commit {
				t.remove(o)
			}
		}
		res.Created = true
		res.External = netip.AddrPortFrom(t.cfg.Public, port)
		if !commit {
			return res, nil
		}
		t.ports.take(internal, port)
		b = &binding{
			Binding:   Binding{Internal: internal, External: res.External, Remote: key.remote, Created: now},
			key:       key,
			contacted: make(map[netip.AddrPort]struct{}),
		}
		t.byKey[key] = b
		t.byPort[port] = b
	}
	res.External = b.External
	if !res.Created {
		res.Idle = now.Sub(b.LastUsed)
	}
	if commit {
		b.LastUsed = now
		b.contacted[remote] = struct{}{}
	}
	return res, nil
}

// inResult is the outcome of an inbound datagram arriving at a NAT's public address.
type inResult struct {
	Internal netip.AddrPort // the translated destination, when OK
	OK       bool
	Binding  Binding  // the binding used or refused, when one was found
	Expired  *Binding // a binding found stale and removed (or that would be)
	Cause    Cause    // why the datagram is dropped, when !OK
	Reason   string   // the same in words
	// Refreshed says the datagram refreshed the binding (RefreshInbound), after Idle.
	Refreshed bool
	Idle      time.Duration
}

// inbound looks up the binding for external port port and applies the filtering behaviour
// to a datagram from remote (RFC 4787 §5). Expired bindings are removed lazily here.
func (t *table) inbound(now time.Time, remote netip.AddrPort, port uint16, commit bool) inResult {
	ext := netip.AddrPortFrom(t.cfg.Public, port)
	b := t.byPort[port]
	if b == nil {
		return inResult{Cause: CauseNoBinding, Reason: fmt.Sprintf("no binding for %s on %s", ext, t.cfg.Name)}
	}
	res := inResult{Binding: b.Binding}
	if t.expired(b, now) {
		old := b.Binding
		res.Expired = &old
		if commit {
			t.remove(b)
		}
		res.Cause = CauseBindingExpired
		res.Reason = fmt.Sprintf("binding %s -> %s on %s expired (idle %s, timeout %s)",
			b.Internal, b.External, t.cfg.Name, now.Sub(b.LastUsed), t.cfg.BindingTimeout)
		return res
	}
	if !b.permits(remote, t.cfg.Filtering) {
		who := remote.String()
		if t.cfg.Filtering == AddressDependent {
			who = remote.Addr().String()
		}
		res.Cause = CauseFiltered
		res.Reason = fmt.Sprintf("filtered by %s (%s filtering): %s never contacted from %s",
			t.cfg.Name, t.cfg.Filtering, who, b.Internal)
		return res
	}
	res.OK = true
	res.Internal = b.Internal
	if t.cfg.RefreshInbound {
		res.Refreshed, res.Idle = true, now.Sub(b.LastUsed)
		if commit {
			b.LastUsed = now
		}
	}
	return res
}

// replay applies one recorded table event: a binding created, used outbound (which also
// makes its remote endpoint pass filtering), used inbound (a refresh with RefreshInbound)
// or removed as expired. It allocates no port: replayed bindings hold the ports the
// record names.
func (t *table) replay(r Record) {
	switch r.Kind {
	case BindingCreated:
		key := mapKey{internal: r.Src, remote: t.cfg.Mapping.key(r.Dst)}
		if o := t.byPort[r.XSrc().Port()]; o != nil {
			t.remove(o)
		}
		if o := t.byKey[key]; o != nil {
			t.remove(o)
		}
		b := &binding{
			Binding:   Binding{Internal: r.Src, External: r.XSrc(), Remote: key.remote, Created: r.Time, LastUsed: r.Time},
			key:       key,
			contacted: make(map[netip.AddrPort]struct{}),
		}
		t.byKey[key] = b
		t.byPort[r.XSrc().Port()] = b
	case Translated:
		switch {
		case r.Src != r.XSrc(): // outbound: the source was mapped
			if b := t.byKey[mapKey{internal: r.Src, remote: t.cfg.Mapping.key(r.Dst)}]; b != nil {
				b.LastUsed = r.Time
				b.contacted[r.Dst] = struct{}{}
			}
		case r.Dst != r.XDst(): // inbound, or the inbound half of a hairpin
			if b := t.byPort[r.Dst.Port()]; b != nil && t.cfg.RefreshInbound {
				b.LastUsed = r.Time
			}
		}
	case BindingExpired:
		if b := t.byPort[r.XSrc().Port()]; b != nil && b.Internal == r.Src {
			t.remove(b)
		}
	}
}

// snapshot returns the bindings alive at now, ordered by external port.
func (t *table) snapshot(now time.Time) []Binding {
	out := make([]Binding, 0, len(t.byPort))
	for _, b := range t.byPort {
		if !t.expired(b, now) {
			out = append(out, b.Binding)
		}
	}
	slices.SortFunc(out, func(a, b Binding) int { return cmp.Compare(a.External.Port(), b.External.Port()) })
	return out
}
