package field

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// WriteScenario writes a scenario file (docs/scenario-format.md) that reproduces the
// incident: the hosts and NATs the capture showed, the proxies with the NAT handling
// their rewrites showed, the registrations and calls, the timers estimated, and an
// expect block with the verdict of the first call. `sipnatlab run` on it gives that
// verdict: a field incident becomes a regression test.
func (d *Diagnosis) WriteScenario(w io.Writer) error {
	t := d.topo
	s := t.scenario("")
	for _, h := range s.Hosts {
		if !h.Address.Addr().Is4() {
			return fmt.Errorf("host %s has the IPv6 address %s: the scenario format is IPv4 only, so this incident cannot be written as a scenario", h.Name, h.Address.Addr())
		}
	}
	name := map[string]string{} // diagnosis name -> scenario name
	used := map[string]bool{}
	for _, n := range s.NATs {
		name[n.Name] = unique(kebab(n.Name), used)
	}
	for _, h := range s.Hosts {
		name[h.Name] = unique(kebab(h.Name), used)
	}
	var b strings.Builder
	title := "field-incident"
	if d.Result != nil && d.Result.Scenario != nil && d.Result.Scenario.Name != "field-capture" {
		title = d.Result.Scenario.Name + "-from-capture"
	}
	fmt.Fprintf(&b, "# Written by sipnatlab diagnose from %s.\n", strings.Join(d.Files, ", "))
	fmt.Fprintf(&b, "name: %s\n", kebab(title))
	fmt.Fprintf(&b, "summary: The topology and calls a field capture showed, to reproduce its verdict.\n\n")
	t1, t2 := t.est.T1, t.est.T2
	if d.Result != nil && d.Result.Scenario != nil && d.Result.Scenario.Timers.T1 > 0 {
		t1, t2 = d.Result.Scenario.Timers.T1, d.Result.Scenario.Timers.T2
	}
	if t1 > 0 {
		if t2 < t1 {
			t2 = max(t1, 4*time.Second)
		}
		fmt.Fprintf(&b, "timers: {t1: %s, t2: %s}   # estimated from the 2xx retransmissions\n\n", t1, t2)
	}
	if len(s.NATs) > 0 {
		b.WriteString("nats:\n")
		for _, n := range s.NATs {
			fmt.Fprintf(&b, "  %s:\n    public: %s\n    lan: %s\n", name[n.Name], n.Public, n.LAN)
		}
		b.WriteString("\n")
	}
	b.WriteString("hosts:\n")
	for _, h := range s.Hosts {
		fmt.Fprintf(&b, "  %s:\n    role: %s\n    address: %s\n", name[h.Name], h.Role, h.Address)
		if h.Role == scenario.RoleProxy {
			if nh, ok := s.Host(h.NextHop); ok && nh.Role == scenario.RoleProxy {
				fmt.Fprintf(&b, "    next-hop: %s\n", name[h.NextHop])
			}
			if h.Registrar {
				b.WriteString("    registrar: true\n")
			}
			fmt.Fprintf(&b, "    nat-handling: %s\n", h.NATHandling)
		} else if r, ok := s.Host(h.RegisterWith); ok && r.Role == scenario.RoleProxy {
			fmt.Fprintf(&b, "    register-with: %s\n", name[h.RegisterWith])
		}
	}
	b.WriteString("\nsteps:\n")
	for _, h := range s.Hosts {
		if r, ok := s.Host(h.RegisterWith); ok && h.Role == scenario.RoleUA && r.Role == scenario.RoleProxy {
			fmt.Fprintf(&b, "  - register: %s\n", name[h.Name])
		}
	}
	for _, c := range d.routes {
		fmt.Fprintf(&b, "  - call: {from: %s, to: %s", name[c.from], name[c.to])
		if v, ok := s.Host(c.via); ok && v.Role == scenario.RoleProxy {
			fmt.Fprintf(&b, ", via: %s", name[c.via])
		}
		if n := d.nroutes[c]; n > 1 {
			fmt.Fprintf(&b, ", count: %d", n)
		}
		b.WriteString("}\n")
	}
	if len(d.routes) == 0 {
		return fmt.Errorf("the capture shows no call between two UAs to reproduce")
	}
	b.WriteString("  - wait: 1s\n\nexpect:\n")
	f := d.Calls[0]
	fmt.Fprintf(&b, "  ack-at-callee: %t\n  callee-bye: %t\n", f.ACKAtCallee, f.CalleeBYE)
	blame := "none"
	if f.Blame != "" {
		blame = name[f.Blame]
	}
	fmt.Fprintf(&b, "  blame: %s\n", blame)
	_, err := io.WriteString(w, b.String())
	return err
}

func unique(n string, used map[string]bool) string {
	out := n
	for i := 2; used[out]; i++ {
		out = fmt.Sprintf("%s-%d", n, i)
	}
	used[out] = true
	return out
}

// route is a call's caller, callee and the proxy it sent the INVITE to.
type route struct{ from, to, via string }
