package sim

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Resolve reports, without sending anything or changing any NAT state, which host and
// port a datagram sent now from host from to dst would reach, or ok=false with the reason
// it would be dropped. It follows the NAT bindings that exist now and applies filtering to
// the source from would present after its own NAT. The source port is the lowest port
// from listens on; if it listens on none, the port is unknown, a new binding is predicted
// and address-and-port-dependent filtering is judged on the address alone.
func (n *Network) Resolve(from string, dst netip.AddrPort) (host string, port uint16, ok bool, reason string) {
	return n.ResolveFrom(from, 0, dst)
}

// ResolveFrom is Resolve for a datagram sent from port srcPort of host from; srcPort 0
// means what it means to Resolve.
func (n *Network) ResolveFrom(from string, srcPort uint16, dst netip.AddrPort) (host string, port uint16, ok bool, reason string) {
	r := n.ResolveAt(n.clock.Now(), from, srcPort, dst)
	return r.Host, r.Port, r.OK, r.Reason
}

// Resolution is where a datagram would go: the host and port it would reach, or the hop
// where it would be dropped and why.
type Resolution struct {
	OK     bool
	Host   string // the receiving host, when OK
	Port   uint16 // the port it would arrive on, when OK
	Hop    string // where it would be dropped, when !OK
	Cause  Cause  // why, for programs, when !OK
	Reason string // why, in words, when !OK
}

// ResolveAt is ResolveFrom at the instant now instead of the clock's, with the hop and
// typed cause of a drop. A NAT binding idle at now for its timeout or longer counts as
// expired. Together with [Network.Replay] it judges a capture after the fact.
func (n *Network) ResolveAt(now time.Time, from string, srcPort uint16, dst netip.AddrPort) Resolution {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.hosts[from]
	if h == nil {
		return Resolution{Hop: from, Cause: CauseNoHost, Reason: fmt.Sprintf("no host named %q", from)}
	}
	if srcPort == 0 {
		for p := range h.conns {
			if srcPort == 0 || p < srcPort {
				srcPort = p
			}
		}
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	v := n.route(now, h, netip.AddrPortFrom(h.addr, srcPort), dst, nil)
	if !v.ok {
		return Resolution{Hop: v.hop, Cause: v.cause, Reason: v.reason}
	}
	return Resolution{OK: true, Host: v.to.host.name, Port: v.dst.Port()}
}

// Replay applies the NAT table records of a capture (BindingCreated, Translated,
// BindingExpired) to the NATs of n that have the same names, so that their tables hold
// the bindings, the remote endpoints each binding was used towards (for filtering) and
// the instants they were last used, as the recorded network had them after those
// records. It sends nothing and records nothing; other records and records of hops n
// does not know are ignored. Replaying a capture on a network built from the same
// topology, in Seq order, lets [Network.ResolveAt] answer where a datagram would have
// gone at any instant of the run.
func (n *Network) Replay(recs ...Record) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range recs {
		if nat := n.nats[r.Hop]; nat != nil {
			nat.table.replay(r)
		}
	}
}

// datagram is one datagram being routed for real (not a dry run).
type datagram struct {
	id   int
	data []byte
}

// verdict is where routing ended: at a receiving Conn, or dropped at a hop.
type verdict struct {
	ok       bool
	queued   bool           // the memory carrier already queued it for to
	to       *Conn          // the receiving Conn, when ok
	hop      string         // where it ended
	src, dst netip.AddrPort // as seen there
	cause    Cause          // why it was dropped, for programs
	reason   string         // why it was dropped, in words
	data     []byte         // the payload as it arrives (a NAT's ALG may have rewritten it)
}

func dropAt(hop string, src, dst netip.AddrPort, cause Cause, format string, a ...any) verdict {
	return verdict{hop: hop, src: src, dst: dst, cause: cause, reason: fmt.Sprintf(format, a...)}
}

