package scenario

// This file reads the blocks of a scenario: timers, nats, hosts and steps (expect.go:
// expect).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/alg"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"
	"go.yaml.in/yaml/v3"
)

// Keys of each block, in the order the errors list them.
var (
	topKeys    = []string{"name", "summary", "lesson", "timers", "nats", "hosts", "steps", "expect"}
	timerKeys  = []string{"t1", "t2"}
	natKeys    = []string{"public", "lan", "mapping", "filtering", "binding-timeout", "refresh-inbound", "hairpinning", "port-allocation", "port-seed", "forwards", "sip-alg"}
	hostKeys   = []string{"role", "address"}
	proxyKeys  = []string{"next-hop", "nat-handling", "registrar", "record-route", "engine", "config", "image", "advertise", "force-rport", "fix-register", "late-2xx", "reject"}
	uaKeys     = []string{"register-with", "ack-timeout", "register-expires", "keep-alive", "rport"}
	keepKeys   = []string{"method", "interval"}
	stepKeys   = []string{"register", "call", "wait"}
	callKeys   = []string{"from", "to", "via", "talk", "callee-talk", "count", "concurrency"}
	expectKeys = []string{ExpectACKAtCallee, ExpectACKWithin, ExpectCalleeBYE, ExpectBlame}
)

// Words of the typed values, in the order the errors list them; each type's Parse
// function decides what it accepts.
var (
	behaviours      = []string{sim.EndpointIndependent.String(), sim.AddressDependent.String(), sim.AddressAndPortDependent.String()}
	portAllocations = []string{sim.SequentialPorts.String(), sim.PreservePorts.String(), sim.RandomPorts.String()}
	handlings       = []string{string(proxy.HandlingNone), string(proxy.HandlingExcessive), string(proxy.HandlingCorrect)}
	late2xxs        = []string{string(proxy.Late2xxReplyRoute), string(proxy.Late2xxRelay), string(proxy.Late2xxDrop)}
	keepAlives      = []string{string(ua.KeepAliveCRLF), string(ua.KeepAliveOptions)}
	engines         = []string{string(EngineKamailio), string(EngineOpenSIPS)}
	algs            = []string{string(alg.None), string(alg.Rewrite), string(alg.ContactHost), string(alg.StaleLength)}
)

func (p *parser) timers(e entry) error {
	t := Timers{T1: endpoint.DefaultT1, T2: endpoint.DefaultT2}
	var t2Line int
	if e.val != nil {
		entries, err := p.mapping(e.val, "timers", "a mapping such as {t1: 500ms, t2: 4s}")
		if err != nil {
			return err
		}
		for _, f := range entries {
			path := join("timers", f.key.Value)
			var err error
			switch f.key.Value {
			case "t1":
				if t.T1, err = p.duration(f.val, path); err == nil {
					err = p.within(t.T1, MinT1, MaxT1, f.val, path, "T1 is the round-trip estimate (RFC 3261 §17.1.1.1, 500ms by default), and real round trips take from about a millisecond (a LAN) to seconds (a satellite link)")
				}
			case "t2":
				t.T2, err = p.duration(f.val, path)
				t2Line = f.key.Line
			default:
				err = p.unknownKey(f.key, "timers", timerKeys)
			}
			if err != nil {
				return err
			}
		}
		if t.T2 < t.T1 {
			if t2Line == 0 {
				return p.errf(e.key, "timers.t2", "the default t2 (%s) is shorter than t1 (%s); set t2 to at least t1", t.T2, t.T1)
			}
			return p.errAt(t2Line, "timers.t2", "%s is shorter than t1 (%s); RFC 3261 needs t2 >= t1", t.T2, t.T1)
		}
	}
	p.s.Timers = t
	p.t1 = t.T1
	return nil
}

