package scenario

// This file holds the topology rules: LANs and nested NATs, where hosts sit,
// references between hosts, and the route of a call.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// hostRef is a host name written in the file, kept for checks once every host is known.
type hostRef struct {
	node *yaml.Node
	path string
}

// placeNAT checks the NAT n, read at path, against the NATs read before it: its public
// address is its own, its lan is disjoint from theirs, and it does not hold its own
// public address.
func (p *parser) placeNAT(n NAT, path string, publicNode, lanNode *yaml.Node) error {
	for _, o := range p.s.NATs {
		switch {
		case o.Public == n.Public:
			return p.errf(publicNode, join(path, "public"), "%s is already the public address of NAT %s (line %d)", n.Public, o.Name, o.Line)
		case n.LAN.Overlaps(o.LAN):
			return p.errf(lanNode, join(path, "lan"), "%s overlaps the lan %s of NAT %s (line %d); lans must be disjoint", n.LAN, o.LAN, o.Name, o.Line)
		}
	}
	if n.LAN.Contains(n.Public) {
		return p.errf(publicNode, join(path, "public"), "%s lies inside the NAT's own lan %s; a NAT's public address must be outside every lan", n.Public, n.LAN)
	}
	return nil
}

// nestNATs sets each NAT's Outside once every NAT is read, and refuses private public
// addresses outside every lan and NATs behind each other in a loop. publics holds each
// NAT's public node, by index.
func (p *parser) nestNATs(publics []*yaml.Node) error {
	// A NAT whose public address lies in another NAT's lan sits behind it (a home router
	// behind a carrier-grade NAT); a private public address must lie in some lan.
	for i := range p.s.NATs {
		n := &p.s.NATs[i]
		for _, o := range p.s.NATs {
			if o.LAN.Contains(n.Public) {
				n.Outside = o.Name
			}
		}
		if r := private(n.Public); r != "" && n.Outside == "" {
			return p.errf(publics[i], join(join("nats", n.Name), "public"), "%s is a private (%s) address; a NAT's public address must be public, or lie in the lan of another NAT it sits behind", n.Public, r)
		}
		if n.Outside != "" {
			if err := p.onEdge(n.Public, n.Outside, publics[i], join(join("nats", n.Name), "public"), "NAT"); err != nil {
				return err
			}
		}
	}
	// Each walk visits every NAT at most once, so it ends on any loop. A loop is reported
	// from its first NAT in file order: the walk from a NAT outside the loop stops where
	// it meets the loop.
	for i, n := range p.s.NATs {
		chain := []string{n.Name}
		seen := map[string]bool{n.Name: true}
		for o := n; o.Outside != ""; {
			o, _ = p.s.NAT(o.Outside)
			chain = append(chain, o.Name)
			if o.Name == n.Name {
				return p.errf(publics[i], join(join("nats", n.Name), "public"), "impossible topology: the NATs sit behind each other in a loop %s", strings.Join(chain, " → "))
			}
			if seen[o.Name] {
				break
			}
			seen[o.Name] = true
		}
	}
	return nil
}

// behind lists the NATs in front of a host on the LAN of nat, innermost first: nat, the
// NAT it sits behind, and so on. Load has refused loops; a loop still ends the list.
func (p *parser) behind(nat string) []string {
	var out []string
	for nat != "" && !slices.Contains(out, nat) {
		out = append(out, nat)
		n, _ := p.s.NAT(nat)
		nat = n.Outside
	}
	return out
}

// unreachable explains why a datagram that from sends, with no NAT binding open, cannot
// reach the host to, or returns "": to is public, or sits on the LAN of a NAT that from
// is behind (its own LAN, or an outer one). NATs forward no ports, so a host behind a NAT
// that from is not behind is unreachable (sim routing: a private address is reached only
// from inside its LAN).
func (p *parser) unreachable(from, to Host) string {
	if to.NAT == "" || slices.Contains(p.behind(from.NAT), to.NAT) {
		return ""
	}
	n, _ := p.s.NAT(to.NAT)
	where := "is public"
	if from.NAT != "" {
		where = "is behind " + strings.Join(p.behind(from.NAT), " behind ")
	}
	return fmt.Sprintf("%s sits behind NAT %s (%s is in its lan %s) and %s %s, not behind %s; NATs forward no ports, so give %s a public address",
		to.Name, n.Name, to.Address.Addr(), n.LAN, from.Name, where, n.Name, to.Name)
}

// claimHost checks, before the host called k is read, that no NAT has its name: hosts
// and NATs share one namespace in the network.
func (p *parser) claimHost(k *yaml.Node, path string) error {
	if n, ok := p.s.NAT(k.Value); ok {
		return p.errf(k, path, "%q is already the name of NAT %s (line %d); hosts and NATs need different names", k.Value, n.Name, n.Line)
	}
	return nil
}

// claimAddress checks that h, whose address was written at addr, has an IP address no
// host read before it has, whatever the ports: each host is one machine.
func (p *parser) claimAddress(h Host, addr hostRef) error {
	for _, o := range p.s.Hosts {
		switch {
		case o.Address == h.Address:
			return p.errAt(addr.node.Line, addr.path, "%s is already the address of %s (line %d)", h.Address, o.Name, o.Line)
		case o.Address.Addr() == h.Address.Addr():
			return p.errAt(addr.node.Line, addr.path, "%s is already the IP address of %s (line %d, port %d); each host needs an IP address of its own, whatever its port",
				h.Address.Addr(), o.Name, o.Line, o.Address.Port())
		}
	}
	return nil
}

