package field

import (
	"fmt"
	"io"
	"slices"
)

// WriteEvidence writes, after the run-style report, what the capture files were, the
// NATs inferred and why, the timers estimated, and for every call what is certain and
// what is inferred (with a confidence word): of at most max calls (0: all), those that
// lost their ACK first.
func (d *Diagnosis) WriteEvidence(w io.Writer, max int) {
	fmt.Fprintf(w, "Capture: %d file(s), %d SIP datagrams and ICMP errors read, at most %d dialogs open at once", len(d.Files), d.Packets, d.MaxOpenDialogs)
	if d.Unparsed > 0 {
		fmt.Fprintf(w, ", %d SIP-looking datagrams that did not parse", d.Unparsed)
	}
	fmt.Fprintln(w)
	for _, n := range d.NATs {
		fmt.Fprintf(w, "  NAT %s: public %s, lan %s (inferred: %s)\n", n.Name, n.Public, n.LAN, n.Why)
	}
	fmt.Fprintf(w, "  timers: %s\n", d.Timers)
	// The calls that lost their ACK first, then the others, in order.
	order := make([]int, 0, len(d.Calls))
	for pass := 0; pass < 2; pass++ {
		for i, c := range d.Calls {
			if lost := c.Answered && !c.ACKAtCallee; lost == (pass == 0) {
				order = append(order, i)
			}
		}
	}
	if max > 0 && len(order) > max {
		order = order[:max]
		slices.Sort(order)
	}
	for _, i := range order {
		e, c := d.Evidence[i], d.Calls[i]
		fmt.Fprintf(w, "Evidence for call %s (%s -> %s)\n", e.CallID, c.From, orHost(c.To))
		for _, s := range e.Statements {
			fmt.Fprintf(w, "  %-14s %s\n", s.Confidence+":", s.Text)
		}
	}
	if n := len(d.Calls) - len(order); n > 0 {
		fmt.Fprintf(w, "  (evidence of %d more calls, whose ACK arrived or that were not answered, left out; --json has it all)\n", n)
	}
	for _, err := range d.Errors {
		fmt.Fprintf(w, "error: %v (everything before it is diagnosed above)\n", err)
	}
}
