package field

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
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

// flushPending turns the datagrams first seen more than a window before now into records.
func (a *analyzer) flushPending(now time.Time) {
	n := 0
	for _, g := range a.pending {
		if now.Sub(g.first) <= a.opts.Window {
			break
		}
		n++
	}
	if n == 0 {
		return
	}
	for _, g := range causalOrder(a.pending[:n]) {
		a.emit(g)
	}
	a.pending = slices.Delete(a.pending, 0, n)
}

// causalOrder orders datagrams first seen within a window of each other so that
// each file's own order holds: clocks of several vantage points agree only so far
// (and a simulated run stamps a whole exchange with one instant), but one file
// records in the order things happened where it was taken. Ties, and files that
// contradict each other, keep the order of first sighting.
func causalOrder(gs []*group) []*group {
	n := len(gs)
	if n < 2 {
		return gs
	}
	succ := make([][]int, n)
	indeg := make([]int, n)
	byFile := map[int][]int{}
	for i, g := range gs {
		for f := range g.pos {
			byFile[f] = append(byFile[f], i)
		}
	}
	for f, list := range byFile {
		slices.SortFunc(list, func(x, y int) int { return gs[x].pos[f] - gs[y].pos[f] })
		for k := 1; k < len(list); k++ {
			succ[list[k-1]] = append(succ[list[k-1]], list[k])
			indeg[list[k]]++
		}
	}
	out := make([]*group, 0, n)
	done := make([]bool, n)
	ready := []int{} // kept sorted: the earliest first-seen index first
	for i := range gs {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(out) < n {
		if len(ready) == 0 { // files contradict each other: take the earliest left
			for i := range gs {
				if !done[i] {
					ready = append(ready, i)
					break
				}
			}
		}
		i := ready[0]
		ready = ready[1:]
		if done[i] {
			continue
		}
		done[i] = true
		out = append(out, gs[i])
		for _, j := range succ[i] {
			if indeg[j]--; indeg[j] == 0 && !done[j] {
				k, _ := slices.BinarySearch(ready, j)
				ready = slices.Insert(ready, k, j)
			}
		}
	}
	return out
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
	if !isPrivate(cur.dst.Addr()) && a.topo.natAt(cur.dst.Addr()) == nil {
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
		case isPrivate(cur.dst.Addr()) && !isPrivate(sender.addr.Addr()):
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
			if h := a.topo.hostByName(end.Hop); h != nil && h.proxy && onlySelfRoutes(req, h.addr) {
				if u, err := endpoint.URIAddr(req.Recipient); err == nil && u == h.addr {
					add(sim.Record{Kind: sim.Noted, Hop: h.name, Flow: trace.CallID(m), Cause: proxy.CauseNothingToForward,
						Reason: fmt.Sprintf("ACK's Request-URI %s names %s itself and no Route is left: nothing to forward it to", req.Recipient.String(), h.name)})
				}
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

// translate adds the records of n rewriting from into to: a binding the first time.
func (a *analyzer) translate(add func(sim.Record), n *nat, from, to pair) {
	if from.src != to.src { // outbound
		k := fmt.Sprintf("%s %d", n.name, to.src.Port())
		if _, ok := a.bindRecs[k]; !ok {
			add(sim.Record{Kind: sim.BindingCreated, Hop: n.name, Src: from.src, XSrc: to.src, Dst: from.dst, Reason: "inferred from the capture"})
		}
	}
	add(sim.Record{Kind: sim.Translated, Hop: n.name, Src: from.src, Dst: from.dst, XSrc: to.src, XDst: to.dst})
}

// replay applies a NAT record to the resolver network and keeps the bindings' records.
func (a *analyzer) replay(r sim.Record) {
	switch r.Kind {
	case sim.BindingCreated:
		k := fmt.Sprintf("%s %d", r.Hop, r.XSrc.Port())
		a.bindRecs[k] = []sim.Record{r}
	case sim.Translated:
		if r.Src != r.XSrc {
			k := fmt.Sprintf("%s %d", r.Hop, r.XSrc.Port())
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
	s := a.topo.scenario("")
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

// resolveEnd adds where the topology routes a datagram no receiver captured.
func (a *analyzer) resolveEnd(add func(sim.Record), g *group, sender *host, written, last pair, ev *datagramEvidence) {
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
		add(sim.Record{Kind: sim.Translated, Hop: nn.name, Src: last.src, Dst: last.dst, XSrc: last.src, XDst: in})
		dst = in
	}
	add(sim.Record{Kind: sim.Delivered, Hop: res.Host, Src: last.src, Dst: dst})
	ev.end = observation{inferred: true, basis: fmt.Sprintf("not captured on %s; the topology the capture showed routes it there", res.Host)}
}

// learn updates the topology from one datagram: NATs from translated copies, Vias and
// REGISTER Contacts; roles from Vias and answers.
func (a *analyzer) learn(g *group, m sip.Message) {
	t := a.topo
	for i := 1; i < len(g.pairs); i++ {
		x, y := g.pairs[i-1], g.pairs[i]
		switch {
		case x.dst == y.dst && x.src != y.src && isPrivate(x.src.Addr()):
			t.behind(x.src, y.src, fmt.Sprintf("a datagram from %s was captured again from %s", x.src, y.src))
		case x.src == y.src && x.dst != y.dst && isPrivate(y.dst.Addr()):
			t.behind(y.dst, x.dst, fmt.Sprintf("a datagram to %s was captured again to %s", x.dst, y.dst))
		}
	}
	first := g.pairs[0]
	switch m := m.(type) {
	case *sip.Request:
		vias := m.GetHeaders("Via")
		if len(vias) > 0 {
			top := vias[0].(*sip.ViaHeader)
			if sb, ok := viaAddr(top); ok && isPrivate(sb.Addr()) && sb.Addr() != first.src.Addr() && !isPrivate(first.src.Addr()) {
				t.behind(sb, first.src, fmt.Sprintf("%s came from %s with Via sent-by %s", m.Method, first.src, sb))
			}
		}
		for _, v := range vias {
			vh := v.(*sip.ViaHeader)
			sb, ok := viaAddr(vh)
			rcv, hasRcv := vh.Params.Get("received")
			rp, hasRport := vh.Params.Get("rport")
			if !ok || !hasRcv || !hasRport || !isPrivate(sb.Addr()) {
				continue
			}
			ra, err1 := netip.ParseAddr(rcv)
			var port uint16
			_, err2 := fmt.Sscan(rp, &port)
			if err1 == nil && err2 == nil && !isPrivate(ra) && port != 0 {
				t.behind(sb, netip.AddrPortFrom(ra.Unmap(), port), fmt.Sprintf("a Via of %s says sent-by %s;received=%s;rport=%d", m.Method, sb, ra, port))
			}
		}
		if m.Method == sip.REGISTER {
			if c := m.Contact(); c != nil {
				if ca, err := endpoint.URIAddr(c.Address); err == nil && isPrivate(ca.Addr()) && !isPrivate(first.src.Addr()) {
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
		} else if len(vias) == 1 {
			snd.ua = true
			if m.Method == sip.REGISTER {
				if r := a.receiverOf(first); r != nil {
					snd.regWith = r.name
				}
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

// closeIdle closes the dialogs idle for longer than Options.Idle before now.
func (a *analyzer) closeIdle(now time.Time) {
	for id, d := range a.dialogs {
		idle := a.opts.Idle
		if d.ended {
			idle = a.opts.Linger
		}
		if now.Sub(d.last) > idle {
			a.batch = append(a.batch, d)
			delete(a.dialogs, id)
			delete(a.toCaller, id)
			delete(a.branches, id)
		}
	}
	if len(a.batch) >= 128 {
		a.judgeBatch()
	}
}

// finish flushes everything and judges the remaining dialogs.
func (a *analyzer) finish() {
	for _, g := range causalOrder(a.pending) {
		a.emit(g)
	}
	a.pending = nil
	ids := make([]string, 0, len(a.dialogs))
	for id := range a.dialogs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y string) int { return a.dialogs[x].recs[0].Seq - a.dialogs[y].recs[0].Seq })
	for _, id := range ids {
		a.batch = append(a.batch, a.dialogs[id])
	}
	clear(a.dialogs)
	clear(a.toCaller)
	clear(a.branches)
	a.judgeBatch()
	if a.net != nil {
		_ = a.net.Close()
	}
}

// bindingRecords returns the NAT binding records kept, in Seq order.
func (a *analyzer) bindingRecords() []sim.Record {
	var recs []sim.Record
	for _, rs := range a.bindRecs {
		recs = append(recs, rs...)
	}
	slices.SortFunc(recs, func(x, y sim.Record) int { return x.Seq - y.Seq })
	return recs
}

// judgeBatch judges the closed dialogs with the topology known now.
func (a *analyzer) judgeBatch() {
	if len(a.batch) == 0 {
		return
	}
	slices.SortFunc(a.batch, func(x, y *dialog) int { return x.recs[0].Seq - y.recs[0].Seq })
	recs := a.bindingRecords()
	seqs := map[int]bool{}
	for _, r := range recs {
		seqs[r.Seq] = true
	}
	for _, d := range a.batch {
		for _, r := range d.recs {
			if !seqs[r.Seq] {
				recs = append(recs, r)
			}
		}
	}
	slices.SortFunc(recs, func(x, y sim.Record) int { return x.Seq - y.Seq })
	res := &harness.Result{Scenario: a.topo.scenario(""), Capture: recs}
	res.Judge()
	for _, f := range res.Calls {
		a.learnHandling(f)
		a.out.Calls = append(a.out.Calls, f)
		a.out.Evidence = append(a.out.Evidence, a.callEvidence(res.Trace, f))
	}
	for _, d := range a.batch {
		keep := a.out.keptCalls < a.opts.Keep
		if keep {
			a.out.keptCalls++
			for _, r := range d.recs {
				if !a.keptSeqs[r.Seq] {
					a.keptSeqs[r.Seq] = true
					a.kept = append(a.kept, r)
				}
			}
		}
		for _, r := range d.recs {
			if r.Kind == sim.Sent && !keep {
				delete(a.evidence, r.Datagram)
			}
		}
	}
	a.batch = a.batch[:0]
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

// onlySelfRoutes reports whether every Route of req names self (the proxy removes its
// own entries, RFC 3261 §16.4), so none is left once it has.
func onlySelfRoutes(req *sip.Request, self netip.AddrPort) bool {
	for _, h := range req.GetHeaders("Route") {
		r, ok := h.(*sip.RouteHeader)
		if !ok {
			return false
		}
		if u, err := endpoint.URIAddr(r.Address); err != nil || u != self {
			return false
		}
	}
	return true
}

// stage orders the copies of one datagram along its way through NATs: 0 from a
// private source, 1 between public addresses, 2 to a private destination.
func stage(p pair) int {
	n := 0
	if !isPrivate(p.src.Addr()) {
		n++
	}
	if isPrivate(p.dst.Addr()) {
		n++
	}
	return n
}