// placeHost finds the NAT whose lan holds the address of h, written at addr, and refuses
// a NAT's public address and a private address outside every lan.
func (p *parser) placeHost(h *Host, addr hostRef) error {
	a := h.Address.Addr()
	for _, n := range p.s.NATs {
		if n.Public == a {
			return p.errf(addr.node, addr.path, "%s is the public address of NAT %s (line %d); give the host its own address", a, n.Name, n.Line)
		}
		if n.LAN.Contains(a) {
			h.NAT = n.Name
		}
	}
	if r := private(a); r != "" && h.NAT == "" {
		return p.errf(addr.node, addr.path, "%s is a private (%s) address outside every NAT's lan; put it in a NAT's lan or use a public address", a, r)
	}
	if h.NAT != "" {
		return p.onEdge(a, h.NAT, addr.node, addr.path, "host")
	}
	return nil
}

// onEdge refuses a, the address of a host or NAT inside the lan of nat, when it is that
// lan's network or broadcast address: datagrams to it are for the whole lan.
func (p *parser) onEdge(a netip.Addr, nat string, n *yaml.Node, path, what string) error {
	o, _ := p.s.NAT(nat)
	if e, first, last := edge(a, o.LAN); e != "" {
		return p.errf(n, path, "%s is the %s address of the lan %s of NAT %s (line %d), not a %s's; use an address from %s to %s",
			a, e, o.LAN, o.Name, o.Line, what, first, last)
	}
	return nil
}

// hostRefs checks the host names that hosts refer to, once every host is read: a
// next-hop names another proxy, a register-with names a registrar, and a UA with
// keep-alives has a registrar to send them to. refs holds each host's references, by
// host index and key.
func (p *parser) hostRefs(refs map[int]map[string]hostRef) error {
	for i, h := range p.s.Hosts {
		r := refs[i]
		if ref, ok := r["next-hop"]; ok {
			if _, err := p.hostOf(ref, RoleProxy, "next-hop"); err != nil {
				return err
			}
			if h.NextHop == h.Name {
				return p.errf(ref.node, ref.path, "%s cannot be its own next-hop", h.Name)
			}
		}
		if ref, ok := r["keep-alive"]; ok && h.RegisterWith == "" {
			return p.errf(ref.node, ref.path, "%s has no register-with: keep-alives go to the registrar over the flow REGISTER opened; add register-with to %s", h.Name, h.Name)
		}
		if ref, ok := r["register-with"]; ok {
			reg, err := p.hostOf(ref, RoleProxy, "register-with")
			if err != nil {
				return err
			}
			if !reg.Registrar {
				return p.errf(ref.node, ref.path, "%s is not a registrar; set registrar: true on %s (line %d) or register with another proxy", reg.Name, reg.Name, reg.Line)
			}
			if why := p.unreachable(h, reg); why != "" {
				return p.errf(ref.node, ref.path, "impossible topology: %s's REGISTER cannot reach %s: %s", h.Name, reg.Name, why)
			}
		}
	}
	return nil
}

// hostOf resolves a reference to a host of the given role.
func (p *parser) hostOf(ref hostRef, role Role, key string) (Host, error) {
	name := ref.node.Value
	h, ok := p.s.Host(name)
	if !ok {
		return h, p.errf(ref.node, ref.path, "no host named %q; %s: %s", name, plural[role], strings.Join(p.names(role), ", "))
	}
	if h.Role != role {
		return h, p.errf(ref.node, ref.path, "%s is a %s, but %s must name a %s", name, h.Role, key, role)
	}
	return h, nil
}

var plural = map[Role]string{RoleUA: "UAs", RoleProxy: "proxies"}

// names lists the hosts of a role, or "none".
func (p *parser) names(role Role) []string {
	var out []string
	for _, h := range p.s.Hosts {
		if h.Role == role {
			out = append(out, h.Name)
		}
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

// hostName reads a scalar that must name a host of role.
func (p *parser) hostName(n *yaml.Node, path string, role Role, key string) (Host, error) {
	_, n, err := p.scalar(n, path)
	if err != nil {
		return Host{}, err
	}
	return p.hostOf(hostRef{n, path}, role, key)
}

// route follows the next-hop chain from via and checks that the INVITE reaches the callee's
// registrar (docs/scenario-format.md: a proxy forwards to its next-hop or, as the callee's registrar, to
// the callee's registered location).
func (p *parser) route(n *yaml.Node, path string, via, to Host) error {
	chain := []string{via.Name}
	for h := via; ; {
		if to.RegisterWith != "" && h.Name == to.RegisterWith {
			return nil
		}
		if h.NextHop == "" {
			if to.RegisterWith == "" {
				return nil // the last proxy routes on the Request-URI to the public callee
			}
			route := ""
			if len(chain) > 1 {
				route = " (" + strings.Join(chain, " → ") + ")"
			}
			return p.errf(n, join(path, "via"), "impossible topology: the INVITE stops at %s%s, which is not %s's registrar %s and has no next-hop",
				h.Name, route, to.Name, to.RegisterWith)
		}
		if slices.Contains(chain, h.NextHop) {
			chain = append(chain, h.NextHop)
			return p.errf(n, join(path, "via"), "impossible topology: the INVITE loops %s", strings.Join(chain, " → "))
		}
		next, _ := p.s.Host(h.NextHop)
		if why := p.unreachable(h, next); why != "" {
			return p.errf(n, join(path, "via"), "impossible topology: the INVITE cannot get from %s to its next-hop %s: %s", h.Name, next.Name, why)
		}
		h = next
		chain = append(chain, h.Name)
	}
}
