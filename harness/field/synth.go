package field

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

// link is an unordered pair of hosts that exchanged a captured datagram.
type link [2]string

func linkOf(a, b string) link {
	if a > b {
		a, b = b, a
	}
	return link{a, b}
}

// headerLine returns where the first line of a SIP message's header section that
// starts with one of the (lower-case) prefixes begins and ends (after its newline).
func headerLine(b []byte, prefixes ...string) (start, end int, ok bool) {
	for start < len(b) {
		n := bytes.IndexByte(b[start:], '\n')
		if n < 0 {
			return 0, 0, false
		}
		line := b[start : start+n+1]
		if len(bytes.TrimSpace(line)) == 0 {
			return 0, 0, false // the body begins
		}
		lower := bytes.ToLower(line)
		for _, p := range prefixes {
			if bytes.HasPrefix(lower, []byte(p)) {
				return start, start + n + 1, true
			}
		}
		start += n + 1
	}
	return 0, 0, false
}

// withoutTopVia returns a SIP message's bytes with its first Via header line removed:
// the message one hop before a proxy added that Via (or after it removed it); nil
// when its first Via line holds several Vias.
func withoutTopVia(b []byte) []byte {
	start, end, ok := headerLine(b, "via:", "v:")
	if !ok || bytes.IndexByte(b[start:end], ',') >= 0 {
		return nil
	}
	return append(bytes.Clone(b[:start]), b[end:]...)
}

// viaHosts returns the hosts of a message's Vias, topmost first; ok is false when a
// Via names no address.
func (a *analyzer) viaHosts(m sip.Message) ([]netip.AddrPort, bool) {
	var out []netip.AddrPort
	for _, h := range m.GetHeaders("Via") {
		v, ok := h.(*sip.ViaHeader)
		if !ok {
			return nil, false
		}
		ad, ok := viaAddr(v)
		if !ok {
			return nil, false
		}
		out = append(out, ad)
	}
	return out, true
}

// synthesize adds the hops of a datagram that no vantage point captured but its Vias
// prove: the earlier hops of a forwarded request (its lower Vias), or the next hop of
// a response a proxy received (it forwards it to the Via below its own). Only hops
// between hosts whose link the capture never showed are added, each marked inferred.
func (a *analyzer) synthesize(m sip.Message, payload []byte, at pairTime, before bool) {
	vias, ok := a.viaHosts(m)
	if !ok || len(vias) < 2 {
		return
	}
	type hop struct {
		from, to netip.AddrPort
		data     []byte
	}
	var hops []hop
	cid := trace.CallID(m)
	switch m.(type) {
	case *sip.Request:
		if !before {
			return
		}
		// A hop is told once: from the first captured copy of the request that
		// proves it (a proxy further on proves it again).
		branches := viaBranches(m)
		seen := a.branches[cid]
		if seen == nil {
			seen = map[string]bool{}
			a.branches[cid] = seen
		}
		defer func() { seen[branches[0]] = true }()
		// Via k was written by the host that sent to the host of Via k-1; the
		// message it sent had the Vias k and below.
		data := payload
		datas := [][]byte{data}
		for k := 1; k < len(vias); k++ {
			data = withoutTopVia(data)
			if data == nil {
				return
			}
			datas = append(datas, data)
		}
		for k := len(vias) - 1; k >= 1; k-- {
			if branches[k] != "" && seen[branches[k]] {
				continue
			}
			seen[branches[k]] = true
			hops = append(hops, hop{vias[k], vias[k-1], datas[k]})
		}
	case *sip.Response:
		if before {
			return
		}
		data := withoutTopVia(payload)
		if data == nil {
			return
		}
		hops = append(hops, hop{vias[0], vias[1], data})
	}
	for i, h := range hops {
		from, to := a.topo.host(h.from), a.topo.host(h.to)
		if _, isReq := m.(*sip.Request); from == to || !isReq && a.links[linkOf(from.name, to.name)] {
			continue
		}
		id := a.seq + 1
		if _, ok := trace.Invite2xx(m); ok && i == len(hops)-1 && len(vias) == 2 {
			// The 2xx to the caller: its Contact is what the caller's ACK will name.
			a.toCaller[cid] = append(a.toCaller[cid], id)
		}
		sent := a.record(sim.Record{Datagram: id, Time: at.t, Kind: sim.Sent, Hop: from.name, Src: from.addr, Dst: h.to, Data: h.data})
		end := a.record(sim.Record{Datagram: id, Time: at.t, Kind: sim.Delivered, Hop: to.name, Src: from.addr, Dst: h.to, Data: h.data})
		a.file(m, []sim.Record{sent, end}, at.t, &datagramEvidence{
			sent: observation{inferred: true, basis: fmt.Sprintf("no vantage point captured %s and %s talking; the Vias of the %s prove this hop", from.name, to.name, at.what)},
			end:  observation{inferred: true, basis: "the Vias of the next hop's copy prove it arrived"},
		})
	}
}

// pairTime is when, and of what, a synthesized hop is told.
type pairTime struct {
	t    time.Time
	what string
}

// contactFromACK sets the Contact of the 2xx hops to the caller that no vantage point
// captured to the Request-URI of the caller's ACK: the ACK for a 2xx goes to the
// Contact the caller saw (RFC 3261 §13.2.2.4), so a Contact changed on an unseen hop
// shows in the ACK.
func (a *analyzer) contactFromACK(req *sip.Request) {
	cid := trace.CallID(req)
	ids := a.toCaller[cid]
	d := a.dialogs[cid]
	if len(ids) == 0 || d == nil {
		return
	}
	ruri := req.Recipient.String()
	tag := trace.ToTag(req)
	for _, id := range ids {
		for i := range d.recs {
			r := &d.recs[i]
			if r.Datagram != id || r.Data == nil {
				continue
			}
			m, err := a.parser.ParseSIP(r.Data)
			if err != nil || trace.ToTag(m) != tag || trace.Contact(m) == ruri {
				continue
			}
			if data := withContact(r.Data, ruri); data != nil {
				r.Data = data
				if ev := a.evidence[id]; ev != nil && r.Kind == sim.Sent {
					ev.sent.basis += fmt.Sprintf("; its Contact is %s, the Request-URI of the caller's ACK (RFC 3261 §13.2.2.4)", ruri)
				}
			}
		}
	}
}

// withContact returns a SIP message's bytes with its Contact header set to uri.
func withContact(b []byte, uri string) []byte {
	start, end, ok := headerLine(b, "contact:", "m:")
	if !ok {
		return nil
	}
	out := append(bytes.Clone(b[:start]), "Contact: <"+uri+">\r\n"...)
	return append(out, b[end:]...)
}

// viaBranches returns the branch parameter of each Via of m, topmost first ("" for
// none).
func viaBranches(m sip.Message) []string {
	var out []string
	for _, h := range m.GetHeaders("Via") {
		b := ""
		if v, ok := h.(*sip.ViaHeader); ok {
			b, _ = v.Params.Get("branch")
		}
		out = append(out, b)
	}
	return out
}
