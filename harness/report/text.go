package report

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
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
	if res != nil && res.Clock != "" {
		// How to repeat the run: in simulated time, byte for byte.
		fmt.Fprintf(w, "  %s time, seed %d (sipnatlab run --clock %s --seed %d)\n", res.Clock, res.Seed, res.Clock, res.Seed)
	}
	if res != nil {
		if n, first := forged(res); n > 0 {
			fmt.Fprintf(w, "  %s frames from outside the run were refused and not delivered (%d records in the capture; the first: %s)\n", p.red("intrusion:"), n, first)
		}
	}
	if res != nil && len(res.Real) > 0 {
		var parts []string
		for _, n := range slices.Sorted(maps.Keys(res.Real)) {
			parts = append(parts, n+" "+res.Real[n])
		}
		fmt.Fprintf(w, "  real addresses (in the real proxies' containers): %s\n", strings.Join(parts, ", "))
	}
	if res != nil {
		warnings := res.ProxyWarnings()
		for _, host := range slices.Sorted(maps.Keys(warnings)) {
			fmt.Fprintf(w, "  %s (real proxy) logged these warnings and errors:\n", p.bold(host))
			for _, l := range warnings[host] {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
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
		writeLadder(w, NewLadder(res), p, width, only)
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
	writeHeadline(w, NewHeadline(s, res, runErr), p, width)
	fmt.Fprintln(w)
}

// writeHeadline writes the verdict line, its word coloured, and the fix under it,
// wrapped at width.
func writeHeadline(w io.Writer, h Headline, p painter, width int) {
	word := p.red(h.Word())
	if h.Passed {
		word = p.green(h.Word())
	}
	rest := wrapWords(h.Name+" — "+h.Judgement(), width-5, "\n     ")
	rest = p.bold(h.Name) + strings.TrimPrefix(rest, h.Name)
	fmt.Fprintf(w, "%s %s\n", word, rest)
	if h.Fix != "" {
		fmt.Fprintf(w, "     %s\n", wrapWords("fix: "+h.Fix, width-5, "\n     "))
	}
}

// wrapWords breaks s between words into lines of at most width runes (a longer word
// stays whole), joined by sep.
func wrapWords(s string, width int, sep string) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		l := utf8.RuneCountInString(word)
		switch {
		case i == 0:
		case n+1+l > width:
			b.WriteString(sep)
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += l
	}
	return b.String()
}

// grid lays a Ladder's columns out on a terminal line.
type grid struct {
	cols    []harness.Column
	centers []int
	width   int
}

func newGrid(cols []harness.Column, width int) *grid {
	g := &grid{cols: cols}
	const left = 9
	n := max(len(cols), 1)
	colW := min(max((width-left)/n, 10), 22)
	for i := range cols {
		g.centers = append(g.centers, left+colW*i+colW/2)
	}
	g.width = left + colW*n
	return g
}

func (g *grid) blank() []rune {
	row := []rune(strings.Repeat(" ", g.width))
	for _, c := range g.centers {
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

func (g *grid) header() (string, string) {
	names, addrs := []rune(strings.Repeat(" ", g.width)), []rune(strings.Repeat(" ", g.width))
	put(names, 0, "  time s")
	for i, c := range g.cols {
		put(names, g.centers[i]-len(c.Name)/2, c.Name)
		a := c.Addr.String()
		put(addrs, g.centers[i]-len(a)/2, a)
	}
	return strings.TrimRight(string(names), " "), strings.TrimRight(string(addrs), " ")
}

// arrow draws from column a to column b, ending in X at b when dropped.
func (g *grid) arrow(t string, a, b int, label string, dropped bool) string {
	row := g.blank()
	put(row, 0, t)
	from, to := g.centers[a], g.centers[b]
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
func (g *grid) stub(t string, a, dir int, label string) string {
	row := g.blank()
	put(row, 0, t)
	half := 8
	if len(g.centers) > 1 {
		half = (g.centers[1] - g.centers[0]) / 2
	}
	from, to := g.centers[a], g.centers[a]+dir*half
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
	for _, h := range slices.Sorted(maps.Keys(blamed)) {
		fmt.Fprintf(w, "; %d blame %s", blamed[h], h)
	}
	fmt.Fprintln(w)
}

// writeLadder renders the ladder as text: with onlyCallID set, only that call's
// datagrams and notes, and every REGISTER and non-SIP datagram. The lines under an
// arrow (Contact, NAT translations, drops) and the notes wrap at width.
func writeLadder(w io.Writer, l *Ladder, p painter, width int, onlyCallID string) {
	g := newGrid(l.Columns, width)
	h1, h2 := g.header()
	fmt.Fprintln(w, p.bold(h1))
	fmt.Fprintln(w, p.dim(h2))
	const indent = 10
	// under writes s after lead, wrapped, each line painted after its indent.
	under := func(lead string, paint func(string) string, s string) {
		for _, line := range wrapText(lead, s, indent+2, width) {
			text := strings.TrimLeft(line, " ")
			fmt.Fprintln(w, line[:len(line)-len(text)]+paint(text))
		}
	}
	pad := strings.Repeat(" ", indent)
	for _, r := range l.Rows {
		if onlyCallID != "" && !shownWith(&r, onlyCallID) {
			continue
		}
		t := fmt.Sprintf("%8.3f", r.At.Seconds())
		if r.IsNote() {
			under(t+" ", p.red, r.NoteText())
			continue
		}
		var line string
		if r.To < 0 {
			line = g.stub(t, r.From, r.Toward, r.Label)
		} else {
			line = g.arrow(t, r.From, r.To, r.Label, r.Dropped)
		}
		if r.Dropped {
			line = p.red(line)
		}
		fmt.Fprintln(w, line)
		if r.Contact != "" {
			note := ""
			if r.RewrittenFrom != "" {
				note = " (rewritten, was " + r.RewrittenFrom + ")"
			}
			under(pad, p.yellow, "» Contact: "+r.Contact+note)
		}
		for _, x := range r.Xlat {
			under(pad, p.dim, fmt.Sprintf("%s: %s -> %s becomes %s -> %s", x.Hop, x.Src, x.Dst, x.XSrc(), x.XDst()))
			if r.D != nil && r.IsALG(x) {
				for _, l := range algLines(r.D) {
					under(pad, p.yellow, l)
				}
			}
		}
		if r.Dropped && r.DropAt != "" {
			under(pad, p.red, r.DropText())
		}
	}
}

// wrapText breaks s into lines of at most width runes at spaces: the first begins with
// lead, the others with next spaces; a word longer than a line is cut. A width with
// room for less than 10 runes after next spaces is taken as that wide.
func wrapText(lead, s string, next, width int) []string {
	width = max(width, next+10)
	var lines []string
	line, empty := []rune(lead), true // empty: nothing after the lead yet
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		for {
			room := width - len(line)
			if !empty {
				room-- // the space before the word
			}
			if len(wr) <= room {
				if !empty {
					line = append(line, ' ')
				}
				line, empty = append(line, wr...), false
				break
			}
			if empty { // the word is longer than a whole line: cut it
				room = max(room, 1)
				line, wr = append(line, wr[:room]...), wr[room:]
			}
			lines = append(lines, string(line))
			line, empty = []rune(strings.Repeat(" ", next)), true
		}
	}
	if !empty || len(lines) == 0 {
		lines = append(lines, string(line))
	}
	return lines
}

// shownWith reports whether a ladder of one call shows r: a note of the call, a
// datagram of the call, a REGISTER or its response, or a datagram of no call.
func shownWith(r *Row, callID string) bool {
	switch {
	case r.CallID == callID:
		return true
	case r.IsNote():
		return false
	case r.CallID == "":
		return true
	}
	cs := r.D.Message().CSeq()
	return cs != nil && cs.MethodName == sip.REGISTER
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
	if c.FinalResponse != "" {
		fmt.Fprintf(w, "  final response: %s from %s\n", p.red(c.FinalResponse), orNone(c.FinalFrom))
	}
	for _, ch := range c.ContactChanges {
		by := ""
		if ch.Hop != "" {
			by = fmt.Sprintf(" (%s sent %s)", ch.Hop, ch.HopSent)
		}
		fmt.Fprintf(w, "  Contact at caller changed after %.1f s: %s -> %s%s\n", ch.After.Seconds(), ch.Was, p.yellow(ch.Now), by)
	}
	for _, ch := range c.HopChanges {
		fmt.Fprintf(w, "  %s sent the 200 OK on with %s from %.1f s (was %s)\n", ch.Hop, p.yellow(ch.Now), ch.After.Seconds(), ch.Was)
	}
	for _, wh := range c.Withheld {
		fmt.Fprintf(w, "  %s passed on no 200 OK after %.1f s (%d dropped)\n", wh.Hop, wh.LastSent.Seconds(), wh.Dropped)
	}
	fmt.Fprintf(w, "  %s %s\n", p.bold("diagnosis:"), c.Diagnosis)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// forged counts the capture's records of frames refused as forged (sim.CauseForged) and
// returns the reason of the first.
func forged(res *harness.Result) (int, string) {
	n, first := 0, ""
	log, tr := res.Capture, res.Trace
	if tr != nil && tr.Log() != log {
		tr = nil
	}
	for i := range log.Len() {
		if tr != nil && tr.Kind(i) != sim.Dropped {
			continue // not decoded
		}
		r := log.Head(i)
		if r.Kind == sim.Dropped && r.Cause == sim.CauseForged && r.Datagram == 0 {
			if n == 0 {
				first = r.Reason
			}
			n++
		}
	}
	return n, first
}

// TerminalSafe returns a writer that passes to w what is written to it with everything
// that could drive a terminal shown escaped: control characters (C0 except tab and
// newline, DEL, C1) as \x1b or \u009b, bidirectional-text controls (U+061C, U+200E,
// U+200F, U+202A-U+202E, U+2066-U+2069) and line and paragraph separators as \u202e, and
// bytes that are not UTF-8 as \xff. Scenario files, SIP messages and captures carry
// strings written by anyone; this is the last step before a terminal. With color, the
// colour codes WriteText paints with pass unchanged (only those: no other escape
// sequence does). A JSON verdict written through it decodes to the same value: the JSON
// encoder escapes C0 controls and bad UTF-8 itself, and the \u escapes of the others are
// JSON's own. Each Write is escaped on its own: write whole lines or formatted strings.
func TerminalSafe(w io.Writer, color bool) io.Writer { return &terminalSafe{w: w, color: color} }

type terminalSafe struct {
	w     io.Writer
	color bool
}

// sgr holds the colour codes painter writes.
var sgr = []string{"\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[1;33m"}

func (t *terminalSafe) Write(p []byte) (int, error) {
	var b []byte
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == '\x1b' && t.color && slices.ContainsFunc(sgr, func(c string) bool { return bytes.HasPrefix(p[i:], []byte(c)) }):
			n := bytes.IndexByte(p[i:], 'm') + 1
			b = append(b, p[i:i+n]...)
			size = n
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t' && r != '\n':
			b = fmt.Appendf(b, `\x%02x`, p[i])
		case r == 0x7f, r >= 0x80 && r <= 0x9f, r == 0x061c, r == 0x200e, r == 0x200f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029:
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = append(b, p[i:i+size]...)
		}
		i += size
	}
	if _, err := t.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}
