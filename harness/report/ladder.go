package report

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

// Ladder is what a ladder diagram shows of one run, computed once from its trace:
// the columns (hosts and NATs) and, in capture order, a row per datagram and one per
// actor note. The text and HTML reports render it; neither reads the capture.
type Ladder struct {
	Columns []harness.Column
	Rows    []Row

	byName map[string]int // column index by name
}

// Column returns the index of the column named name, or -1.
func (l *Ladder) Column(name string) int {
	if i, ok := l.byName[name]; ok {
		return i
	}
	return -1
}

// Row is one line of a [Ladder]: a datagram from its sender to where it ended, or a
// note an actor wrote into the capture (an ACK absorbed with nowhere to forward it,
// a callee giving up waiting for the ACK).
type Row struct {
	At   time.Duration   // since the run's start: when the datagram was sent or the note made
	D    *trace.Datagram // the datagram; nil for a note
	Note *sim.Record     // the Noted record; nil for a datagram
	// CallID is the call the row belongs to: the datagram's Call-ID or the note's
	// conversation; "" for a datagram that is no SIP message or has no Call-ID.
	CallID string
	// From is the column of the sender, or of the host that noted; -1 when it has none.
	From int
	// To is the column where the datagram was delivered or dropped; -1 when it died at
	// its sender or the capture holds no end for it.
	To int
	// Toward is +1 or -1, the side of From its destination's column lies on; it is
	// where an arrow that ends at no column points.
	Toward int
	Label  string // "INVITE", "200 OK", "200/REGISTER", "CRLF keep-alive", "(not SIP)"; "" for a note
	Class  string // invite, ok (a 2xx for INVITE), ack, bye, register, response, other; "note"
	// Dropped is set when the datagram died on the way or was never recorded as
	// delivered; DropAt, Cause and Reason then say where and why ("" with no end).
	Dropped bool
	DropAt  string
	Cause   sim.Cause
	Reason  string
	Xlat    []sim.Record // NAT translations on the way, in order (Data nil)
	algSeq  int          // the Seq of the one of Xlat whose NAT's SIP ALG rewrote the payload; 0 for none
	// Contact is the Contact of a 2xx for INVITE; RewrittenFrom the Contact its sender
	// had itself received in the last 2xx for INVITE of the call, when it differs.
	Contact       string
	RewrittenFrom string
	// RetransmitOf is, for a SIP message its sender had already sent to the same
	// destination byte for byte (a retransmission, RFC 3261 §17), the first one's
	// datagram id; 0 otherwise (keep-alives are alike by design, not resent).
	RetransmitOf int
}

// IsALG reports whether x, one of Xlat, is the translation whose NAT's SIP ALG
// rewrote the payload.
func (r *Row) IsALG(x sim.Record) bool { return r.algSeq != 0 && x.Seq == r.algSeq }

// IsNote reports whether the row is an actor's note rather than a datagram.
func (r *Row) IsNote() bool { return r.Note != nil }

// DropText says where and why the datagram died: "dropped at proxy-b: no route …",
// or "never delivered" when the capture holds no end for it.
func (r *Row) DropText() string {
	if r.DropAt == "" {
		return "never delivered"
	}
	return fmt.Sprintf("dropped at %s: %s", r.DropAt, r.Reason)
}

// NoteText is a note row's words: the host, then what it noted.
func (r *Row) NoteText() string { return r.Note.Hop + ": " + r.Note.Reason }

// NewLadder computes the ladder of res from its Trace (made from its Capture when nil),
// Columns and Start. A datagram whose sender is not a column, or whose Sent record the
// capture lacks, gets no row.
func NewLadder(res *harness.Result) *Ladder {
	tr := res.Trace
	if tr == nil {
		tr = trace.New(res.Capture)
	}
	l := &Ladder{Columns: res.Columns, byName: make(map[string]int, len(res.Columns))}
	byAddr := make(map[netip.Addr]int, len(res.Columns))
	for i, c := range res.Columns {
		l.byName[c.Name] = i
		byAddr[c.Addr] = i
	}
	// (Call-ID, host) -> the Contact of the last 2xx for INVITE the host received,
	// to tell a rewritten Contact from a relayed one.
	received := map[[2]string]string{}
	// sender, destination and a hash of the payload -> the first datagram that carried
	// them (whose payload is compared, not kept).
	type sending struct {
		hop  string
		dst  netip.AddrPort
		hash uint64
	}
	first := map[sending]*trace.Datagram{}
	seed := maphash.MakeSeed()
	log := tr.Log()
	for i := range log.Len() {
		if k := tr.Kind(i); k != sim.Noted && k != sim.Sent {
			continue // no row of its own: not decoded
		}
		rec := log.Head(i)
		switch rec.Kind {
		case sim.Noted:
			r := Row{At: rec.Time.Sub(res.Start), Note: &rec, CallID: rec.Flow, From: l.Column(rec.Hop), To: -1, Toward: 1, Class: "note"}
			if d := tr.Datagram(rec.Datagram); r.CallID == "" && d != nil {
				r.CallID = d.CallID
			}
			l.Rows = append(l.Rows, r)
		case sim.Sent:
			d := tr.Datagram(rec.Datagram)
			if d == nil || d.SentIndex() != i {
				continue
			}
			if from := l.Column(rec.Hop); from >= 0 {
				r := l.datagramRow(d, &rec, from, res.Start, byAddr, received)
				payload := d.Payload()
				key := sending{rec.Hop, rec.Dst, maphash.Bytes(seed, payload)}
				if f, ok := first[key]; ok && d.Message() != nil && bytes.Equal(f.Payload(), payload) {
					r.RetransmitOf = f.ID
				} else if !ok {
					first[key] = d
				}
				l.Rows = append(l.Rows, r)
			}
		}
	}
	return l
}

