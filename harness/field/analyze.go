package field

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
)

// pair is a datagram's source and destination as one copy of it showed them.
type pair struct{ src, dst netip.AddrPort }

// group is one datagram: every copy of it the files hold (the same payload and IP
// identification within Options.Window), at every vantage point, before and after NATs.
type group struct {
	key      uint64
	ipid     uint32
	first    time.Time
	payload  []byte
	pairs    []pair                   // distinct, in the order first seen
	seen     map[pair]map[string]bool // vantages of each pair
	where    map[pair]string          // "file #packet" of each pair's first copy
	icmp     *ICMPError
	icmpSeen string
	pos      map[int]int // by file: the number of its first packet there
}

// dialog is the records of one Call-ID not yet judged.
type dialog struct {
	id    string
	recs  []sim.Record
	last  time.Time
	ended bool // a 2xx for its BYE, or a final non-2xx for its INVITE, was seen
}

// vantage is what one file (or pcapng interface) saw: the addresses every packet of
// it had as source or destination.
type vantage struct {
	name  string
	cands map[netip.Addr]bool
}

// analyzer turns the merged packets of the files into records, dialog by dialog.
type analyzer struct {
	opts   Options
	seed   maphash.Seed
	topo   *topology
	parser *sip.Parser

	pending []*group
	byKey   map[uint64][]*group
	byPair  map[icmpKey]*group

	vantages map[string]*vantage

	seq      int
	dialogs  map[string]*dialog
	batch    []*dialog
	bindRecs map[string][]sim.Record // NAT binding records by "nat port": created, then one per remote

	net        *sim.Network
	netVersion int
	netErr     error

	evidence map[int]*datagramEvidence  // by datagram id, for open and kept dialogs
	links    map[link]bool              // pairs of hosts a captured datagram went between
	toCaller map[string][]int           // by Call-ID: inferred 2xx datagrams to the caller
	branches map[string]map[string]bool // by Call-ID: the top-Via branches of requests captured or inferred

	out        *Diagnosis
	kept       []sim.Record
	keptSeqs   map[int]bool
	start, end time.Time
	npackets   int
	swept      time.Time // when closed dialogs were last looked for
}

type icmpKey struct {
	src, dst netip.AddrPort
	ipid     uint32
}

func newAnalyzer(o Options, d *Diagnosis) *analyzer {
	return &analyzer{opts: o, seed: maphash.MakeSeed(), topo: newTopology(o.Names, o.Scenario), parser: sip.NewParser(),
		byKey: map[uint64][]*group{}, byPair: map[icmpKey]*group{}, vantages: map[string]*vantage{},
		dialogs: map[string]*dialog{}, links: map[link]bool{}, toCaller: map[string][]int{}, branches: map[string]map[string]bool{}, bindRecs: map[string][]sim.Record{}, evidence: map[int]*datagramEvidence{},
		out: d, keptSeqs: map[int]bool{}, netVersion: -1}
}

// add takes the next packet in time order.
func (a *analyzer) add(p Packet) {
	a.npackets++
	if a.start.IsZero() {
		a.start = p.Time
	}
	a.end = p.Time
	a.flushPending(p.Time)
	if p.ICMP != nil {
		e := p.ICMP
		for _, k := range []icmpKey{{e.Src, e.Dst, e.IPID}, {e.Src, e.Dst, 0}} {
			if g := a.byPair[k]; g != nil && g.icmp == nil {
				g.icmp = e
				g.icmpSeen = fmt.Sprintf("%s packet %d", p.Vantage, p.N)
				break
			}
		}
		return
	}
	a.see(p)
	key := maphash.Bytes(a.seed, p.Payload) ^ uint64(p.IPID)
	var g *group
	for _, c := range a.byKey[key] {
		if c.ipid == p.IPID && p.Time.Sub(c.first) <= a.opts.Window {
			g = c
		}
	}
	if g == nil {
		g = &group{key: key, ipid: p.IPID, first: p.Time, payload: p.Payload, seen: map[pair]map[string]bool{}, where: map[pair]string{}, pos: map[int]int{}}
		a.byKey[key] = append(a.byKey[key], g)
		a.pending = append(a.pending, g)
	}
	pr := pair{p.Src, p.Dst}
	if g.seen[pr] == nil {
		g.seen[pr] = map[string]bool{}
		g.pairs = append(g.pairs, pr)
		g.where[pr] = fmt.Sprintf("%s packet %d", p.Vantage, p.N)
		a.byPair[icmpKey{p.Src, p.Dst, p.IPID}] = g
		a.byPair[icmpKey{p.Src, p.Dst, 0}] = g
	}
	g.seen[pr][p.Vantage] = true
	if _, ok := g.pos[p.File]; !ok {
		g.pos[p.File] = p.N
	}
	// Closed dialogs are looked for once a second of capture time.
	if p.Time.Sub(a.swept) >= time.Second {
		a.swept = p.Time
		a.closeIdle(p.Time)
	}
}

