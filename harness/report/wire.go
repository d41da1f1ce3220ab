package report

import (
	"fmt"
	"net/netip"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

// publicSegment names the network outside every NAT.
const publicSegment = "internet"

// lanSegment names the LAN behind a NAT.
func lanSegment(nat string) string { return "lan:" + nat }

// ICMP destination-unreachable codes (RFC 792).
const (
	icmpNetUnreachable  = 0
	icmpHostUnreachable = 1
	icmpPortUnreachable = 3
)

// wirePacket is what a tap on one wire segment sees of a datagram (a copy, from the
// hop that put it on the wire to the hop that took it off), or the ICMP
// destination-unreachable the hop that dropped a datagram answers it with.
type wirePacket struct {
	rec      int    // index in the capture of the record that made it (Sent, Translated, Dropped)
	segment  string // the wire segment it is on
	src, dst netip.AddrPort
	ttl      uint8
	from, to string // the hop that sent it and the one that took it off; "" when none did
	icmp     int    // for an ICMP packet (which quotes the Dropped record rec), its code; -1 for a copy
	comment  string
}

// wire is the capture of a run laid out as taps on its wire segments would see it: the
// public network and the LAN behind each NAT.
type wire struct {
	packets  []wirePacket
	segments []string            // in order of first use
	members  map[string][]string // segment -> the hosts and NATs on it, for its description
	lans     map[string]string   // segment -> its prefix, for its description
}

// topology answers, from a run's scenario, which segment a hop sits on and its address.
type topology struct {
	s *scenario.Scenario
}

// segmentOf is the segment host or NAT name sits on (a NAT: its outside); the public
// network for a name the scenario does not know.
func (t topology) segmentOf(name string) string {
	if t.s == nil {
		return publicSegment
	}
	if h, ok := t.s.Host(name); ok && h.NAT != "" {
		return lanSegment(h.NAT)
	}
	if n, ok := t.s.NAT(name); ok && n.Outside != "" {
		return lanSegment(n.Outside)
	}
	return publicSegment
}

// addr is the address of host or NAT name (a NAT's public one); fallback when unknown.
func (t topology) addr(name string, fallback netip.Addr) netip.Addr {
	if t.s == nil {
		return fallback
	}
	if h, ok := t.s.Host(name); ok {
		return h.Address.Addr()
	}
	if n, ok := t.s.NAT(name); ok {
		return n.Public
	}
	return fallback
}

// hairpinOut reports whether r is the first half of a hairpin: NAT r.Hop mapping the
// source of a datagram from its LAN to its own public address, which then turns
// around in the NAT and never reaches the outside.
func (t topology) hairpinOut(r sim.Record) bool {
	if t.s == nil || r.Src == r.XSrc() {
		return false
	}
	n, ok := t.s.NAT(r.Hop)
	return ok && r.XDst().Addr() == n.Public && n.LAN.Contains(r.Src.Addr())
}

// icmpCode is the ICMP destination-unreachable code a real network answers a datagram
// dropped for cause c with (RFC 792), and whether it answers at all: a router with no
// route sends network or host unreachable (RFC 1812 §5.2.7.1), a host with no socket
// on the port port unreachable (RFC 1122 §4.1.3.1); a NAT that filters a datagram or
// has no binding for it drops it silently here, as home NATs commonly do.
func icmpCode(c sim.Cause) (int, bool) {
	switch c {
	case sim.CausePrivateUnreachable:
		return icmpNetUnreachable, true
	case sim.CauseNoHost:
		return icmpHostUnreachable, true
	case sim.CausePortUnreachable:
		return icmpPortUnreachable, true
	}
	return 0, false
}

var icmpWords = map[int]string{
	icmpNetUnreachable:  "network unreachable",
	icmpHostUnreachable: "host unreachable",
	icmpPortUnreachable: "port unreachable",
}

// newWire lays the records out on the wire. A datagram is on the wire once per segment
// it crossed: as its sender wrote it, then after each NAT that passed it on (outwards
// onto the NAT's outside, inwards onto its LAN, a hairpin back onto its LAN). A
// datagram dropped for lack of a route or of a socket is answered by an ICMP
// destination unreachable from the hop that dropped it to the source it had there.
func newWire(log *sim.Log, s *scenario.Scenario, tr *trace.Trace) *wire {
	t := topology{s}
	w := &wire{members: map[string][]string{}, lans: map[string]string{}}
	seen := map[string]bool{}
	use := func(seg string) {
		if !seen[seg] {
			seen[seg] = true
			w.segments = append(w.segments, seg)
		}
	}
	if s != nil {
		use(publicSegment)
		for _, n := range s.NATs {
			use(lanSegment(n.Name))
			w.lans[lanSegment(n.Name)] = n.LAN.String()
			w.members[t.segmentOf(n.Name)] = append(w.members[t.segmentOf(n.Name)], fmt.Sprintf("%s %s", n.Name, n.Public))
		}
		for _, h := range s.Hosts {
			w.members[t.segmentOf(h.Name)] = append(w.members[t.segmentOf(h.Name)], fmt.Sprintf("%s %s", h.Name, h.Address.Addr()))
		}
	}
	last := map[int]int{} // datagram -> index in w.packets of its latest copy
	for i := range log.Len() {
		r := log.Head(i)
		if r.Datagram == 0 {
			continue
		}
		id := fmt.Sprintf("datagram %d", r.Datagram)
		dropNote := ""
		if d := tr.Datagram(r.Datagram); d != nil && d.Dropped() {
			dropNote = fmt.Sprintf("; dropped at %s: %s", d.End().Hop, d.End().Reason)
		}
		prev, has := last[r.Datagram]
		p := wirePacket{rec: i, from: r.Hop, icmp: -1}
		switch r.Kind {
		case sim.Sent:
			p.segment, p.src, p.dst, p.ttl = t.segmentOf(r.Hop), r.Src, r.Dst, 64
			p.comment = fmt.Sprintf("%s sent (%s)%s", r.Hop, id, dropNote)
		case sim.Translated:
			if has {
				w.packets[prev].to = r.Hop
			}
			if t.hairpinOut(r) {
				continue
			}
			p.segment = lanSegment(r.Hop) // inwards, or back in through a hairpin
			if r.Src != r.XSrc() && r.Dst == r.XDst() {
				p.segment = t.segmentOf(r.Hop) // outwards
			}
			p.src, p.dst, p.ttl = r.XSrc(), r.XDst(), 63
			if has {
				p.ttl = w.packets[prev].ttl - 1
			}
			p.comment = fmt.Sprintf("%s translated %s (%s", r.Hop, translation(r), id)
			if r.Reason != "" {
				p.comment += "; " + r.Reason
			}
			p.comment += ")"
			if d := tr.Datagram(r.Datagram); d != nil && d.Dropped() && d.End().Hop == r.Hop {
				p.comment += dropNote
			}
		case sim.Delivered:
			if has {
				w.packets[prev].to = r.Hop
			}
			continue
		case sim.Dropped:
			code, ok := icmpCode(r.Cause)
			if has && w.packets[prev].to == "" && r.Hop != w.packets[prev].from {
				w.packets[prev].to = r.Hop
			}
			if !ok || !has {
				continue
			}
			// The dropped datagram as it was there, quoted in the ICMP, and the
			// answer back to its source from the hop that dropped it.
			from := t.addr(r.Hop, r.Dst.Addr())
			p.segment, p.ttl, p.icmp = w.packets[prev].segment, 64, code
			p.src, p.dst = netip.AddrPortFrom(from, 0), netip.AddrPortFrom(r.Src.Addr(), 0)
			p.to = w.packets[prev].from
			p.comment = fmt.Sprintf("dropped at %s: %s (%s); ICMP %s from %s", r.Hop, r.Reason, id, icmpWords[code], r.Hop)
			w.packets = append(w.packets, p)
			continue
		default:
			continue
		}
		use(p.segment)
		last[r.Datagram] = len(w.packets)
		w.packets = append(w.packets, p)
	}
	return w
}

// description says what a segment is and who is on it.
func (w *wire) description(seg string) string {
	what := "the public network"
	if p, ok := w.lans[seg]; ok {
		what = fmt.Sprintf("the LAN %s behind %s", p, seg[len("lan:"):])
	}
	if m := w.members[seg]; len(m) > 0 {
		what += ": "
		for i, x := range m {
			if i > 0 {
				what += ", "
			}
			what += x
		}
	}
	return what
}
