package field

import (
	"fmt"
	"io"
)

// WriteEvidence writes, after the run-style report, what the capture files were, the
// NATs inferred and why, the timers estimated, and for every call what is certain and
// what is inferred (with a confidence word). Calls beyond max (0: all) are summed up.
func (d *Diagnosis) WriteEvidence(w io.Writer, max int) {
	fmt.Fprintf(w, "Capture: %d file(s), %d SIP datagrams and ICMP errors read", len(d.Files), d.Packets)
	if d.Unparsed > 0 {
		fmt.Fprintf(w, ", %d SIP-looking datagrams that did not parse", d.Unparsed)
	}
	fmt.Fprintln(w)
	for _, n := range d.NATs {
		fmt.Fprintf(w, "  NAT %s: public %s, lan %s (inferred: %s)\n", n.Name, n.Public, n.LAN, n.Why)
	}
	fmt.Fprintf(w, "  timers: %s\n", d.Timers)
	for i, e := range d.Evidence {
		if max > 0 && i >= max {
			fmt.Fprintf(w, "  (evidence of %d more calls left out; --json has it all)\n", len(d.Evidence)-max)
			break
		}
		c := d.Calls[i]
		fmt.Fprintf(w, "Evidence for call %s (%s -> %s)\n", e.CallID, c.From, orHost(c.To))
		for _, s := range e.Statements {
			fmt.Fprintf(w, "  %-14s %s\n", s.Confidence+":", s.Text)
		}
	}
	for _, err := range d.Errors {
		fmt.Fprintf(w, "error: %v (everything before it is diagnosed above)\n", err)
	}
}