// send records a datagram written by c to dst and routes it. Its payload data stays the
// caller's: the datagram carries the capture's copy (the verdict's data). Routing and
// recording happen under n.mu so that the records of one datagram are contiguous
// decisions in Seq order.
// With the memory carrier, send also queues the datagram for the receiving Conn under
// n.mu, so every queue holds its datagrams in the Seq order of their Sent records and a
// full queue is recorded with the datagram's other records.
func (n *Network) send(c *Conn, dst netip.AddrPort, data []byte) (verdict, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || c.closed.Load() {
		return verdict{}, 0, ErrClosed
	}
	n.lastDatagram++
	dg := &datagram{id: n.lastDatagram}
	dg.data = n.capture.addOwn(Record{Datagram: dg.id, Kind: Sent, Hop: c.host.name, Src: c.local, Dst: dst, Data: data})
	v := n.route(n.clock.Now(), c.host, c.local, dst, dg)
	v.data = dg.data
	if v.ok && n.kind == Memory {
		err := c.sock.send(v.to.sock, frame{id: dg.id, src: v.src, data: v.data})
		switch {
		case errors.Is(err, errQueueFull):
			v = dropAt(v.hop, v.src, v.dst, CauseQueueFull, "receive queue full on %s:%d", v.to.host.name, v.dst.Port())
		case errors.Is(err, net.ErrClosed):
			return verdict{}, 0, ErrClosed
		case err != nil:
			return verdict{}, 0, err
		default:
			v.queued = true
			n.memorySent.Add(1)
		}
	}
	if !v.ok {
		n.capture.add(Record{Datagram: dg.id, Kind: Dropped, Hop: v.hop, Src: v.src, Dst: v.dst, Cause: v.cause, Reason: v.reason, Data: dg.data})
		n.dropped.Add(1)
	}
	return v, dg.id, nil
}

// route follows a datagram from src on host from to dst through the topology: out through
// every NAT in front of from until a LAN holds dst or the public side is reached, then in
// through the NATs in front of the destination. With dg nil it is a dry run: nothing is
// recorded and no NAT table changes. Callers hold n.mu.
func (n *Network) route(now time.Time, from *Host, src, dst netip.AddrPort, dg *datagram) verdict {
	commit := dg != nil
	emit := func(r Record) {
		if dg == nil {
			return
		}
		r.Datagram = dg.id
		if r.Kind == Translated {
			r.Data = dg.data
		}
		n.capture.add(r)
	}
	if why := unicast4(dst.Addr()); why != "" {
		return dropAt(from.name, src, dst, CauseUnroutable, "no host owns %s (%s)", dst.Addr(), why)
	}
	here := from.name
	for nat := from.nat; nat != nil; nat = nat.outer {
		if nat.cfg.LAN.Contains(dst.Addr()) {
			return n.onLAN(now, nat, here, src, dst, emit, commit, dg)
		}
		if f, ok := nat.cfg.forwardFrom(src); ok {
			ext := netip.AddrPortFrom(nat.cfg.Public, f.Port)
			emit(Record{Kind: Translated, Hop: nat.cfg.Name, Src: src, Dst: dst, X: &Translation{Src: ext, Dst: dst}, Reason: fmt.Sprintf("static forward %s -> %s", f.To, ext)})
			src, here = ext, nat.cfg.Name
			if dst.Addr() == nat.cfg.Public {
				if !nat.cfg.Hairpinning {
					return dropAt(here, src, dst, CauseNoHairpin, "hairpinning disabled on %s", nat.cfg.Name)
				}
				return n.inbound(now, nat, src, dst, true, emit, commit, dg)
			}
			continue
		}
		out, err := nat.table.outbound(now, src, dst, commit)
		if err != nil {
			return dropAt(nat.cfg.Name, src, dst, CauseNoPort, "%v on %s for %s", err, nat.cfg.Name, src)
		}
		for _, e := range []*Binding{out.Expired, out.Reclaimed} {
			if e != nil {
				emit(expiredRecord(nat, e))
			}
		}
		note := fmt.Sprintf("binding %s -> %s refreshed (idle %s)", src, out.External, out.Idle)
		if out.Created {
			note = fmt.Sprintf("new binding %s -> %s", src, out.External)
			why := fmt.Sprintf("%s mapping", nat.cfg.Mapping)
			if nat.cfg.PortAllocation != SequentialPorts {
				why += fmt.Sprintf(", %s port allocation", nat.cfg.PortAllocation)
			}
			emit(Record{Kind: BindingCreated, Hop: nat.cfg.Name, Src: src, Dst: dst, X: &Translation{Src: out.External, Dst: dst}, Reason: why})
		}
		if n.alg(nat, src, out.External, true, dg) {
			note += "; SIP ALG rewrote the payload"
		}
		emit(Record{Kind: Translated, Hop: nat.cfg.Name, Src: src, Dst: dst, X: &Translation{Src: out.External, Dst: dst}, Reason: note})
		src, here = out.External, nat.cfg.Name
		if dst.Addr() == nat.cfg.Public {
			if !nat.cfg.Hairpinning {
				return dropAt(here, src, dst, CauseNoHairpin, "hairpinning disabled on %s", nat.cfg.Name)
			}
			return n.inbound(now, nat, src, dst, true, emit, commit, dg)
		}
	}
	if nat := n.natByPublic[dst.Addr()]; nat != nil && nat.outer == nil {
		return n.inbound(now, nat, src, dst, false, emit, commit, dg)
	}
	if nat := n.lanOf(dst.Addr()); nat != nil {
		return dropAt(here, src, dst, CausePrivateUnreachable, "no route to private address %s from %s (it lies behind %s)", dst, src.Addr(), nat.cfg.Name)
	}
	if IsPrivate(dst.Addr()) {
		return dropAt(here, src, dst, CausePrivateUnreachable, "no route to private address %s from %s (no LAN holds it)", dst, src.Addr())
	}
	h := n.hostByAddr[dst.Addr()]
	if h == nil {
		return dropAt(here, src, dst, CauseNoHost, "no host owns %s", dst.Addr())
	}
	return n.arrive(h, src, dst)
}

