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
// public address. Then it indexes n (addNAT).
func (p *parser) placeNAT(n NAT, path string, publicNode, lanNode *yaml.Node) error {
	if i, ok := p.natOfPublic[n.Public]; ok {
		o := p.s.NATs[i]
		return p.errf(publicNode, join(path, "public"), "%s is already the public address of NAT %s (line %d)", n.Public, o.Name, o.Line)
	}
	// Two prefixes overlap when one holds the other: n's lan lies in an earlier lan, or
	// an earlier lan lies in n's.
	i, ok := p.lanHolding(n.LAN.Addr(), n.LAN.Bits())
	if !ok {
		i, ok = p.lanWithin[n.LAN]
	}
	if ok {
		o := p.s.NATs[i]
		return p.errf(lanNode, join(path, "lan"), "%s overlaps the lan %s of NAT %s (line %d); lans must be disjoint", n.LAN, o.LAN, o.Name, o.Line)
	}
	if n.LAN.Contains(n.Public) {
		return p.errf(publicNode, join(path, "public"), "%s lies inside the NAT's own lan %s; a NAT's public address must be outside every lan", n.Public, n.LAN)
	}
	p.addNAT(n)
	return nil
}

// addNAT appends n to the scenario and to the indexes: by name, by public address, by
// lan, and for every network that holds n's lan, a NAT whose lan lies in it.
func (p *parser) addNAT(n NAT) {
	i := len(p.s.NATs)
	p.s.NATs = append(p.s.NATs, n)
	p.natAt[n.Name] = i
	p.natOfPublic[n.Public] = i
	p.natOfLAN[n.LAN] = i
	for bits := 0; bits <= n.LAN.Bits(); bits++ {
		super := netip.PrefixFrom(n.LAN.Addr(), bits).Masked()
		if _, ok := p.lanWithin[super]; !ok {
			p.lanWithin[super] = i
		}
	}
}

// lanHolding returns the index of the NAT whose lan holds the network a/bits (an address
// when bits is 32), if any: lans are disjoint, so at most one does.
func (p *parser) lanHolding(a netip.Addr, bits int) (int, bool) {
	for ; bits >= 0; bits-- {
		if i, ok := p.natOfLAN[netip.PrefixFrom(a, bits).Masked()]; ok {
			return i, true
		}
	}
	return 0, false
}

