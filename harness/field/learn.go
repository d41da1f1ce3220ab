package field

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// learn updates the topology from one datagram: NATs from translated copies, Vias and
// REGISTER Contacts; roles from Vias and answers.
func (a *analyzer) learn(g *group, m sip.Message) {
	t := a.topo
	for i := 1; i < len(g.pairs); i++ {
		x, y := g.pairs[i-1], g.pairs[i]
		switch {
		case x.dst == y.dst && x.src != y.src && sim.IsPrivate(x.src.Addr()):
			t.behind(x.src, y.src, fmt.Sprintf("a datagram from %s was captured again from %s", x.src, y.src))
		case x.src == y.src && x.dst != y.dst && sim.IsPrivate(y.dst.Addr()):
			t.behind(y.dst, x.dst, fmt.Sprintf("a datagram to %s was captured again to %s", x.dst, y.dst))
		}
	}
	first := g.pairs[0]
	switch m := m.(type) {
	case *sip.Request:
		vias := m.GetHeaders("Via")
		if len(vias) > 0 {
			top := vias[0].(*sip.ViaHeader)
			if sb, ok := viaAddr(top); ok && sim.IsPrivate(sb.Addr()) && sb.Addr() != first.src.Addr() && !sim.IsPrivate(first.src.Addr()) {
				t.behind(sb, first.src, fmt.Sprintf("%s came from %s with Via sent-by %s", m.Method, first.src, sb))
			}
		}
		for _, v := range vias {
			vh := v.(*sip.ViaHeader)
			sb, ok := viaAddr(vh)
			rcv, hasRcv := vh.Params.Get("received")
			rp, hasRport := vh.Params.Get("rport")
			if !ok || !hasRcv || !hasRport || !sim.IsPrivate(sb.Addr()) {
				continue
			}
			ra, err1 := netip.ParseAddr(rcv)
			var port uint16
			_, err2 := fmt.Sscan(rp, &port)
			if err1 == nil && err2 == nil && !sim.IsPrivate(ra) && port != 0 {
				t.behind(sb, netip.AddrPortFrom(ra.Unmap(), port), fmt.Sprintf("a Via of %s says sent-by %s;received=%s;rport=%d", m.Method, sb, ra, port))
			}
		}
		if m.Method == sip.REGISTER {
			if c := m.Contact(); c != nil {
				if ca, err := endpoint.URIAddr(c.Address); err == nil && sim.IsPrivate(ca.Addr()) && !sim.IsPrivate(first.src.Addr()) {
					t.behind(ca, first.src, fmt.Sprintf("REGISTER from %s has the Contact %s", first.src, ca))
				}
			}
		}
		snd := a.senderOf(first)
		if snd.given {
			return
		}
		if len(vias) >= 2 {
			if !snd.proxy {
				snd.proxy = true
				t.version++
			}
			if m.Method == sip.INVITE && snd.nextHop == "" {
				if r := a.topo.hosts[first.dst.Addr()]; r != nil && r != snd {
					snd.nextHop = r.name // kept only if r turns out a proxy
				}
			}
		} else if len(vias) == 1 && m.Method == sip.REGISTER {
			if r := a.receiverOf(first); r != nil {
				snd.regWith = r.name
			}
		}
	case *sip.Response:
		snd := a.senderOf(first)
		if snd.given {
			return
		}
		if m.IsSuccess() && m.CSeq() != nil && m.CSeq().MethodName == sip.REGISTER && !snd.registrar {
			snd.proxy, snd.registrar = true, true
			t.version++
		}
	}
}

func (a *analyzer) senderOf(first pair) *host {
	if in, _, ok := a.topo.internal(first.src); ok {
		return a.topo.host(in)
	}
	return a.topo.host(first.src)
}

func (a *analyzer) receiverOf(first pair) *host {
	if in, _, ok := a.topo.internal(first.dst); ok {
		return a.topo.host(in)
	}
	return a.topo.host(first.dst)
}

func viaAddr(v *sip.ViaHeader) (netip.AddrPort, bool) {
	ad, err := netip.ParseAddr(strings.Trim(v.Host, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := v.Port
	if port == 0 {
		port = endpoint.DefaultPort
	}
	return netip.AddrPortFrom(ad.Unmap(), uint16(port)), true
}

// learnHandling records what each proxy's reply route did to the Contact of the
// callee's 2xx: fixed it for a reply straight from the UA, or for a relayed one.
func (a *analyzer) learnHandling(f judge.CallFacts) {
	byName := map[string]*host{}
	for _, h := range a.topo.order {
		byName[h.name] = h
	}
	for i, hop := range f.Hops {
		h := byName[hop.Host]
		if i == 0 || h == nil || h.given || !h.proxy {
			continue
		}
		prev := byName[f.Hops[i-1].Host]
		switch {
		case hop.In != hop.Out && prev != nil && prev.proxy:
			h.fixedRelayed = true
		case hop.In != hop.Out:
			h.fixedFromUA = true
		}
	}
}