func (p *parser) nats(e entry) error {
	if e.val == nil {
		return nil
	}
	entries, err := p.mapping(e.val, "nats", "a mapping from NAT names to NATs")
	if err != nil {
		return err
	}
	var publics []*yaml.Node // each NAT's public node, by index
	for _, f := range entries {
		path := join("nats", f.key.Value)
		if err := p.name(f.key, path, "NAT name"); err != nil {
			return err
		}
		n := NAT{
			Name:           f.key.Value,
			SIPALG:         alg.None,
			PortAllocation: sim.SequentialPorts,
			Mapping:        sim.EndpointIndependent,
			Filtering:      sim.AddressAndPortDependent,
			BindingTimeout: sim.DefaultBindingTimeout,
			Line:           f.key.Line,
		}
		fields, err := p.mapping(f.val, path, "a mapping with the keys "+strings.Join(natKeys, ", "))
		if err != nil {
			return err
		}
		var publicNode, lanNode, seedNode *yaml.Node
		for _, g := range fields {
			fp := join(path, g.key.Value)
			var err error
			switch g.key.Value {
			case "public":
				var v string
				if v, publicNode, err = p.scalar(g.val, fp); err == nil {
					n.Public, err = p.public(publicNode, fp, v)
				}
			case "lan":
				var v string
				if v, lanNode, err = p.scalar(g.val, fp); err == nil {
					n.LAN, err = p.lan(lanNode, fp, v)
				}
			case "mapping":
				n.Mapping, err = wordOf(p, g.val, fp, sim.ParseBehavior, behaviours)
			case "filtering":
				n.Filtering, err = wordOf(p, g.val, fp, sim.ParseBehavior, behaviours)
			case "binding-timeout":
				if n.BindingTimeout, err = p.duration(g.val, fp); err == nil {
					err = p.within(n.BindingTimeout, MinBindingTimeout, 0, g.val, fp, "real NATs keep an idle UDP binding for 30s or more (RFC 4787 REQ-5 asks for at least 2m)")
				}
			case "hairpinning":
				n.Hairpinning, err = p.boolean(g.val, fp)
			case "refresh-inbound":
				n.RefreshInbound, err = p.boolean(g.val, fp)
			case "port-allocation":
				n.PortAllocation, err = wordOf(p, g.val, fp, sim.ParsePortAllocation, portAllocations)
			case "port-seed":
				n.PortSeed, err = p.seed(g.val, fp)
				seedNode = g.key
			case "forwards":
				err = p.forwards(len(p.s.NATs), g.val, fp)
			case "sip-alg":
				n.SIPALG, err = wordOf(p, g.val, fp, alg.Parse, algs)
			default:
				err = p.unknownKey(g.key, path, natKeys)
			}
			if err != nil {
				return err
			}
		}
		if publicNode == nil {
			return p.errf(f.key, join(path, "public"), "missing; a NAT needs its public address")
		}
		if lanNode == nil {
			return p.errf(f.key, join(path, "lan"), "missing; a NAT needs the private network behind it, such as 192.168.1.0/24")
		}
		if seedNode != nil && n.PortAllocation != sim.RandomPorts {
			return p.errf(seedNode, join(path, "port-seed"), "only random port allocation uses a seed; add port-allocation: random or remove port-seed")
		}
		if err := p.placeNAT(n, path, publicNode, lanNode); err != nil {
			return err
		}
		publics = append(publics, publicNode)
	}
	return p.nestNATs(publics)
}

// keepAlive reads a UA's keep-alive block: {method: crlf | options, interval: 25s}.
func (p *parser) keepAlive(n *yaml.Node, path string) (KeepAlive, error) {
	k := KeepAlive{Method: ua.KeepAliveCRLF, Interval: ua.DefaultKeepAliveInterval}
	fields, err := p.mapping(n, path, "a mapping such as {method: crlf, interval: 25s}")
	if err != nil {
		return k, err
	}
	for _, g := range fields {
		fp := join(path, g.key.Value)
		var err error
		switch g.key.Value {
		case "method":
			k.Method, err = wordOf(p, g.val, fp, ua.ParseKeepAlive, keepAlives)
		case "interval":
			if k.Interval, err = p.duration(g.val, fp); err == nil {
				err = p.within(k.Interval, MinKeepAliveInterval, 0, g.val, fp, "real UAs send keep-alives tens of seconds apart (RFC 5626 §4.4; 25s by default)")
			}
		default:
			err = p.unknownKey(g.key, path, keepKeys)
		}
		if err != nil {
			return k, err
		}
	}
	return k, nil
}

