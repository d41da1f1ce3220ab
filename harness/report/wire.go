package report

import (
	"fmt"
	"iter"
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
// public network and the LAN behind each NAT. Its packets are made as they are read
// ([wire.packets]), not kept.
type wire struct {
	tr       *trace.Trace
	t        topology
	segments []string            // in order of first use
	seen     map[string]bool     // the segments in segments
	members  map[string][]string // segment -> the hosts and NATs on it, for its description
	lans     map[string]string   // segment -> its prefix, for its description
	lastRec  int                 // the record of the last packet; -1 when there is none
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

// newWire lays the capture of tr out on the wire of s's topology. A datagram is on the
// wire once per segment it crossed: as its sender wrote it, then after each NAT that
// passed it on (outwards onto the NAT's outside, inwards onto its LAN, a hairpin back
// onto its LAN). A datagram dropped for lack of a route or of a socket is answered by
// an ICMP destination unreachable from the hop that dropped it to the source it had
// there. newWire goes through the capture once to learn the segments in use and the
// last packet, which a pcapng file states before its packets.
func newWire(tr *trace.Trace, s *scenario.Scenario) *wire {
	w := &wire{tr: tr, t: topology{s}, seen: map[string]bool{}, members: map[string][]string{}, lans: map[string]string{}, lastRec: -1}
	if s != nil {
		w.use(publicSegment)
		for _, n := range s.NATs {
			w.use(lanSegment(n.Name))
			w.lans[lanSegment(n.Name)] = n.LAN.String()
			w.members[w.t.segmentOf(n.Name)] = append(w.members[w.t.segmentOf(n.Name)], fmt.Sprintf("%s %s", n.Name, n.Public))
		}
		for _, h := range s.Hosts {
			w.members[w.t.segmentOf(h.Name)] = append(w.members[w.t.segmentOf(h.Name)], fmt.Sprintf("%s %s", h.Name, h.Address.Addr()))
		}
	}
	for p := range w.packets(false) {
		w.lastRec = p.rec
	}
	return w
}

// use notes that a packet is on segment seg.
func (w *wire) use(seg string) {
	if !w.seen[seg] {
		w.seen[seg] = true
		w.segments = append(w.segments, seg)
	}
}

// packets yields the packets in the order of the records that made them, with their
// comments when comments is set. A packet is yielded once the hop that took it off the
// wire is known (the next record of its datagram says), so what packets holds at once
// is the datagrams in flight, not the capture.
func (w *wire) packets(comments bool) iter.Seq[wirePacket] {
	return func(yield func(wirePacket) bool) {
		var queue []queued    // in the order of their records; yielded from the front
		head := 0             // how many were yielded: queue[0] is packet number head
		last := map[int]int{} // datagram -> the number of its latest copy, while records of it may follow
		log := w.tr.Log()
		for i := range log.Len() {
			switch w.tr.Kind(i) {
			case sim.Sent, sim.Translated, sim.Delivered, sim.Dropped:
			default:
				continue // no packet, and no change to one: not decoded
			}
			r := log.Head(i)
			if r.Datagram == 0 {
				continue
			}
			var prev *queued
			if n, ok := last[r.Datagram]; ok {
				prev = &queue[n-head]
			}
			if p, ok := w.packet(i, r, prev.packet(), comments); ok {
				if p.icmp < 0 {
					w.use(p.segment)
					if prev != nil {
						prev.final = true
					}
					last[r.Datagram] = head + len(queue)
				}
				queue = append(queue, queued{p: p, final: p.icmp >= 0})
			}
			if n, ok := last[r.Datagram]; ok && !w.moves(i) {
				queue[n-head].final = true
				delete(last, r.Datagram)
			}
			k := 0
			for ; k < len(queue) && queue[k].final; k++ {
				if !yield(queue[k].p) {
					return
				}
			}
			if k > 0 { // the unyielded rest to the front: the queue reuses its array
				queue, head = queue[:copy(queue, queue[k:])], head+k
			}
		}
		for _, e := range queue {
			if !yield(e.p) {
				return
			}
		}
	}
}

// moves reports whether a later record of the datagram of record i puts a copy of it
// on the wire or says where the latest copy went (Translated, Delivered, Dropped).
func (w *wire) moves(i int) bool {
	for j := w.tr.Next(i); j >= 0; j = w.tr.Next(j) {
		switch w.tr.Kind(j) {
		case sim.Translated, sim.Delivered, sim.Dropped:
			return true
		}
	}
	return false
}

// queued is a packet waiting for the hop that takes it off the wire.
type queued struct {
	p     wirePacket
	final bool // no later record changes p
}

// packet returns the queued packet, nil for none.
func (q *queued) packet() *wirePacket {
	if q == nil {
		return nil
	}
	return &q.p
}

// packet makes the packet record i (r, of a datagram) puts on the wire, if any, given
// prev, the latest copy of its datagram (nil for none), whose to it may set. An ICMP
// error has icmp >= 0.
func (w *wire) packet(i int, r sim.Record, prev *wirePacket, comments bool) (wirePacket, bool) {
	t := w.t
	id, dropNote := "", ""
	if comments {
		id = fmt.Sprintf("datagram %d", r.Datagram)
		if d := w.tr.Datagram(r.Datagram); d != nil && d.Dropped() {
			end := d.End()
			dropNote = fmt.Sprintf("; dropped at %s: %s", end.Hop, end.Reason)
		}
	}
	p := wirePacket{rec: i, from: r.Hop, icmp: -1}
	switch r.Kind {
	case sim.Sent:
		p.segment, p.src, p.dst, p.ttl = t.segmentOf(r.Hop), r.Src, r.Dst, 64
		if comments {
			p.comment = fmt.Sprintf("%s sent (%s)%s", r.Hop, id, dropNote)
		}
	case sim.Translated:
		if prev != nil {
			prev.to = r.Hop
		}
		if t.hairpinOut(r) {
			return p, false
		}
		p.segment = lanSegment(r.Hop) // inwards, or back in through a hairpin
		if r.Src != r.XSrc() && r.Dst == r.XDst() {
			p.segment = t.segmentOf(r.Hop) // outwards
		}
		p.src, p.dst, p.ttl = r.XSrc(), r.XDst(), 63
		if prev != nil {
			p.ttl = prev.ttl - 1
		}
		if comments {
			p.comment = fmt.Sprintf("%s translated %s (%s", r.Hop, translation(r), id)
			if r.Reason != "" {
				p.comment += "; " + r.Reason
			}
			p.comment += ")"
			if d := w.tr.Datagram(r.Datagram); d != nil && d.Dropped() && d.End().Hop == r.Hop {
				p.comment += dropNote
			}
		}
	case sim.Delivered:
		if prev != nil {
			prev.to = r.Hop
		}
		return p, false
	case sim.Dropped:
		code, ok := icmpCode(r.Cause)
		if prev != nil && prev.to == "" && r.Hop != prev.from {
			prev.to = r.Hop
		}
		if !ok || prev == nil {
			return p, false
		}
		// The dropped datagram as it was there, quoted in the ICMP, and the answer back
		// to its source from the hop that dropped it.
		from := t.addr(r.Hop, r.Dst.Addr())
		p.segment, p.ttl, p.icmp = prev.segment, 64, code
		p.src, p.dst = netip.AddrPortFrom(from, 0), netip.AddrPortFrom(r.Src.Addr(), 0)
		p.to = prev.from
		if comments {
			p.comment = fmt.Sprintf("dropped at %s: %s (%s); ICMP %s from %s", r.Hop, r.Reason, id, icmpWords[code], r.Hop)
		}
	default:
		return p, false
	}
	return p, true
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