// nestNATs sets each NAT's Outside once every NAT is read, and refuses private public
// addresses outside every lan and NATs behind each other in a loop. publics holds each
// NAT's public node, by index.
func (p *parser) nestNATs(publics []*yaml.Node) error {
	// A NAT whose public address lies in another NAT's lan sits behind it (a home router
	// behind a carrier-grade NAT); a private public address must lie in some lan.
	for i := range p.s.NATs {
		n := &p.s.NATs[i]
		if j, ok := p.lanHolding(n.Public, 32); ok {
			n.Outside = p.s.NATs[j].Name
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
	return p.natLoops(publics)
}

// natLoops refuses NATs that sit behind each other in a loop, and numbers the NATs for
// sitsBehind. A walk along Outside starts from every NAT no walk has reached, in file
// order, and ends at a NAT with a public address, at a NAT an earlier walk reached, or
// at a NAT of its own path, which closes a loop: every NAT is walked once, so it ends
// on any loop. Of all loops, the one whose first NAT comes first in the file is
// reported, from that NAT.
func (p *parser) natLoops(publics []*yaml.Node) error {
	nats := p.s.NATs
	outside := func(i int) int {
		if j, ok := p.natAt[nats[i].Outside]; ok {
			return j
		}
		return -1
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(nats))
	loopAt := -1 // the first NAT of the reported loop
	for i := range nats {
		var path []int
		j := i
		for ; j >= 0 && state[j] == unseen; j = outside(j) {
			state[j] = onPath
			path = append(path, j)
		}
		if j >= 0 && state[j] == onPath {
			first := slices.Min(path[slices.Index(path, j):])
			if loopAt < 0 || first < loopAt {
				loopAt = first
			}
		}
		for _, k := range path {
			state[k] = done
		}
	}
	if loopAt >= 0 {
		chain := []string{nats[loopAt].Name}
		for j := outside(loopAt); ; j = outside(j) {
			chain = append(chain, nats[j].Name)
			if j == loopAt {
				break
			}
		}
		return p.errf(publics[loopAt], join(join("nats", nats[loopAt].Name), "public"), "impossible topology: the NATs sit behind each other in a loop %s", strings.Join(chain, " → "))
	}
	// With no loop, the NATs form trees, each NAT's children the NATs behind it: number
	// them depth-first, so that a NAT sits behind another when its interval lies in the
	// other's.
	children := make([][]int, len(nats))
	var roots []int
	for i := range nats {
		if j := outside(i); j >= 0 {
			children[j] = append(children[j], i)
		} else {
			roots = append(roots, i)
		}
	}
	p.in, p.out = make([]int, len(nats)), make([]int, len(nats))
	clock := 0
	type frame struct{ nat, next int }
	for _, r := range roots {
		stack := []frame{{r, 0}}
		p.in[r] = clock
		clock++
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(children[f.nat]) {
				c := children[f.nat][f.next]
				f.next++
				p.in[c] = clock
				clock++
				stack = append(stack, frame{c, 0})
				continue
			}
			p.out[f.nat] = clock
			clock++
			stack = stack[:len(stack)-1]
		}
	}
	return nil
}

// sitsBehind reports whether a host on the lan of the NAT inner sits behind the NAT
// outer: inner is outer, or lies behind it, directly or through other NATs.
func (p *parser) sitsBehind(inner, outer string) bool {
	i, ok := p.natAt[inner]
	o, ok2 := p.natAt[outer]
	return ok && ok2 && p.in[o] <= p.in[i] && p.out[i] <= p.out[o]
}

// behind lists the NATs in front of a host on the LAN of nat, innermost first: nat, the
// NAT it sits behind, and so on. Load has refused loops; a loop still ends the list.
func (p *parser) behind(nat string) []string {
	var out []string
	for nat != "" && !slices.Contains(out, nat) {
		out = append(out, nat)
		n, _ := p.nat(nat)
		nat = n.Outside
	}
	return out
}

// unreachable explains why a datagram that from sends, with no NAT binding open, cannot
// reach the host to, or returns "": to is public, sits on the LAN of a NAT that from
// is behind (its own LAN, or an outer one), or its NAT forwards a public port to it
// ("forwards"). Otherwise a host behind a NAT that from is not behind is unreachable
// (sim routing: a private address is reached only from inside its LAN).
func (p *parser) unreachable(from, to Host) string {
	if to.NAT == "" || p.sitsBehind(from.NAT, to.NAT) {
		return ""
	}
	n, _ := p.nat(to.NAT)
	if _, ok := n.Forward(to.Name); ok {
		return ""
	}
	where := "is public"
	if from.NAT != "" {
		where = "is behind " + strings.Join(p.behind(from.NAT), " behind ")
	}
	return fmt.Sprintf("%s sits behind NAT %s (%s is in its lan %s) and %s %s, not behind %s; %s forwards no port to %s, so give %s a public address or forward a port to it (forwards: {%d: %s} on %s)",
		to.Name, n.Name, to.Address.Addr(), n.LAN, from.Name, where, n.Name, n.Name, to.Name, to.Name, to.Address.Port(), to.Name, n.Name)
}

// claimHost checks, before the host called k is read, that no NAT has its name: hosts
// and NATs share one namespace in the network.
func (p *parser) claimHost(k *yaml.Node, path string) error {
	if n, ok := p.nat(k.Value); ok {
		return p.errf(k, path, "%q is already the name of NAT %s (line %d); hosts and NATs need different names", k.Value, n.Name, n.Line)
	}
	return nil
}

// claimAddress checks that h, whose address was written at addr, has an IP address no
// host read before it has, whatever the ports: each host is one machine.
func (p *parser) claimAddress(h Host, addr hostRef) error {
	i, ok := p.hostOfIP[h.Address.Addr()]
	if !ok {
		return nil
	}
	o := p.s.Hosts[i]
	if o.Address == h.Address {
		return p.errAt(addr.node.Line, addr.path, "%s is already the address of %s (line %d)", h.Address, o.Name, o.Line)
	}
	return p.errAt(addr.node.Line, addr.path, "%s is already the IP address of %s (line %d, port %d); each host needs an IP address of its own, whatever its port",
		h.Address.Addr(), o.Name, o.Line, o.Address.Port())
}

// placeHost finds the NAT whose lan holds the address of h, written at addr, and refuses
// a NAT's public address and a private address outside every lan.
func (p *parser) placeHost(h *Host, addr hostRef) error {
	a := h.Address.Addr()
	if i, ok := p.natOfPublic[a]; ok {
		n := p.s.NATs[i]
		return p.errf(addr.node, addr.path, "%s is the public address of NAT %s (line %d); give the host its own address", a, n.Name, n.Line)
	}
	if i, ok := p.lanHolding(a, 32); ok {
		h.NAT = p.s.NATs[i].Name
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
	o, _ := p.nat(nat)
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
	h, ok := p.hostNamed(name)
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
	seen := map[string]bool{via.Name: true}
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
		if seen[h.NextHop] {
			chain = append(chain, h.NextHop)
			return p.errf(n, join(path, "via"), "impossible topology: the INVITE loops %s", strings.Join(chain, " → "))
		}
		seen[h.NextHop] = true
		next, _ := p.hostNamed(h.NextHop)
		if why := p.unreachable(h, next); why != "" {
			return p.errf(n, join(path, "via"), "impossible topology: the INVITE cannot get from %s to its next-hop %s: %s", h.Name, next.Name, why)
		}
		h = next
		chain = append(chain, h.Name)
	}
}