func (p *parser) hosts(e entry) error {
	entries, err := p.mapping(e.val, "hosts", "a mapping from host names to hosts")
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return p.errf(e.key, "hosts", "no hosts; a scenario needs at least one")
	}
	refs := map[int]map[string]hostRef{} // host index → key → reference
	for _, f := range entries {
		path := join("hosts", f.key.Value)
		if err := p.name(f.key, path, "host name"); err != nil {
			return err
		}
		if f.key.Value == "none" {
			return p.errf(f.key, path, `"none" cannot be a host name: it means "no host" in expect.blame`)
		}
		if err := p.claimHost(f.key, path); err != nil {
			return err
		}
		h, r, err := p.host(f)
		if err != nil {
			return err
		}
		if err := p.claimAddress(h, r["address"]); err != nil {
			return err
		}
		refs[len(p.s.Hosts)] = r
		p.hostAt[h.Name] = len(p.s.Hosts)
		p.hostOfIP[h.Address.Addr()] = len(p.s.Hosts)
		p.s.Hosts = append(p.s.Hosts, h)
	}
	if err := p.placeForwards(); err != nil {
		return err
	}
	for i, h := range p.s.Hosts {
		if h.Engine == "" {
			continue
		}
		if why := p.s.RealProxyBehindNAT(h, h.Engine); why != "" {
			addr := refs[i]["address"]
			return p.errf(addr.node, addr.path, "%s", why)
		}
	}
	return p.hostRefs(refs)
}

