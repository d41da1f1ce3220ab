package report

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/judge"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// TextOptions tune the text report.
type TextOptions struct {
	Color bool // ANSI colours (only on a terminal, never with NO_COLOR)
	Width int  // zero: 100 columns
}

type painter struct{ on bool }

func (p painter) wrap(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
func (p painter) bold(s string) string   { return p.wrap("1", s) }
func (p painter) red(s string) string    { return p.wrap("31", s) }
func (p painter) green(s string) string  { return p.wrap("32", s) }
func (p painter) yellow(s string) string { return p.wrap("1;33", s) }
func (p painter) dim(s string) string    { return p.wrap("2", s) }

// WriteText writes the readable report of one run: the ladder of every
// datagram at every hop, the 200 OK's Contact at each hop, the verdict.
func WriteText(w io.Writer, s *scenario.Scenario, res *harness.Result, runErr error, o TextOptions) {
	p := painter{on: o.Color}
	width := o.Width
	if width <= 0 {
		width = 100
	}
	fmt.Fprintf(w, "%s %s  (%s)\n", p.bold("Scenario"), p.bold(s.Name), s.File)
	if s.Summary != "" {
		fmt.Fprintf(w, "  %s\n", s.Summary)
	}
	if res != nil && len(res.Real) > 0 {
		names := make([]string, 0, len(res.Real))
		for n := range res.Real {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, n+" "+res.Real[n])
		}
		fmt.Fprintf(w, "  real addresses on the internal Docker network: %s\n", strings.Join(parts, ", "))
	}
	if res != nil {
		// Many calls (a load step): the ladder and details of the first
		// call, then a summary of all.
		only := ""
		calls := res.Calls
		if len(calls) > maxDetailedCalls {
			only = calls[0].CallID
			calls = calls[:1]
			fmt.Fprintf(w, "  (ladder of the first of %d calls)\n", len(res.Calls))
		}
		writeLadder(w, res, p, width, only)
		for _, c := range calls {
			writeCall(w, c, p)
		}
		if len(res.Calls) > maxDetailedCalls {
			writeSummary(w, res.Calls, p)
		}
		if len(res.Expectations) > 0 {
			fmt.Fprintln(w, p.bold("Expectations"))
			for _, e := range res.Expectations {
				mark := p.green("ok  ")
				if !e.OK {
					mark = p.red("FAIL")
				}
				fmt.Fprintf(w, "  %s %-14s want %-8s got %s\n", mark, e.Key, e.Want, e.Got)
			}
		}
	}
	if runErr != nil {
		fmt.Fprintf(w, "%s %v\n", p.red("error:"), runErr)
	}
	switch {
	case res != nil && res.Passed && runErr == nil:
		fmt.Fprintf(w, "%s %s\n\n", p.green("PASS"), s.Name)
	default:
		fmt.Fprintf(w, "%s %s\n\n", p.red("FAIL"), s.Name)
	}
}

type ladder struct {
	cols    []harness.Column
	byName  map[string]int
	byAddr  map[netip.Addr]int
	centers []int
	width   int
}

func newLadder(cols []harness.Column, width int) *ladder {
	l := &ladder{cols: cols, byName: map[string]int{}, byAddr: map[netip.Addr]int{}, width: width}
	const left = 9
	n := max(len(cols), 1)
	colW := min(max((width-left)/n, 10), 22)
	for i, c := range cols {
		l.byName[c.Name] = i
		l.byAddr[c.Addr] = i
		l.centers = append(l.centers, left+colW*i+colW/2)
	}
	l.width = left + colW*n
	return l
}

func (l *ladder) blank() []rune {
	row := []rune(strings.Repeat(" ", l.width))
	for _, c := range l.centers {
		row[c] = '|'
	}
	return row
}

func put(row []rune, at int, s string) {
	for i, r := range []rune(s) {
		if at+i >= 0 && at+i < len(row) {
			row[at+i] = r
		}
	}
}

func (l *ladder) header() (string, string) {
	names, addrs := []rune(strings.Repeat(" ", l.width)), []rune(strings.Repeat(" ", l.width))
	put(names, 0, "  time s")
	for i, c := range l.cols {
		put(names, l.centers[i]-len(c.Name)/2, c.Name)
		a := c.Addr.String()
		put(addrs, l.centers[i]-len(a)/2, a)
	}
	return strings.TrimRight(string(names), " "), strings.TrimRight(string(addrs), " ")
}

