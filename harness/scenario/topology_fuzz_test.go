package scenario_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// Pools the topology fuzzer draws from: LANs that nest (10.1.0.0/16 holds 10.1.0.1, a
// public of another NAT), overlap (172.16.0.0/12 and 172.16.0.0/16) or stand alone, and
// addresses on them, their network and broadcast addresses, and public ones.
var (
	fuzzLANs  = []string{"192.168.1.0/24", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "100.64.0.0/10", "172.16.0.0/12", "172.16.0.0/16", "192.168.2.0/24"}
	fuzzAddrs = []string{"203.0.113.50", "203.0.113.51", "198.51.100.10", "10.1.0.1", "10.1.0.2", "10.2.0.1", "10.2.0.2", "10.3.0.1",
		"100.64.0.1", "172.16.0.1", "192.168.1.10", "192.168.1.11", "192.168.2.10", "192.168.1.255", "10.1.255.255", "10.2.0.0"}
)

// topology turns fuzz bytes into a scenario file: up to 5 NATs, up to 6 hosts (UAs
// with or without a registrar, proxies with or without a next-hop), a wait and at most
// one call. Every byte picks from a small pool, so most inputs are near-valid.
func topology(data []byte) string {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	var b strings.Builder
	b.WriteString("name: topo\nnats:\n")
	for i := range next() % 6 {
		fmt.Fprintf(&b, "  n%d: {public: %s, lan: %s}\n", i, fuzzAddrs[next()%len(fuzzAddrs)], fuzzLANs[next()%len(fuzzLANs)])
	}
	hosts := 1 + next()%6
	b.WriteString("hosts:\n")
	for i := range hosts {
		fmt.Fprintf(&b, "  h%d: {address: %s", i, fuzzAddrs[next()%len(fuzzAddrs)])
		ref := next()
		switch k := next() % 4; {
		case k == 0:
			b.WriteString(", role: ua")
		case k == 1:
			fmt.Fprintf(&b, ", role: ua, register-with: h%d", ref%hosts)
		case k == 2:
			b.WriteString(", role: proxy, registrar: true")
		default:
			fmt.Fprintf(&b, ", role: proxy, next-hop: h%d", ref%hosts)
		}
		b.WriteString("}\n")
	}
	b.WriteString("steps:\n  - wait: 1s\n")
	if c := next(); c%2 == 1 {
		fmt.Fprintf(&b, "  - call: {from: h%d, to: h%d, via: h%d}\n", next()%hosts, next()%hosts, next()%hosts)
	}
	return b.String()
}

// reaches reports whether a datagram from host from to dst, sent with no NAT binding
// open, gets to host to: the simulator's routing decides, independently of the loader.
func reaches(net *sim.Network, from, to string, dst netip.AddrPort) bool {
	r := net.ResolveAt(time.Unix(0, 0), from, 0, dst)
	return r.OK && r.Host == to || r.Cause == sim.CausePortUnreachable && r.Hop == to
}

