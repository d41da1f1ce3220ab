package realproxy

import (
	"fmt"
	"net/netip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// usable are the ranges whose addresses may become real addresses on this host
// (inside a real proxy's network namespace): private (RFC 1918), shared (RFC 6598),
// benchmarking (RFC 2544) and documentation (RFC 5737) addresses, which name no
// host on the Internet.
var usable = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// Usable reports whether a may become a real address on this host.
func Usable(a netip.Addr) bool {
	for _, p := range usable {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// withSafeAddresses returns s, or a copy of s in which every public address (of a
// host not behind a NAT, or of a NAT's public side) that is not Usable is replaced
// by a free one of 198.18.0.0/15, and the mapping, original to new, by name.
func withSafeAddresses(s *scenario.Scenario) (*scenario.Scenario, map[string]string) {
	used := map[netip.Addr]bool{}
	for _, h := range s.Hosts {
		used[h.Address.Addr()] = true
	}
	for _, n := range s.NATs {
		used[n.Public] = true
	}
	next := netip.MustParseAddr("198.18.0.10")
	take := func() netip.Addr {
		for used[next] {
			next = next.Next()
		}
		used[next] = true
		return next
	}
	mapped := map[string]string{}
	c := *s
	c.NATs = append([]scenario.NAT(nil), s.NATs...)
	for i := range c.NATs {
		n := &c.NATs[i]
		if n.Outside != "" || Usable(n.Public) {
			continue
		}
		a := take()
		mapped[n.Name] = fmt.Sprintf("%s (mapped from %s, which is no private, shared, benchmarking or documentation address)", a, n.Public)
		n.Public = a
	}
	c.Hosts = append([]scenario.Host(nil), s.Hosts...)
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if h.NAT != "" || Usable(h.Address.Addr()) {
			continue
		}
		a := netip.AddrPortFrom(take(), h.Address.Port())
		mapped[h.Name] = fmt.Sprintf("%s (mapped from %s, which is no private, shared, benchmarking or documentation address)", a, h.Address)
		h.Address = a
	}
	if len(mapped) == 0 {
		return s, nil
	}
	return &c, mapped
}

// probeAddr is where readiness probes come from: an address of the benchmarking
// range that s does not use.
func probeAddr(s *scenario.Scenario) netip.AddrPort {
	a := netip.MustParseAddr("198.19.255.254")
	for taken(s, a) {
		a = a.Prev()
	}
	return netip.AddrPortFrom(a, 5060)
}

func taken(s *scenario.Scenario, a netip.Addr) bool {
	for _, h := range s.Hosts {
		if h.Address.Addr() == a {
			return true
		}
	}
	for _, n := range s.NATs {
		if n.Public == a {
			return true
		}
	}
	return false
}