// host reads one host; it returns the host-name references to check once all hosts are known.
func (p *parser) host(f entry) (Host, map[string]hostRef, error) {
	path := join("hosts", f.key.Value)
	h := Host{Name: f.key.Value, NATHandling: proxy.HandlingNone, Late2xx: proxy.Late2xxReplyRoute, RecordRoute: true, FixRegister: true, Rport: true,
		AckTimeout: ua.DefaultAckTimeout(p.t1), RegisterExpires: ua.DefaultRegisterExpires, Line: f.key.Line}
	refs := map[string]hostRef{}
	fields, err := p.mapping(f.val, path, "a mapping with at least role and address")
	if err != nil {
		return h, nil, err
	}
	for _, g := range fields {
		if g.key.Value == "role" {
			v, err := p.word(g.val, join(path, "role"), string(RoleUA), string(RoleProxy))
			if err != nil {
				return h, nil, err
			}
			h.Role = Role(v)
		}
	}
	if h.Role == "" {
		return h, nil, p.errf(f.key, join(path, "role"), "missing; a host needs role: ua or role: proxy")
	}
	own, other := uaKeys, proxyKeys
	if h.Role == RoleProxy {
		own, other = proxyKeys, uaKeys
	}
	allowed := append(slices.Clip(hostKeys), own...)
	for _, g := range fields {
		fp := join(path, g.key.Value)
		var err error
		switch key := g.key.Value; {
		case key == "role":
		case slices.Contains(other, key):
			err = p.errf(g.key, fp, "%s is a %s key, but %s has role %s; allowed keys: %s",
				key, map[Role]string{RoleUA: "proxy", RoleProxy: "ua"}[h.Role], h.Name, h.Role, strings.Join(allowed, ", "))
		case key == "address":
			if h.Address, err = p.addrPort(g.val, fp); err == nil {
				refs["address"] = hostRef{deref(g.val), fp}
			}
		case key == "next-hop" || key == "register-with":
			var v string
			var n *yaml.Node
			if v, n, err = p.scalar(g.val, fp); err == nil {
				refs[key] = hostRef{n, fp}
				if key == "next-hop" {
					h.NextHop = v
				} else {
					h.RegisterWith = v
				}
			}
		case key == "engine":
			h.Engine, err = wordOf(p, g.val, fp, ParseEngine, engines)
			refs["engine"] = hostRef{deref(g.val), fp}
		case key == "config":
			var v string
			var n *yaml.Node
			if v, n, err = p.scalar(g.val, fp); err == nil {
				h.Config = v
				if !filepath.IsAbs(v) {
					h.Config = filepath.Join(filepath.Dir(p.s.File), v)
				}
				refs["config"] = hostRef{n, fp}
				if _, serr := os.Stat(h.Config); serr != nil {
					err = p.errf(n, fp, "%q: %v (a path relative to the scenario file)", v, errors.Unwrap(serr))
				}
			}
		case key == "image":
			h.Image, _, err = p.scalar(g.val, fp)
		case key == "nat-handling":
			h.NATHandling, err = wordOf(p, g.val, fp, proxy.ParseHandling, handlings)
		case key == "late-2xx":
			h.Late2xx, err = wordOf(p, g.val, fp, proxy.ParseLate2xx, late2xxs)
		case key == "reject":
			h.Reject, err = p.finalStatus(g.val, fp)
		case key == "registrar":
			h.Registrar, err = p.boolean(g.val, fp)
		case key == "record-route":
			h.RecordRoute, err = p.boolean(g.val, fp)
		case key == "advertise":
			h.Advertise, err = p.addrPort(g.val, fp)
		case key == "force-rport":
			h.ForceRport, err = p.boolean(g.val, fp)
		case key == "fix-register":
			h.FixRegister, err = p.boolean(g.val, fp)
			refs["fix-register"] = hostRef{deref(g.val), fp}
		case key == "rport":
			h.Rport, err = p.boolean(g.val, fp)
		case key == "ack-timeout":
			h.AckTimeout, err = p.duration(g.val, fp)
		case key == "keep-alive":
			var k KeepAlive
			if k, err = p.keepAlive(g.val, fp); err == nil {
				h.KeepAlive = &k
				refs["keep-alive"] = hostRef{deref(g.val), fp}
			}
		case key == "register-expires":
			if h.RegisterExpires, err = p.duration(g.val, fp); err == nil && h.RegisterExpires%time.Second != 0 {
				err = p.errf(deref(g.val), fp, "%s is not a whole number of seconds, as the Expires header needs (RFC 3261 §20.19)", h.RegisterExpires)
			} else if err == nil && h.RegisterExpires > MaxRegisterExpires {
				err = p.errf(deref(g.val), fp, "%ds is more than the largest Expires, %ds (2^32-1 seconds, RFC 3261 §20.19)", h.RegisterExpires/time.Second, MaxRegisterExpires/time.Second)
			}
		default:
			err = p.unknownKey(g.key, path, allowed)
		}
		if err != nil {
			return h, nil, err
		}
	}
	addr, ok := refs["address"]
	if !ok {
		return h, nil, p.errf(f.key, join(path, "address"), "missing; a host needs an IPv4 address, optionally with a port (default %d)", endpoint.DefaultPort)
	}
	if err := p.placeHost(&h, addr); err != nil {
		return h, nil, err
	}
	if e, ok := refs["engine"]; ok && h.Config == "" {
		return h, nil, p.errf(e.node, join(path, "config"), "missing; engine %s needs the proxy's config file", h.Engine)
	}
	if c, ok := refs["config"]; ok && h.Engine == "" {
		return h, nil, p.errf(c.node, join(path, "engine"), "missing; a config needs its engine: kamailio or opensips")
	}
	if r, ok := refs["fix-register"]; ok && !h.Registrar {
		return h, nil, p.errf(r.node, r.path, "%s is not a registrar, so it stores no registrations; set registrar: true or remove fix-register", h.Name)
	}
	return h, refs, nil
}

