package field

import (
	"fmt"
	"slices"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// translate adds the records of n rewriting from into to: a binding the first time.
func (a *analyzer) translate(add func(sim.Record), n *nat, from, to pair) {
	if from.src != to.src { // outbound
		k := fmt.Sprintf("%s %d", n.name, to.src.Port())
		if _, ok := a.bindRecs[k]; !ok {
			add(sim.Record{Kind: sim.BindingCreated, Hop: n.name, Src: from.src, Dst: from.dst, X: &sim.Translation{Src: to.src}, Reason: "inferred from the capture"})
		}
	}
	add(sim.Record{Kind: sim.Translated, Hop: n.name, Src: from.src, Dst: from.dst, X: &sim.Translation{Src: to.src, Dst: to.dst}})
}

// replay applies a NAT record to the resolver network and keeps the bindings' records.
func (a *analyzer) replay(r sim.Record) {
	switch r.Kind {
	case sim.BindingCreated:
		k := fmt.Sprintf("%s %d", r.Hop, r.XSrc().Port())
		a.bindRecs[k] = []sim.Record{r}
	case sim.Translated:
		if r.Src != r.XSrc() {
			k := fmt.Sprintf("%s %d", r.Hop, r.XSrc().Port())
			rs := a.bindRecs[k]
			i := slices.IndexFunc(rs, func(x sim.Record) bool { return x.Kind == sim.Translated && x.Dst == r.Dst })
			c := r
			c.Data = nil
			if i < 0 {
				a.bindRecs[k] = append(rs, c)
			} else {
				rs[i] = c
			}
		}
	default:
		return
	}
	if a.net != nil {
		a.net.Replay(r)
	}
}

// network returns the resolver network of the current topology, rebuilt when the
// topology changed.
func (a *analyzer) network(at time.Time) *sim.Network {
	if a.netVersion == a.topo.version {
		return a.net
	}
	if a.net != nil {
		_ = a.net.Close()
	}
	a.netVersion = a.topo.version
	a.net, a.netErr = nil, nil
	s := ipv4Only(a.topo.scenario(""))
	n := sim.NewNetwork(sim.Config{Clock: sim.NewVirtualClock(at), Carrier: sim.Memory})
	if err := s.AddTo(n); err != nil {
		a.netErr = err
		_ = n.Close()
		return nil
	}
	for _, h := range s.Hosts {
		if _, err := n.Host(h.Name).ListenPacket(h.Address.Port()); err != nil {
			a.netErr = err
			_ = n.Close()
			return nil
		}
	}
	var recs []sim.Record
	for _, rs := range a.bindRecs {
		recs = append(recs, rs...)
	}
	slices.SortFunc(recs, func(x, y sim.Record) int { return x.Seq - y.Seq })
	n.Replay(recs...)
	a.net = n
	return n
}

// ipv4Only is s without its IPv6 hosts and NATs: the simulated network routes
// IPv4 only (sim refuses other addresses), and the IPv4 part of a capture that has
// both is still routed.
func ipv4Only(s *scenario.Scenario) *scenario.Scenario {
	out := *s
	out.NATs, out.Hosts = nil, nil
	gone := map[string]bool{}
	for _, n := range s.NATs {
		if n.Public.Is4() && n.LAN.Addr().Is4() && !gone[n.Outside] {
			out.NATs = append(out.NATs, n)
		} else {
			gone[n.Name] = true
		}
	}
	for _, h := range s.Hosts {
		if h.Address.Addr().Is4() && !gone[h.NAT] {
			out.Hosts = append(out.Hosts, h)
		}
	}
	return &out
}

// resolveEnd adds where the topology routes a datagram no receiver captured.
func (a *analyzer) resolveEnd(add func(sim.Record), g *group, sender *host, written, last pair, ev *datagramEvidence) {
	if !written.src.Addr().Is4() || !written.dst.Addr().Is4() {
		ev.end = observation{inferred: true, basis: "no capture shows it arrive, and where an IPv6 datagram went is not worked out: the simulated network routes IPv4 only"}
		return
	}
	n := a.network(g.first)
	if n == nil {
		ev.end = observation{inferred: true, basis: "no capture shows it arrive, and the topology could not be built: " + fmt.Sprint(a.netErr)}
		return
	}
	res := n.ResolveAt(g.first, sender.name, written.src.Port(), written.dst)
	if !res.OK {
		add(sim.Record{Kind: sim.Dropped, Hop: res.Hop, Src: last.src, Dst: last.dst, Cause: res.Cause, Reason: res.Reason})
		ev.end = observation{inferred: true, basis: "no capture shows it arrive, and the topology the capture showed routes it nowhere"}
		return
	}
	dst := last.dst
	if in, nn, ok := a.topo.internal(last.dst); ok && a.topo.hosts[in.Addr()] != nil && a.topo.hosts[in.Addr()].name == res.Host {
		add(sim.Record{Kind: sim.Translated, Hop: nn.name, Src: last.src, Dst: last.dst, X: &sim.Translation{Src: last.src, Dst: in}})
		dst = in
	}
	add(sim.Record{Kind: sim.Delivered, Hop: res.Host, Src: last.src, Dst: dst})
	ev.end = observation{inferred: true, basis: fmt.Sprintf("not captured on %s; the topology the capture showed routes it there", res.Host)}
}