func expiredRecord(nat *NAT, e *Binding) Record {
	return Record{Kind: BindingExpired, Hop: nat.cfg.Name, Src: e.Internal, Dst: e.Remote, X: &Translation{Src: e.External},
		Reason: fmt.Sprintf("idle since %s, timeout %s", e.LastUsed.Format(time.RFC3339Nano), nat.cfg.BindingTimeout)}
}

// onLAN hands a datagram on nat's LAN, last handled at here, to the host that owns dst or
// to the NAT behind nat whose public address dst is. Callers hold n.mu.
func (n *Network) onLAN(now time.Time, nat *NAT, here string, src, dst netip.AddrPort, emit func(Record), commit bool, dg *datagram) verdict {
	if h := n.hostByAddr[dst.Addr()]; h != nil && h.nat == nat {
		return n.arrive(h, src, dst)
	}
	if inner := n.natByPublic[dst.Addr()]; inner != nil && inner.outer == nat {
		return n.inbound(now, inner, src, dst, false, emit, commit, dg)
	}
	return dropAt(here, src, dst, CauseNoHost, "no host owns %s on the LAN of %s", dst.Addr(), nat.cfg.Name)
}

// alg runs nat's ALG, if any, on the payload of dg (nil in a dry run) crossing the
// binding internal - external, and reports whether it changed the payload. Callers
// hold n.mu.
func (n *Network) alg(nat *NAT, internal, external netip.AddrPort, outbound bool, dg *datagram) bool {
	if nat.cfg.ALG == nil || dg == nil {
		return false
	}
	p := nat.cfg.ALG(dg.data, internal, external, outbound)
	if bytes.Equal(p, dg.data) {
		return false
	}
	dg.data = p
	return true
}

// inbound passes a datagram from src to nat's public endpoint dst through the NAT's table
// (RFC 4787 §5), through a static forward, or through its hairpin (§6). Callers hold n.mu.
func (n *Network) inbound(now time.Time, nat *NAT, src, dst netip.AddrPort, hairpin bool, emit func(Record), commit bool, dg *datagram) verdict {
	if f, ok := nat.cfg.forwardTo(dst.Port()); ok {
		note := fmt.Sprintf("static forward %s -> %s", dst, f.To)
		if hairpin {
			note = "hairpin via " + note
		}
		emit(Record{Kind: Translated, Hop: nat.cfg.Name, Src: src, Dst: dst, X: &Translation{Src: src, Dst: f.To}, Reason: note})
		return n.onLAN(now, nat, nat.cfg.Name, src, f.To, emit, commit, dg)
	}
	in := nat.table.inbound(now, src, dst.Port(), commit)
	if e := in.Expired; e != nil {
		emit(expiredRecord(nat, e))
	}
	if !in.OK {
		return dropAt(nat.cfg.Name, src, dst, in.Cause, "%s", in.Reason)
	}
	note := fmt.Sprintf("binding %s -> %s", in.Binding.External, in.Internal)
	if in.Refreshed {
		note += fmt.Sprintf(" refreshed by inbound (idle %s)", in.Idle)
	}
	if hairpin {
		note = "hairpin via " + note
	}
	if n.alg(nat, in.Internal, in.Binding.External, false, dg) {
		note += "; SIP ALG rewrote the payload"
	}
	emit(Record{Kind: Translated, Hop: nat.cfg.Name, Src: src, Dst: dst, X: &Translation{Src: src, Dst: in.Internal}, Reason: note})
	return n.onLAN(now, nat, nat.cfg.Name, src, in.Internal, emit, commit, dg)
}

// arrive hands a datagram to the Conn listening on dst of host h. Callers hold n.mu.
func (n *Network) arrive(h *Host, src, dst netip.AddrPort) verdict {
	c := h.conns[dst.Port()]
	if c == nil {
		return dropAt(h.name, src, dst, CausePortUnreachable, "port %d unreachable on %s", dst.Port(), h.name)
	}
	return verdict{ok: true, to: c, hop: h.name, src: src, dst: dst}
}