// FuzzTopology generates topologies (nested NATs, loops of NATs, hosts on LAN edges,
// registrars and proxies behind NATs) and checks that Parse returns promptly and that
// whatever it accepts the simulator can build and route: no NAT loop, every registrar
// reachable from its UAs, every call's first proxy from its caller, every next-hop from
// the proxy before it. It found the loader hang on a loop of NATs that does not include
// the first NAT. Run it with:
//
//	go test ./harness/scenario -run '^$' -fuzz FuzzTopology -fuzztime 2m
func FuzzTopology(f *testing.F) {
	idx := func(pool []string, v string) byte { return byte(slices.Index(pool, v)) }
	// The 3-NAT loop: n1 behind n2 behind n1, and n0 behind n1.
	f.Add([]byte{3,
		idx(fuzzAddrs, "10.1.0.1"), idx(fuzzLANs, "192.168.1.0/24"),
		idx(fuzzAddrs, "10.2.0.1"), idx(fuzzLANs, "10.1.0.0/16"),
		idx(fuzzAddrs, "10.1.0.2"), idx(fuzzLANs, "10.2.0.0/16"),
		0, idx(fuzzAddrs, "198.51.100.10"), 0, 0})
	// A registrar behind a NAT its UA is not behind.
	f.Add([]byte{2,
		idx(fuzzAddrs, "203.0.113.50"), idx(fuzzLANs, "192.168.1.0/24"),
		idx(fuzzAddrs, "203.0.113.51"), idx(fuzzLANs, "192.168.2.0/24"),
		1, idx(fuzzAddrs, "192.168.2.10"), 0, 2, idx(fuzzAddrs, "192.168.1.10"), 0, 1})
	// A valid nested NAT: a home router on a carrier-grade NAT.
	f.Add([]byte{2,
		idx(fuzzAddrs, "203.0.113.50"), idx(fuzzLANs, "100.64.0.0/10"),
		idx(fuzzAddrs, "100.64.0.1"), idx(fuzzLANs, "192.168.1.0/24"),
		2, idx(fuzzAddrs, "198.51.100.10"), 0, 2, idx(fuzzAddrs, "192.168.1.10"), 0, 1,
		1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := topology(data)
		type parsed struct {
			s   *scenario.Scenario
			err error
		}
		done := make(chan parsed, 1)
		go func() {
			s, err := scenario.Parse("topo.yaml", []byte(src))
			done <- parsed{s, err}
		}()
		var p parsed
		select {
		case p = <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("Parse did not return within 2 s:\n%s", src)
		}
		if p.err != nil {
			if !errors.Is(p.err, scenario.ErrInvalid) || !strings.HasPrefix(p.err.Error(), `load scenario "topo.yaml": line `) {
				t.Fatalf("error without ErrInvalid or line: %v\n%s", p.err, src)
			}
			return
		}
		s := p.s
		for _, n := range s.NATs {
			seen := map[string]bool{}
			for o := n; o.Outside != ""; o, _ = s.NAT(o.Outside) {
				if seen[o.Name] {
					t.Fatalf("accepted a loop of NATs through %s:\n%s", o.Name, src)
				}
				seen[o.Name] = true
			}
		}
		net := sim.NewNetwork(sim.Config{Carrier: sim.Memory, Clock: sim.NewVirtualClock(time.Unix(0, 0))})
		defer net.Close()
		if err := s.AddTo(net); err != nil {
			t.Fatalf("accepted a topology the simulator refuses: %v\n%s", err, src)
		}
		for _, h := range s.Hosts {
			for _, n := range s.NATs {
				if n.LAN.Contains(h.Address.Addr()) && n.LAN.Bits() <= 30 &&
					(h.Address.Addr() == n.LAN.Addr() || h.Address.Addr() == lastAddr(n.LAN)) {
					t.Fatalf("accepted %s on the network or broadcast address of %s:\n%s", h.Name, n.LAN, src)
				}
			}
			if h.RegisterWith != "" {
				reg, _ := s.Host(h.RegisterWith)
				if !reaches(net, h.Name, reg.Name, reg.Address) {
					t.Fatalf("accepted %s registering with %s, which it cannot reach:\n%s", h.Name, reg.Name, src)
				}
			}
		}
		for _, st := range s.Steps {
			if st.Kind != scenario.StepCall {
				continue
			}
			prev, _ := s.Host(st.From)
			h, _ := s.Host(st.Via)
			for range len(s.Hosts) {
				if !reaches(net, prev.Name, h.Name, h.Address) {
					t.Fatalf("accepted a call whose INVITE cannot get from %s to %s:\n%s", prev.Name, h.Name, src)
				}
				to, _ := s.Host(st.To)
				if h.NextHop == "" || h.Name == to.RegisterWith {
					break
				}
				prev = h
				h, _ = s.Host(h.NextHop)
			}
		}
	})
}

// lastAddr is the broadcast address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	for i := range 4 {
		if host := p.Bits() - 8*i; host < 8 {
			a[i] |= byte(0xff >> max(host, 0))
		}
	}
	return netip.AddrFrom4(a)
}
