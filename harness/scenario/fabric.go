package scenario

import (
	"net/netip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// NATConfig returns the simulator's configuration of the NAT box n.
func (n NAT) NATConfig() sim.NATConfig {
	var fwds []sim.Forward
	for _, f := range n.Forwards {
		fwds = append(fwds, sim.Forward{Port: f.Port, To: f.To})
	}
	return sim.NATConfig{
		Name: n.Name, Public: n.Public, LAN: n.LAN,
		Mapping: n.Mapping, Filtering: n.Filtering,
		BindingTimeout: n.BindingTimeout, Hairpinning: n.Hairpinning,
		RefreshInbound: n.RefreshInbound, PortAllocation: n.PortAllocation, PortSeed: n.PortSeed,
		Forwards: fwds, ALG: n.SIPALG.Func(),
	}
}

// Reach is the address from which host from reaches host to: to's own address, or the
// public address and port of the forward that leads to it through its NAT when from
// does not sit behind that NAT.
func (s *Scenario) Reach(from, to string) netip.AddrPort {
	f, _ := s.Host(from)
	t, _ := s.Host(to)
	if t.NAT == "" {
		return t.Address
	}
	for i, nat := 0, f.NAT; nat != "" && i <= len(s.NATs); i++ { // Load refuses loops; i ends one anyway
		if nat == t.NAT {
			return t.Address
		}
		n, _ := s.NAT(nat)
		nat = n.Outside
	}
	n, _ := s.NAT(t.NAT)
	if fw, ok := n.Forward(to); ok {
		return netip.AddrPortFrom(n.Public, fw.Port)
	}
	return t.Address
}

// AddTo adds the scenario's NAT boxes (every NAT after the NAT it sits behind) and
// hosts to net, in file order otherwise. It opens no Conn: the runner listens on each
// host's port, and the judge builds a replica of the topology the same way.
func (s *Scenario) AddTo(net *sim.Network) error {
	for _, n := range outerFirst(s.NATs) {
		if _, err := net.AddNAT(n.NATConfig()); err != nil {
			return err
		}
	}
	for _, h := range s.Hosts {
		if _, err := net.AddHost(h.Name, h.Address.Addr()); err != nil {
			return err
		}
	}
	return nil
}

// outerFirst orders NATs so that every NAT comes after the NAT it sits behind, as the
// fabric needs them; otherwise in file order.
func outerFirst(nats []NAT) []NAT {
	var out []NAT
	added := map[string]bool{}
	for len(out) < len(nats) {
		progress := false
		for _, n := range nats {
			if !added[n.Name] && (n.Outside == "" || added[n.Outside]) {
				out = append(out, n)
				added[n.Name] = true
				progress = true
			}
		}
		if !progress { // a loop, which Load refuses: let AddNAT report it
			for _, n := range nats {
				if !added[n.Name] {
					out = append(out, n)
					added[n.Name] = true
				}
			}
		}
	}
	return out
}

// HostByAddr returns the host whose address is a (any port), or false.
func (s *Scenario) HostByAddr(a netip.Addr) (Host, bool) {
	for _, h := range s.Hosts {
		if h.Address.Addr() == a.Unmap() {
			return h, true
		}
	}
	return Host{}, false
}

// Forwarded lists the public addresses whose NAT forwards a port to the host called
// host: how hosts outside its NAT reach it.
func (s *Scenario) Forwarded(host string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, n := range s.NATs {
		if f, ok := n.Forward(host); ok {
			out = append(out, netip.AddrPortFrom(n.Public, f.Port))
		}
	}
	return out
}

// HostReachedAt returns the host that a datagram to a reaches: the host whose address
// it is, or the host a NAT forwards that public address and port to.
func (s *Scenario) HostReachedAt(a netip.AddrPort) (Host, bool) {
	if h, ok := s.HostByAddr(a.Addr()); ok {
		return h, true
	}
	for _, n := range s.NATs {
		if n.Public != a.Addr().Unmap() {
			continue
		}
		for _, f := range n.Forwards {
			if f.Port == a.Port() {
				return s.Host(f.Host)
			}
		}
	}
	return Host{}, false
}
