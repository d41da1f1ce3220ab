package field

import (
	"net/netip"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// host is one SIP element of the capture, known by its IP address.
type host struct {
	name      string
	addr      netip.AddrPort // its address and SIP port
	given     bool           // named and placed by --scenario: roles and NAT are not inferred
	def       *scenario.Host // the scenario's host, when given
	proxy     bool           // forwarded a request (two Vias or more) or answered a REGISTER
	registrar bool           // answered a REGISTER with a 2xx
	nat       *nat           // the NAT it sits behind; nil for a public host
	nextHop   string         // the proxy it forwarded an INVITE to
	regWith   string         // the registrar it sent a REGISTER to
	// Reply-route rewrites of the Contact of 2xx seen at this proxy: of a reply
	// straight from a UA, of a reply another proxy relayed.
	fixedFromUA, fixedRelayed bool
}

// nat is a NAT box inferred from the capture (or named by --scenario).
type nat struct {
	name   string
	public netip.Addr
	lan    netip.Prefix
	why    string // the evidence, in words
	given  bool
	def    *scenario.NAT // the scenario's NAT, when given
	// bindings by external port: the internal endpoint.
	bindings map[uint16]netip.AddrPort
}

// topology is what the capture showed of the network: hosts by address, NATs by public
// address. It grows as the capture is read; version counts its changes.
type topology struct {
	names   map[netip.Addr]string
	hosts   map[netip.Addr]*host
	order   []*host
	nats    map[netip.Addr]*nat
	natList []*nat
	version int
	est     TimerEstimate // T1 and T2 the 2xx retransmissions showed
}

func newTopology(names map[netip.Addr]string, s *scenario.Scenario) *topology {
	t := &topology{names: names, hosts: map[netip.Addr]*host{}, nats: map[netip.Addr]*nat{}}
	if s == nil {
		return t
	}
	for _, n := range s.NATs {
		nn := &nat{name: n.Name, public: n.Public, lan: n.LAN, given: true, def: &n, why: "named by the scenario", bindings: map[uint16]netip.AddrPort{}}
		t.nats[n.Public] = nn
		t.natList = append(t.natList, nn)
	}
	for _, h := range s.Hosts {
		hh := &host{name: h.Name, addr: h.Address, given: true, def: &h, proxy: h.Role == scenario.RoleProxy,
			registrar: h.Registrar, nextHop: h.NextHop, regWith: h.RegisterWith}
		if h.NAT != "" {
			for _, n := range t.natList {
				if n.name == h.NAT {
					hh.nat = n
				}
			}
		}
		t.hosts[h.Address.Addr()] = hh
		t.order = append(t.order, hh)
	}
	return t
}

// isPrivate reports whether a is an address a NAT keeps behind it (RFC 1918, RFC 6598
// shared space, IPv6 unique local).

// host returns the host at a, adding it (named by --hosts or by its address) if new.
func (t *topology) host(a netip.AddrPort) *host {
	if h := t.hosts[a.Addr()]; h != nil {
		return h
	}
	name := t.names[a.Addr()]
	if name == "" {
		name = a.Addr().String()
	}
	h := &host{name: name, addr: a}
	t.hosts[a.Addr()] = h
	t.order = append(t.order, h)
	t.version++
	return h
}

// natAt returns the NAT whose public address is a, if any.
func (t *topology) natAt(a netip.Addr) *nat { return t.nats[a] }

// behind records that the private endpoint in reaches the network as ext through a
// NAT, adding the NAT if new, and returns it; why says what showed it.
func (t *topology) behind(in, ext netip.AddrPort, why string) *nat {
	n := t.nats[ext.Addr()]
	if n == nil {
		name := t.names[ext.Addr()]
		if name == "" {
			name = "nat-" + ext.Addr().String()
		}
		lan, _ := in.Addr().Prefix(24)
		if in.Addr().Is6() {
			lan, _ = in.Addr().Prefix(64)
		}
		for _, o := range t.natList {
			if o.lan.Overlaps(lan) {
				lan = netip.PrefixFrom(in.Addr(), in.Addr().BitLen()-2).Masked()
			}
		}
		n = &nat{name: name, public: ext.Addr(), lan: lan, why: why, bindings: map[uint16]netip.AddrPort{}}
		t.nats[ext.Addr()] = n
		t.natList = append(t.natList, n)
		t.version++
	}
	if old, ok := n.bindings[ext.Port()]; !ok || old != in {
		n.bindings[ext.Port()] = in
		t.version++
	}
	h := t.host(in)
	if h.nat == nil && !h.given {
		h.nat = n
		if !n.lan.Contains(in.Addr()) {
			n.lan, _ = in.Addr().Prefix(24)
		}
		t.version++
	}
	return n
}

// internal returns the private endpoint behind the NAT mapping ext, if known.
func (t *topology) internal(ext netip.AddrPort) (netip.AddrPort, *nat, bool) {
	n := t.nats[ext.Addr()]
	if n == nil {
		return netip.AddrPort{}, nil, false
	}
	in, ok := n.bindings[ext.Port()]
	return in, n, ok
}

// external returns the NAT mapping of the private endpoint in, if known.
func (t *topology) external(in netip.AddrPort) (netip.AddrPort, *nat, bool) {
	h := t.hosts[in.Addr()]
	if h == nil || h.nat == nil {
		return netip.AddrPort{}, nil, false
	}
	for p, i := range h.nat.bindings {
		if i == in {
			return netip.AddrPortFrom(h.nat.public, p), h.nat, true
		}
	}
	return netip.AddrPort{}, h.nat, false
}

// role returns what the capture showed a host to be.
func (h *host) role() scenario.Role {
	if h.proxy {
		return scenario.RoleProxy
	}
	return scenario.RoleUA
}

// handling is the Contact policy of the proxy's reply route its rewrites showed.
func (h *host) handling() proxy.Handling {
	switch {
	case h.fixedRelayed:
		return proxy.HandlingExcessive
	case h.fixedFromUA:
		return proxy.HandlingCorrect
	}
	return proxy.HandlingNone
}

// scenario returns the topology as a scenario (hosts, NATs, no steps): the judge's
// input for a field capture.
func (t *topology) scenario(file string) *scenario.Scenario {
	s := &scenario.Scenario{File: file, Name: "field-capture", Summary: "a field capture, diagnosed"}
	used := map[netip.Addr]bool{}
	for _, h := range t.order {
		used[h.addr.Addr()] = true
	}
	for _, n := range t.natList {
		used[n.public] = true
		if n.def != nil {
			s.NATs = append(s.NATs, *n.def)
			continue
		}
		s.NATs = append(s.NATs, scenario.NAT{Name: n.name, Public: n.public, LAN: n.lan})
	}
	// Private addresses no NAT was seen in front of (a capture inside one private
	// network, or a NAT's private public address): the fabric places them in a LAN
	// whose NAT the capture never crossed.
	lanOf := func(a netip.Addr) string {
		for _, n := range s.NATs {
			if n.LAN.Contains(a) {
				return n.Name
			}
		}
		p, _ := a.Prefix(16)
		for _, n := range s.NATs {
			if n.LAN.Overlaps(p) {
				p, _ = a.Prefix(24)
			}
		}
		pub := netip.AddrFrom4([4]byte{192, 0, 2, 254})
		for used[pub] {
			pub = pub.Prev()
		}
		used[pub] = true
		name := "lan-" + p.Addr().String()
		s.NATs = append(s.NATs, scenario.NAT{Name: name, Public: pub, LAN: p})
		return name
	}
	for i := range s.NATs {
		if n := s.NATs[i]; n.Outside == "" && sim.IsPrivate(n.Public) && n.Public.Is4() {
			out := lanOf(n.Public) // may grow s.NATs
			s.NATs[i].Outside = out
		}
	}
	for _, h := range t.order {
		if h.def != nil {
			s.Hosts = append(s.Hosts, *h.def)
			continue
		}
		hh := scenario.Host{Name: h.name, Role: h.role(), Address: h.addr, RegisterWith: h.regWith}
		switch {
		case h.nat != nil:
			hh.NAT = h.nat.name
		case sim.IsPrivate(h.addr.Addr()) && h.addr.Addr().Is4():
			hh.NAT = lanOf(h.addr.Addr())
		}
		if h.proxy {
			hh.Registrar, hh.NextHop, hh.NATHandling, hh.RecordRoute = h.registrar, h.nextHop, h.handling(), true
			hh.RegisterWith = ""
		}
		s.Hosts = append(s.Hosts, hh)
	}
	return s
}

// kebab turns a name into a scenario name: lower-case letters and digits joined by
// single hyphens ("203.0.113.2" becomes "h203-0-113-2").
func kebab(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	out := b.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "h" + out
	}
	return out
}

// applyTimers keeps the estimated timers for the scenario the topology writes.
func (t *topology) applyTimers(e TimerEstimate) { t.est = e }

// hostByName returns the host called name, or nil.
func (t *topology) hostByName(name string) *host {
	for _, h := range t.order {
		if h.name == name {
			return h
		}
	}
	return nil
}