// datagramRow makes the row of d, sent from column from, and notes a delivered 2xx
// for INVITE's Contact in received.
func (l *Ladder) datagramRow(d *trace.Datagram, sent *sim.Record, from int, start time.Time, byAddr map[netip.Addr]int, received map[[2]string]string) Row {
	r := Row{At: sent.Time.Sub(start), D: d, CallID: d.CallID, From: from, To: -1, Toward: 1, Xlat: d.Xlat()}
	if alg := d.ALG(); alg != nil {
		r.algSeq = alg.Seq
	}
	if i, ok := byAddr[sent.Dst.Addr()]; ok && i < from {
		r.Toward = -1
	}
	r.Label, r.Class = rawLabel(d.Payload()), "other"
	if m := d.Message(); m != nil {
		r.Label, r.Class = label(m), msgClass(m)
	}
	end := d.End()
	if end != nil && (d.Delivered() || end.Hop != sent.Hop) {
		r.To = l.Column(end.Hop)
	}
	if !d.Delivered() {
		r.Dropped = true
		if end != nil {
			r.DropAt, r.Cause, r.Reason = end.Hop, end.Cause, end.Reason
		}
	}
	if ok, is := trace.Invite2xx(d.Message()); is {
		if c := trace.Contact(ok); c != "" {
			r.Contact = c
			if in := received[[2]string{d.CallID, sent.Hop}]; in != "" && in != c {
				r.RewrittenFrom = in
			}
			if d.Delivered() {
				received[[2]string{d.CallID, end.Hop}] = c
			}
		}
	}
	return r
}

// label names a SIP message on a ladder: the method of a request, "200 OK" for a
// response to INVITE and "200/REGISTER" for one to another method.
func label(m sip.Message) string {
	switch v := m.(type) {
	case *sip.Request:
		return string(v.Method)
	case *sip.Response:
		if v.CSeq() != nil && v.CSeq().MethodName != sip.INVITE {
			return fmt.Sprintf("%d/%s", v.StatusCode, v.CSeq().MethodName)
		}
		return fmt.Sprintf("%d %s", v.StatusCode, v.Reason)
	}
	return "?"
}

// rawLabel names a datagram that is not SIP on a ladder: the double-CRLF
// keep-alive of RFC 5626 §3.5.1, or "(not SIP)".
func rawLabel(data []byte) string {
	if len(data) > 0 && strings.Trim(string(data), "\r\n") == "" {
		return "CRLF keep-alive"
	}
	return "(not SIP)"
}

// msgClass sorts a SIP message for colour: invite, ok (a 2xx for INVITE), ack, bye,
// register, response or other.
func msgClass(m sip.Message) string {
	switch v := m.(type) {
	case *sip.Request:
		switch v.Method {
		case sip.INVITE:
			return "invite"
		case sip.ACK:
			return "ack"
		case sip.BYE:
			return "bye"
		case sip.REGISTER:
			return "register"
		}
	case *sip.Response:
		if _, ok := trace.Invite2xx(v); ok {
			return "ok"
		}
		return "response"
	}
	return "other"
}

// algLines says, one line per change, what a NAT's SIP ALG rewrote in d's payload
// (the line before and after), and whether it left a stale Content-Length; nothing
// for a datagram no ALG rewrote.
func algLines(d *trace.Datagram) []string {
	alg := d.ALG()
	if alg == nil {
		return nil
	}
	edits, stale := trace.ALGEdits(d)
	out := make([]string, 0, len(edits)+1)
	for _, e := range edits {
		out = append(out, fmt.Sprintf("%s's SIP ALG rewrote %q to %q", alg.Hop, e.Before, e.After))
	}
	if stale != "" {
		out = append(out, fmt.Sprintf("%s's SIP ALG: %s", alg.Hop, stale))
	}
	return out
}
