package scenario

import (
	"net/netip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// NATConfig returns the simulator's configuration of the NAT box n.
func (n NAT) NATConfig() sim.NATConfig {
	return sim.NATConfig{
		Name: n.Name, Public: n.Public, LAN: n.LAN,
		Mapping: n.Mapping, Filtering: n.Filtering,
		BindingTimeout: n.BindingTimeout, Hairpinning: n.Hairpinning,
		RefreshInbound: n.RefreshInbound, PortAllocation: n.PortAllocation, PortSeed: n.PortSeed,
	}
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