// see narrows what a vantage point can be: the host whose address every packet has.
func (a *analyzer) see(p Packet) {
	v := a.vantages[p.Vantage]
	if v == nil {
		v = &vantage{name: p.Vantage, cands: map[netip.Addr]bool{p.Src.Addr(): true, p.Dst.Addr(): true}}
		a.vantages[p.Vantage] = v
		return
	}
	for c := range v.cands {
		if c != p.Src.Addr() && c != p.Dst.Addr() {
			delete(v.cands, c)
		}
	}
}

// at reports whether the vantage point saw what host h saw (a capture taken on h).
func (a *analyzer) at(vname string, h *host) bool {
	v := a.vantages[vname]
	if v == nil || !v.cands[h.addr.Addr()] {
		return false
	}
	if len(v.cands) == 1 {
		return true
	}
	// Two addresses left (a host that talked to one peer only): the interface's name,
	// when it is the host's, decides.
	_, intf, _ := strings.Cut(vname, "#")
	return intf == h.name
}

func (a *analyzer) forget(g *group) {
	gs := a.byKey[g.key]
	if i := slices.Index(gs, g); i >= 0 {
		gs = slices.Delete(gs, i, i+1)
	}
	if len(gs) == 0 {
		delete(a.byKey, g.key)
	} else {
		a.byKey[g.key] = gs
	}
	for _, pr := range g.pairs {
		for _, k := range []icmpKey{{pr.src, pr.dst, g.ipid}, {pr.src, pr.dst, 0}} {
			if a.byPair[k] == g {
				delete(a.byPair, k)
			}
		}
	}
}

func (a *analyzer) record(r sim.Record) sim.Record {
	a.seq++
	r.Seq = a.seq
	return r
}

