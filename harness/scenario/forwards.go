package scenario

// This file reads the static port forwards of the NATs ("forwards"), which name hosts
// and so are checked once every host is read.

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// forwardRef is one forward as written: the NAT (by index), the public port and the
// host name node.
type forwardRef struct {
	nat  int
	port uint16
	host *yaml.Node
	path string
}

// forwards reads the "forwards" mapping of the NAT with index nat: public ports to
// host names.
func (p *parser) forwards(nat int, n *yaml.Node, path string) error {
	fields, err := p.mapping(n, path, "a mapping from public ports to hosts on the NAT's lan, such as {5060: proxy}")
	if err != nil {
		return err
	}
	seen := map[int]bool{}
	for _, f := range fields {
		fp := join(path, f.key.Value)
		port, err := p.positiveInt(f.key, fp, 65535)
		if err != nil {
			return err
		}
		if seen[port] {
			return p.errf(f.key, fp, "port %d is forwarded twice", port)
		}
		seen[port] = true
		_, hn, err := p.scalar(f.val, fp)
		if err != nil {
			return err
		}
		p.forwardRefs = append(p.forwardRefs, forwardRef{nat: nat, port: uint16(port), host: hn, path: fp})
	}
	return nil
}

// placeForwards checks every forward once the hosts are read: it names a host on the
// NAT's own lan, one forward per host, on a NAT that sits behind no other NAT. It fills
// in each NAT's Forwards.
func (p *parser) placeForwards() error {
	for _, r := range p.forwardRefs {
		n := &p.s.NATs[r.nat]
		h, ok := p.hostNamed(r.host.Value)
		if !ok {
			return p.errf(r.host, r.path, "no host named %q; hosts on the lan %s of %s: %s", r.host.Value, n.LAN, n.Name, p.onLAN(n.Name))
		}
		if h.NAT != n.Name {
			where := "is public"
			if h.NAT != "" {
				where = "is on the lan of NAT " + h.NAT
			}
			return p.errf(r.host, r.path, "%s %s, not on the lan %s of %s; a NAT forwards ports only to hosts on its own lan", h.Name, where, n.LAN, n.Name)
		}
		if f, dup := n.Forward(h.Name); dup {
			return p.errf(r.host, r.path, "%s is already forwarded from port %d (line %d); one forward per host", h.Name, f.Port, f.Line)
		}
		if n.Outside != "" {
			return p.errf(r.host, r.path, "%s sits behind NAT %s, which forwards nothing to it; forward ports only on a NAT with a public address", n.Name, n.Outside)
		}
		n.Forwards = append(n.Forwards, Forward{Port: r.port, Host: h.Name, To: h.Address, Line: r.host.Line})
	}
	return nil
}

// onLAN lists the hosts on the lan of the NAT called nat, or "none".
func (p *parser) onLAN(nat string) string {
	var out []string
	for _, h := range p.s.Hosts {
		if h.NAT == nat {
			out = append(out, h.Name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
