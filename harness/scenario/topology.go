package scenario

// This file holds the topology rules: LANs and nested NATs, where hosts sit,
// references between hosts, and the route of a call.

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// hostRef is a host name written in the file, kept for checks once every host is known.
type hostRef struct {
	node *yaml.Node
	path string
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
// registrar (CONTRACT.md: a proxy forwards to its next-hop or, as the callee's registrar, to
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
		h, _ = p.s.Host(h.NextHop)
		chain = append(chain, h.Name)
	}
}