// emit makes the records of one datagram and files them under its dialog.
func (a *analyzer) emit(g *group) {
	a.forget(g)
	m, err := a.parser.ParseSIP(g.payload)
	if err != nil {
		a.out.Unparsed++
		return
	}
	// The copies of a datagram in the order it travelled: out of a private network
	// before a NAT rewrote its source, to a NAT's public mapping before it rewrote the
	// destination (copies from several files may have been seen the other way round).
	slices.SortStableFunc(g.pairs, func(x, y pair) int { return stage(x) - stage(y) })
	a.learn(g, m)
	for _, pr := range g.pairs {
		s, r := a.senderOf(pr), a.topo.hosts[pr.dst.Addr()]
		if in, _, ok := a.topo.internal(pr.dst); ok {
			r = a.topo.hosts[in.Addr()]
		}
		if r != nil {
			a.links[linkOf(s.name, r.name)] = true
		}
	}
	a.synthesize(m, g.payload, pairTime{g.first, label(m)}, true)
	if req, ok := m.(*sip.Request); ok && req.IsAck() {
		a.contactFromACK(req)
	}
	id := a.seq + 1 // the datagram's id: the Seq of its Sent record
	ev := &datagramEvidence{}
	var recs []sim.Record
	add := func(r sim.Record) {
		r.Datagram, r.Time, r.Data = id, g.first, g.payload
		recs = append(recs, a.record(r))
	}

	// The copy its sender wrote: the first one, or the private one behind a NAT
	// whose mapping the first copy came from.
	first := g.pairs[0]
	cur := first
	var sender *host
	if in, n, ok := a.topo.internal(first.src); ok {
		sender = a.topo.host(in)
		cur = pair{in, first.dst}
		add(sim.Record{Kind: sim.Sent, Hop: sender.name, Src: cur.src, Dst: cur.dst})
		ev.sent = observation{inferred: true, basis: fmt.Sprintf("its copy from %s's mapping %s on %s (%s)", sender.name, first.src, n.name, g.where[first])}
		a.translate(add, n, cur, first)
		cur = first
	} else {
		sender = a.topo.host(first.src)
		add(sim.Record{Kind: sim.Sent, Hop: sender.name, Src: cur.src, Dst: cur.dst})
		ev.sent = observation{basis: g.where[first]}
	}
	written := pair{recs[0].Src, recs[0].Dst}
	for _, pr := range g.pairs[1:] {
		switch {
		case pr.dst == cur.dst && pr.src != cur.src:
			if n := a.topo.natAt(pr.src.Addr()); n != nil {
				a.translate(add, n, cur, pr)
			}
		case pr.src == cur.src && pr.dst != cur.dst:
			if n := a.topo.natAt(cur.dst.Addr()); n != nil {
				a.translate(add, n, cur, pr)
			}
		}
		cur = pr
	}

	// A public destination is a host of the network even before it sends.
	if !sim.IsPrivate(cur.dst.Addr()) && a.topo.natAt(cur.dst.Addr()) == nil {
		a.topo.host(cur.dst)
	}
	// Where it ended: seen where its receiver captured, an ICMP error about it, or
	// where the topology the capture showed routes it.
	recv := a.topo.hosts[cur.dst.Addr()]
	switch {
	case g.icmp != nil:
		cause := sim.CauseUnroutable
		switch {
		case strings.Contains(g.icmp.Reason, "port"):
			cause = sim.CausePortUnreachable
		case sim.IsPrivate(cur.dst.Addr()) && !sim.IsPrivate(sender.addr.Addr()):
			cause = sim.CausePrivateUnreachable
		}
		hop := sender.name
		if h := a.topo.hosts[g.icmp.From]; h != nil {
			hop = h.name
		} else if g.icmp.From != sender.addr.Addr() {
			hop = g.icmp.From.String()
		}
		add(sim.Record{Kind: sim.Dropped, Hop: hop, Src: cur.src, Dst: cur.dst, Cause: cause,
			Reason: fmt.Sprintf("ICMP %s from %s", g.icmp.Reason, g.icmp.From)})
		ev.end = observation{basis: g.icmpSeen}
	case recv != nil && a.seenAt(g, cur, recv):
		add(sim.Record{Kind: sim.Delivered, Hop: recv.name, Src: cur.src, Dst: cur.dst})
		ev.end = observation{basis: fmt.Sprintf("captured on %s", recv.name)}
	default:
		a.resolveEnd(add, g, sender, written, cur, ev)
	}
	// An ACK delivered to a proxy its Request-URI names, with no Route left, has no
	// next hop (RFC 3261 §16.4): the proxy absorbs it, as the in-process proxy notes.
	if req, ok := m.(*sip.Request); ok && req.IsAck() && len(recs) > 0 {
		if end := recs[len(recs)-1]; end.Kind == sim.Delivered {
			if h := a.topo.hostByName(end.Hop); h != nil && h.proxy && judge.NothingToForward(req, h.addr) {
				add(sim.Record{Kind: sim.Noted, Hop: h.name, Flow: trace.CallID(m), Cause: proxy.CauseNothingToForward,
					Reason: fmt.Sprintf("ACK's Request-URI %s names %s itself and no Route is left: nothing to forward it to", req.Recipient.String(), h.name)})
			}
		}
	}
	for _, r := range recs {
		a.replay(r)
	}
	a.file(m, recs, g.first, ev)
	if n := len(recs); n > 0 && recs[n-1].Kind == sim.Delivered || n > 1 && recs[n-2].Kind == sim.Delivered {
		a.synthesize(m, g.payload, pairTime{g.first, label(m)}, false)
	}
}

// file files the records of one datagram under its dialog.
func (a *analyzer) file(m sip.Message, recs []sim.Record, at time.Time, ev *datagramEvidence) {
	cid := trace.CallID(m)
	if cid == "" || len(recs) == 0 {
		return
	}
	d := a.dialogs[cid]
	if d == nil {
		d = &dialog{id: cid}
		a.dialogs[cid] = d
		a.out.MaxOpenDialogs = max(a.out.MaxOpenDialogs, len(a.dialogs))
	}
	d.recs = append(d.recs, recs...)
	d.last = at
	if r, ok := m.(*sip.Response); ok && r.CSeq() != nil {
		switch r.CSeq().MethodName {
		case sip.BYE:
			d.ended = d.ended || r.IsSuccess()
		case sip.INVITE:
			d.ended = d.ended || r.StatusCode >= 300
		}
	}
	a.evidence[recs[0].Datagram] = ev
}

// seenAt reports whether pr was captured where h captures.
func (a *analyzer) seenAt(g *group, pr pair, h *host) bool {
	for v := range g.seen[pr] {
		if a.at(v, h) {
			return true
		}
	}
	return false
}