// arrow draws from column a towards column b; dropped arrows end in X at
// column b (or half-way when b is -1).
func (l *ladder) arrow(t string, a, b int, label string, dropped bool) string {
	row := l.blank()
	put(row, 0, t)
	from := l.centers[a]
	var to int
	switch {
	case b >= 0:
		to = l.centers[b]
	case a+1 < len(l.centers):
		to = (l.centers[a] + l.centers[a+1]) / 2
	default:
		to = l.centers[a] + 6
	}
	if to == from {
		put(row, from+1, "<> "+label)
		return strings.TrimRight(string(row), " ")
	}
	lo, hi := min(from, to), max(from, to)
	for i := lo + 1; i < hi; i++ {
		row[i] = '-'
	}
	head := '>'
	if to < from {
		head = '<'
	}
	if dropped {
		head = 'X'
	}
	if to > from {
		row[hi-1] = head
	} else {
		row[lo+1] = head
	}
	span := hi - lo - 3
	lbl := label
	if len(lbl) > span && span > 0 {
		lbl = lbl[:span]
	}
	put(row, lo+1+(hi-lo-len(lbl))/2, lbl)
	return strings.TrimRight(string(row), " ")
}

// stub draws a short arrow from column a that ends in X half-way to the
// next column in direction dir.
func (l *ladder) stub(t string, a, dir int, label string) string {
	row := l.blank()
	put(row, 0, t)
	half := 8
	if len(l.centers) > 1 {
		half = (l.centers[1] - l.centers[0]) / 2
	}
	from, to := l.centers[a], l.centers[a]+dir*half
	lo, hi := min(from, to), max(from, to)
	for i := lo + 1; i <= hi && i < len(row); i++ {
		row[i] = '-'
	}
	if dir > 0 {
		put(row, hi, "X "+label)
	} else {
		put(row, lo-len(label)-1, label+" X")
	}
	return strings.TrimRight(string(row), " ")
}

func isRegister(m sip.Message) bool {
	cs := m.CSeq()
	return cs != nil && cs.MethodName == sip.REGISTER
}

func label(m sip.Message) string {
	switch v := m.(type) {
	case *sip.Request:
		return string(v.Method)
	case *sip.Response:
		s := fmt.Sprintf("%d %s", v.StatusCode, v.Reason)
		if v.CSeq() != nil && v.CSeq().MethodName != sip.INVITE {
			s = fmt.Sprintf("%d/%s", v.StatusCode, v.CSeq().MethodName)
		}
		return s
	}
	return "?"
}

// maxDetailedCalls is how many calls get a ladder and details each.
const maxDetailedCalls = 3

func writeSummary(w io.Writer, calls []judge.CallFacts, p painter) {
	answered, acked, byes := 0, 0, 0
	blamed := map[string]int{}
	for _, c := range calls {
		if c.Answered {
			answered++
		}
		if c.ACKAtCallee {
			acked++
		}
		if c.CalleeBYE {
			byes++
		}
		if c.Blame != "" {
			blamed[c.Blame]++
		}
	}
	fmt.Fprintf(w, "%s %d calls: %d answered, %d with the ACK at the callee, %d ended by the callee's BYE", p.bold("All calls:"), len(calls), answered, acked, byes)
	for h, n := range blamed {
		fmt.Fprintf(w, "; %d blame %s", n, h)
	}
	fmt.Fprintln(w)
}