func (p *parser) steps(e entry) error {
	val := deref(e.val)
	if val.Kind != yaml.SequenceNode {
		return p.errf(val, "steps", "must be a list of steps such as - call: {from: alice, to: bob}, not %s", kind(val))
	}
	if len(val.Content) == 0 {
		return p.errf(val, "steps", "no steps; a scenario needs at least one")
	}
	var nodes []*yaml.Node // what each step's run-time error points at
	for i, item := range val.Content {
		path := fmt.Sprintf("steps[%d]", i)
		item = deref(item)
		fields, err := p.mapping(item, path, "a mapping with one of the keys register, call, wait")
		if err != nil {
			return err
		}
		if len(fields) != 1 {
			var keys []string
			for _, f := range fields {
				keys = append(keys, f.key.Value)
			}
			got := "none"
			if len(keys) > 0 {
				got = strings.Join(keys, ", ")
			}
			return p.errf(item, path, "a step needs exactly one of register, call, wait; got %s", got)
		}
		f := fields[0]
		st := Step{Kind: StepKind(f.key.Value), Line: item.Line}
		fp := join(path, f.key.Value)
		switch st.Kind {
		case StepRegister:
			ua, err := p.hostName(f.val, fp, RoleUA, "register")
			if err != nil {
				return err
			}
			if ua.RegisterWith == "" {
				return p.errf(deref(f.val), fp, "%s has no register-with, so it cannot register; add register-with to %s (line %d)", ua.Name, ua.Name, ua.Line)
			}
			st.UA = ua.Name
		case StepCall:
			if err := p.call(&st, f, fp); err != nil {
				return err
			}
		case StepWait:
			if st.Wait, err = p.duration(f.val, fp); err != nil {
				return err
			}
		default:
			return p.unknownKey(f.key, path, stepKeys)
		}
		at := item
		if st.Kind == StepWait {
			at = deref(f.val)
		}
		nodes = append(nodes, at)
		p.s.Steps = append(p.s.Steps, st)
	}
	return p.runTime(nodes)
}

func (p *parser) call(st *Step, f entry, path string) error {
	st.Talk = DefaultTalk
	fields, err := p.mapping(f.val, path, "a mapping such as {from: alice, to: bob, via: proxy-a}")
	if err != nil {
		return err
	}
	var from, to, via Host
	var viaNode *yaml.Node
	for _, g := range fields {
		fp := join(path, g.key.Value)
		var err error
		switch g.key.Value {
		case "from":
			from, err = p.hostName(g.val, fp, RoleUA, "from")
		case "to":
			to, err = p.hostName(g.val, fp, RoleUA, "to")
		case "via":
			via, err = p.hostName(g.val, fp, RoleProxy, "via")
			viaNode = deref(g.val)
		case "talk":
			st.Talk, err = p.duration(g.val, fp)
		case "callee-talk":
			st.CalleeTalk, err = p.duration(g.val, fp)
		case "count":
			st.Count, err = p.positiveInt(g.val, fp, MaxCalls)
		case "concurrency":
			st.Concurrency, err = p.positiveInt(g.val, fp, MaxConcurrency)
		default:
			err = p.unknownKey(g.key, path, callKeys)
		}
		if err != nil {
			return err
		}
	}
	at := deref(f.val)
	if at.Kind == yaml.ScalarNode { // null
		at = f.key
	}
	for _, m := range []struct{ key, name string }{{"from", from.Name}, {"to", to.Name}} {
		if m.name == "" {
			return p.errf(at, join(path, m.key), "missing; a call needs from and to, both UAs: %s", strings.Join(p.names(RoleUA), ", "))
		}
	}
	if from.Name == to.Name {
		return p.errf(at, path, "%s cannot call itself", from.Name)
	}
	if via.Name == "" {
		if from.RegisterWith == "" {
			return p.errf(at, join(path, "via"), "missing, and %s has no register-with to default to; name the caller's outbound proxy (proxies: %s)", from.Name, strings.Join(p.names(RoleProxy), ", "))
		}
		via, _ = p.hostNamed(from.RegisterWith)
		viaNode = at
	}
	if st.Count == 0 {
		st.Count = 1
	}
	if st.Concurrency == 0 {
		st.Concurrency = 1
	}
	if st.Concurrency > st.Count {
		return p.errf(at, join(path, "concurrency"), "%d exceeds count %d", st.Concurrency, st.Count)
	}
	st.From, st.To, st.Via = from.Name, to.Name, via.Name
	if to.RegisterWith == "" && to.NAT != "" {
		return p.errf(at, join(path, "to"), "impossible topology: %s is behind NAT %s and has no register-with, so no proxy can reach it; give %s a register-with (line %d)", to.Name, to.NAT, to.Name, to.Line)
	}
	if why := p.unreachable(from, via); why != "" {
		return p.errf(viaNode, join(path, "via"), "impossible topology: %s's INVITE cannot reach %s: %s", from.Name, via.Name, why)
	}
	return p.route(viaNode, path, via, to)
}