func writeLadder(w io.Writer, res *harness.Result, p painter, width int, onlyCallID string) {
	l := newLadder(res.Columns, width)
	h1, h2 := l.header()
	fmt.Fprintln(w, p.bold(h1))
	fmt.Fprintln(w, p.dim(h2))
	parser := sip.NewParser()
	type dg struct {
		sent  *sim.Record
		end   *sim.Record
		xlats []sim.Record
	}
	groups := map[int]*dg{}
	var order []int
	for i := range res.Capture {
		r := &res.Capture[i]
		if r.Datagram == 0 {
			continue
		}
		g, ok := groups[r.Datagram]
		if !ok {
			g = &dg{}
			groups[r.Datagram] = g
			order = append(order, r.Datagram)
		}
		switch r.Kind {
		case sim.Sent:
			g.sent = r
		case sim.Delivered, sim.Dropped:
			g.end = r
		case sim.Translated:
			g.xlats = append(g.xlats, *r)
		}
	}
	// Actor notes that explain a gap in the ladder, shown in time order.
	var notes []harness.Event
	for _, e := range res.Events {
		if (e.Kind == "absorbed" || e.Kind == string(ua.ACKTimeout)) && (onlyCallID == "" || e.CallID == onlyCallID) {
			notes = append(notes, e)
		}
	}
	flush := func(until time.Time, all bool) {
		for len(notes) > 0 && (all || notes[0].Time.Before(until)) {
			e := notes[0]
			notes = notes[1:]
			fmt.Fprintf(w, "%8.3f %s\n", e.Time.Sub(res.Start).Seconds(), p.red(fmt.Sprintf("%s: %s", e.Host, e.Detail)))
		}
	}
	// (Call-ID, host) -> Contact of the last 2xx for INVITE the host received,
	// to tell a rewritten Contact from a relayed one.
	received := map[[2]string]string{}
	for _, id := range order {
		g := groups[id]
		if g.sent == nil {
			continue
		}
		flush(g.sent.Time, false)
		msg, err := parser.ParseSIP(append([]byte(nil), g.sent.Data...))
		lbl := rawLabel(g.sent.Data)
		if err == nil {
			lbl = label(msg)
			if onlyCallID != "" && msg.CallID() != nil && msg.CallID().Value() != onlyCallID && !isRegister(msg) {
				continue
			}
		}
		a, ok := l.byName[g.sent.Hop]
		if !ok {
			continue
		}
		t := fmt.Sprintf("%8.3f", g.sent.Time.Sub(res.Start).Seconds())
		dropped := g.end == nil || g.end.Kind == sim.Dropped
		b := -1
		switch {
		case g.end != nil && g.end.Kind == sim.Delivered:
			b = l.byName[g.end.Hop]
		case g.end != nil && g.end.Hop != g.sent.Hop:
			b = l.byName[g.end.Hop]
		}
		var line string
		if b < 0 {
			// Dropped by the sender's own routing: a short arrow towards the
			// destination's column, if it has one.
			dir := 1
			if i, ok := l.byAddr[g.sent.Dst.Addr()]; ok && i < a {
				dir = -1
			}
			line = l.stub(t, a, dir, lbl)
		} else {
			line = l.arrow(t, a, b, lbl, dropped)
		}
		if dropped {
			line = p.red(line)
		}
		fmt.Fprintln(w, line)
		if res, ok := msg.(*sip.Response); ok && err == nil && res.IsSuccess() && res.CSeq() != nil && res.CSeq().MethodName == sip.INVITE {
			if c := res.Contact(); c != nil {
				contact, note := c.Address.String(), ""
				cid := ""
				if res.CallID() != nil {
					cid = res.CallID().Value()
				}
				if in := received[[2]string{cid, g.sent.Hop}]; in != "" && in != contact {
					note = " (rewritten, was " + in + ")"
				}
				if g.end != nil && g.end.Kind == sim.Delivered {
					received[[2]string{cid, g.end.Hop}] = contact
				}
				fmt.Fprintf(w, "%s %s\n", strings.Repeat(" ", 9), p.yellow("» Contact: "+contact+note))
			}
		}
		for _, x := range g.xlats {
			fmt.Fprintf(w, "%s %s\n", strings.Repeat(" ", 9), p.dim(fmt.Sprintf("%s: %s -> %s becomes %s -> %s", x.Hop, x.Src, x.Dst, x.XSrc, x.XDst)))
		}
		if dropped && g.end != nil {
			fmt.Fprintf(w, "%s %s\n", strings.Repeat(" ", 9), p.red(fmt.Sprintf("dropped at %s: %s", g.end.Hop, g.end.Reason)))
		}
	}
	flush(time.Time{}, true)
}

func ms(d *time.Duration) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func writeCall(w io.Writer, c judge.CallFacts, p painter) {
	fmt.Fprintf(w, "%s %s -> %s (Call-ID %s)\n", p.bold("Call"), c.From, c.To, c.CallID)
	fmt.Fprintln(w, "  Contact of the 200 OK at each hop:")
	for _, h := range c.Hops {
		mark := p.green("leads to callee")
		if !h.Leads {
			mark = p.red(h.Resolves)
		}
		in := ""
		if h.In != "" && h.In != h.Out {
			in = fmt.Sprintf(" (rewritten from %s)", h.In)
		}
		fmt.Fprintf(w, "    %-10s sent %s%s: %s\n", h.Host, p.yellow(h.Out), in, mark)
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	after := func(d *time.Duration) string {
		if d == nil {
			return ""
		}
		return " (after " + ms(d) + ")"
	}
	fmt.Fprintf(w, "  answered: %s   ACK at callee: %s%s   200 OK retransmissions: %d\n", yes(c.Answered), yes(c.ACKAtCallee), after(c.ACKDelay), c.OKRetransmissions)
	fmt.Fprintf(w, "  callee BYE: %s%s   Contact at caller: %s\n", yes(c.CalleeBYE), after(c.CalleeBYEAfter), c.ContactAtCaller)
	if !c.ACKAtCallee {
		fmt.Fprintf(w, "  ACK lost at: %s   blame: %s\n", p.red(c.ACKLostAt), p.red(orNone(c.Blame)))
	}
	fmt.Fprintf(w, "  %s %s\n", p.bold("diagnosis:"), c.Diagnosis)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
