package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error that Load, Parse and LoadDir return for a file that is
// not a valid scenario: YAML syntax, unknown or missing keys, wrong types, bad values, names of
// hosts that do not exist, impossible topologies. Errors reading a file do not wrap it.
var ErrInvalid = errors.New("invalid scenario")

// LoadError is the error for an invalid scenario file. It unwraps to ErrInvalid, and reads
//
//	load scenario "scenarios/x.yaml": line 12: hosts.bob.address: "192.168.300.1" is not an IP address
type LoadError struct {
	File string // as given to Load or Parse
	Line int    // 1-based; 0 when the YAML parser did not say
	Path string // dotted field path such as "hosts.bob.address" or "steps[1].call.via"; "" for the whole file
	Msg  string
}

// Error formats the error as load scenario "FILE": line N: PATH: MSG.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load scenario %q: ", e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *LoadError) Unwrap() error { return ErrInvalid }

// Load reads the scenario file at path and returns it parsed and validated, with every
// default filled in. Errors name the file, line and field path.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario %q: %w", path, err)
	}
	return Parse(path, data)
}

// LoadDir loads every *.yaml and *.yml file directly in dir (not in sub-directories, not
// names starting with a dot), sorted by file name. Scenario names must be unique across the
// directory. When any file is invalid it returns nil and the errors of all invalid files,
// joined; a directory without scenario files is an error too.
func LoadDir(dir string) ([]*Scenario, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load scenarios %q: %w", dir, err)
	}
	var (
		out  []*Scenario
		errs []error
		seen = map[string]*Scenario{}
	)
	for _, e := range entries { // os.ReadDir sorts by file name
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") ||
			(filepath.Ext(name) != ".yaml" && filepath.Ext(name) != ".yml") {
			continue
		}
		s, err := Load(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, ok := seen[s.Name]; ok {
			errs = append(errs, &LoadError{File: s.File, Line: s.Line, Path: "name",
				Msg: fmt.Sprintf("%q is already the name of %q (line %d); scenario names must be unique", s.Name, first.File, first.Line)})
			continue
		}
		seen[s.Name] = s
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load scenarios %q: no *.yaml or *.yml files", dir)
	}
	return out, nil
}

// Parse parses and validates one scenario; file is used in errors and Scenario.File only.
// It has no side effects and never panics.
func Parse(file string, data []byte) (*Scenario, error) {
	p := &parser{file: file, s: &Scenario{File: file}}
	root, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	if err := p.scenario(root); err != nil {
		return nil, err
	}
	return p.s, nil
}

type parser struct {
	file string
	s    *Scenario
	t1   time.Duration // resolves "N*T1" durations; set before any such duration is read
}

func (p *parser) errAt(line int, path, format string, args ...any) error {
	return &LoadError{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errf(n *yaml.Node, path, format string, args ...any) error {
	return p.errAt(n.Line, path, format, args...)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// decode parses data as exactly one YAML document and returns its root node.
func (p *parser) decode(data []byte) (root *yaml.Node, err error) {
	if err := p.checkText(data); err != nil {
		return nil, err
	}
	defer func() { // the YAML library is not written against hostile input
		if r := recover(); r != nil {
			root, err = nil, p.errAt(0, "", "invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errAt(1, "", "the file is empty; a scenario needs at least name, hosts and steps")
		}
		return nil, p.yamlErr(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, p.yamlErr(err)
	default:
		return nil, p.errf(&next, "", "a second YAML document; a file holds exactly one scenario")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, p.errAt(1, "", "the file is empty; a scenario needs at least name, hosts and steps")
	}
	return doc.Content[0], nil
}

func (p *parser) yamlErr(err error) error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	return p.errAt(line, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// checkText rejects what the YAML parser would reject without naming a line.
func (p *parser) checkText(data []byte) error {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return p.errAt(line, "", "invalid YAML: the file is not UTF-8 text (byte 0x%02x)", data[i])
		case r == '\n':
			line++
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7f, r >= 0x80 && r <= 0x9f, r == 0xfffe, r == 0xffff:
			return p.errAt(line, "", "invalid YAML: control character %U is not allowed", r)
		}
		i += size
	}
	return nil
}

// entry is one key and value of a mapping.
type entry struct{ key, val *yaml.Node }

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping checks that n is a mapping with unique plain keys and returns its entries in file
// order. A null node is an empty mapping.
func (p *parser) mapping(n *yaml.Node, path, want string) ([]entry, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, path, "must be %s, not %s", want, kind(n))
	}
	var out []entry
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k, path, "keys must be plain names, not %s", kind(k))
		}
		if k.ShortTag() == "!!merge" {
			return nil, p.errf(k, join(path, k.Value), "merge keys are not supported; write the keys out")
		}
		if line, dup := first[k.Value]; dup {
			return nil, p.errf(k, join(path, k.Value), "duplicate key (first at line %d)", line)
		}
		first[k.Value] = k.Line
		out = append(out, entry{k, v})
	}
	return out, nil
}

// unknownKey reports a key that is not in allowed, suggesting the closest allowed one.
func (p *parser) unknownKey(k *yaml.Node, path string, allowed []string) error {
	msg := "unknown key"
	if s := closest(k.Value, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return p.errf(k, join(path, k.Value), "%s; allowed keys: %s", msg, strings.Join(allowed, ", "))
}

// closest returns the word of words within edit distance 2 of s, if any.
func closest(s string, words []string) string {
	best, bestD := "", 3
	for _, w := range words {
		if d := editDistance(s, w); d < bestD {
			best, bestD = w, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// scalar returns the text of a single value; null is an error.
func (p *parser) scalar(n *yaml.Node, path string) (string, *yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", n, p.errf(n, path, "must be a single value, not %s", kind(n))
	}
	if n.ShortTag() == "!!null" {
		return "", n, p.errf(n, path, "has no value")
	}
	return n.Value, n, nil
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		return false, err
	}
	b, perr := strconv.ParseBool(v)
	if n.ShortTag() != "!!bool" || perr != nil {
		return false, p.errf(n, path, "%q is not a boolean; write true or false", v)
	}
	return b, nil
}

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// name reads a kebab-case name of a scenario, NAT or host.
func (p *parser) name(k *yaml.Node, path, what string) error {
	if !kebab.MatchString(k.Value) {
		return p.errf(k, path, "%q is not a valid %s: use kebab-case (lower-case letters and digits joined by single hyphens, e.g. %s)",
			k.Value, what, map[string]string{"scenario name": "no-nat-handling", "NAT name": "home-nat", "host name": "proxy-a"}[what])
	}
	return nil
}

var t1Multiple = regexp.MustCompile(`^(?:([0-9]+(?:\.[0-9]+)?)\s*\*\s*)?T1$`)

// duration reads a positive Go duration ("500ms", "2s") or, when p.t1 is set, a multiple of
// T1 ("T1", "64*T1", "0.5*T1").
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		return 0, err
	}
	var d time.Duration
	if m := t1Multiple.FindStringSubmatch(v); m != nil {
		if p.t1 == 0 {
			return 0, p.errf(n, path, "%q: T1 cannot be used here; write a Go duration such as 500ms", v)
		}
		f := 1.0
		if m[1] != "" {
			f, _ = strconv.ParseFloat(m[1], 64)
		}
		x := math.Round(f * float64(p.t1))
		if x >= math.MaxInt64 {
			return 0, p.errf(n, path, "%q is too long", v)
		}
		d = time.Duration(x)
	} else {
		d, err = time.ParseDuration(v)
		if err != nil {
			hint := "a Go duration such as 500ms or 2s"
			if p.t1 != 0 {
				hint += ", or a multiple of T1 such as 64*T1"
			}
			return 0, p.errf(n, path, "%q is not a duration; write %s", v, hint)
		}
	}
	if d <= 0 {
		return 0, p.errf(n, path, "%q must be positive", v)
	}
	return d, nil
}

// Private address ranges: they must lie in a NAT's LAN.
var privateRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("10.0.0.0/8"), "RFC 1918"},
	{netip.MustParsePrefix("172.16.0.0/12"), "RFC 1918"},
	{netip.MustParsePrefix("192.168.0.0/16"), "RFC 1918"},
	{netip.MustParsePrefix("100.64.0.0/10"), "RFC 6598 shared"},
}

// private returns which private range a belongs to, or "".
func private(a netip.Addr) string {
	for _, r := range privateRanges {
		if r.prefix.Contains(a) {
			return r.what
		}
	}
	return ""
}

// addr parses an IPv4 unicast address, as written in v.
func (p *parser) addr(n *yaml.Node, path, v string) (netip.Addr, error) {
	if strings.Contains(v, ":") || strings.HasPrefix(v, "[") {
		return netip.Addr{}, p.errf(n, path, "%q: IPv6 addresses are not supported; use IPv4", v)
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, p.errf(n, path, "%q is not an IP address", v)
	}
	var bad string
	switch {
	case a.IsUnspecified():
		bad = "the unspecified address"
	case a.IsLoopback():
		bad = "a loopback address"
	case a.IsMulticast():
		bad = "a multicast address"
	case a.IsLinkLocalUnicast():
		bad = "a link-local address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		bad = "the broadcast address"
	}
	if bad != "" {
		return netip.Addr{}, p.errf(n, path, "%s is %s; use a unicast address", a, bad)
	}
	return a, nil
}

// addrPort parses "a.b.c.d" or "a.b.c.d:port"; the port defaults to DefaultPort.
func (p *parser) addrPort(n *yaml.Node, path string) (netip.AddrPort, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		return netip.AddrPort{}, err
	}
	host, port := v, ""
	if i := strings.LastIndexByte(v, ':'); i >= 0 && strings.Count(v, ":") == 1 {
		host, port = v[:i], v[i+1:]
	}
	a, err := p.addr(n, path, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == v {
		return netip.AddrPortFrom(a, DefaultPort), nil
	}
	num, err := strconv.ParseUint(port, 10, 64)
	if err != nil {
		return netip.AddrPort{}, p.errf(n, path, "port %q in %q is not a number", port, v)
	}
	if num == 0 || num > 65535 {
		return netip.AddrPort{}, p.errf(n, path, "port %d in %q is out of range 1-65535", num, v)
	}
	return netip.AddrPortFrom(a, uint16(num)), nil
}

// word reads one of words.
func (p *parser) word(n *yaml.Node, path string, words ...string) (string, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		return "", err
	}
	if !slices.Contains(words, v) {
		return "", p.errf(n, path, "%q is not one of %s", v, strings.Join(words, ", "))
	}
	return v, nil
}

// Keys of each block, in the order the errors list them.
var (
	topKeys    = []string{"name", "summary", "lesson", "timers", "nats", "hosts", "steps", "expect"}
	timerKeys  = []string{"t1", "t2"}
	natKeys    = []string{"public", "lan", "mapping", "filtering", "binding-timeout", "refresh-inbound", "hairpinning", "port-allocation", "port-seed"}
	hostKeys   = []string{"role", "address"}
	proxyKeys  = []string{"next-hop", "nat-handling", "registrar", "record-route", "engine", "config", "image"}
	uaKeys     = []string{"register-with", "ack-timeout", "register-expires", "keep-alive"}
	keepKeys   = []string{"method", "interval"}
	stepKeys   = []string{"register", "call", "wait"}
	callKeys   = []string{"from", "to", "via", "talk", "callee-talk", "count", "concurrency"}
	expectKeys = []string{ExpectACKAtCallee, ExpectACKWithin, ExpectCalleeBYE, ExpectBlame}
	behaviours = []string{EndpointIndependent, AddressDependent, AddressAndPortDependent}
)

// scenario validates the top-level mapping. Blocks are read in dependency order (timers
// before durations that may use T1, NATs before host addresses, hosts before steps and
// expectations), so the first error reported is not always the first in the file.
func (p *parser) scenario(root *yaml.Node) error {
	root = deref(root)
	if root.Kind != yaml.MappingNode {
		return p.errf(root, "", "a scenario must be a mapping with the keys %s, not %s", strings.Join(topKeys, ", "), kind(root))
	}
	entries, err := p.mapping(root, "", "a mapping")
	if err != nil {
		return err
	}
	top := map[string]entry{}
	for _, e := range entries {
		if !slices.Contains(topKeys, e.key.Value) {
			return p.unknownKey(e.key, "", topKeys)
		}
		top[e.key.Value] = e
	}
	for _, req := range []struct{ key, hint string }{
		{"name", "a kebab-case name such as no-nat-handling"},
		{"hosts", "at least one host"},
		{"steps", "at least one step"},
	} {
		if _, ok := top[req.key]; !ok {
			return p.errf(root, req.key, "missing; a scenario needs %s", req.hint)
		}
	}

	e := top["name"]
	if p.s.Name, _, err = p.scalar(e.val, "name"); err != nil {
		return err
	}
	if err := p.name(deref(e.val), "name", "scenario name"); err != nil {
		return err
	}
	p.s.Line = e.key.Line
	for _, t := range []struct {
		key string
		dst *string
	}{{"summary", &p.s.Summary}, {"lesson", &p.s.Lesson}} {
		if e, ok := top[t.key]; ok {
			if *t.dst, _, err = p.scalar(e.val, t.key); err != nil {
				return err
			}
		}
	}
	if err := p.timers(top["timers"]); err != nil {
		return err
	}
	if err := p.nats(top["nats"]); err != nil {
		return err
	}
	if err := p.hosts(top["hosts"]); err != nil {
		return err
	}
	if err := p.steps(top["steps"]); err != nil {
		return err
	}
	return p.expect(top["expect"])
}

func (p *parser) timers(e entry) error {
	t := Timers{T1: DefaultT1, T2: DefaultT2}
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
				t.T1, err = p.duration(f.val, path)
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
			PortAllocation: PortSequential,
			Mapping:        EndpointIndependent,
			Filtering:      AddressAndPortDependent,
			BindingTimeout: DefaultBindingTimeout,
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
					n.Public, err = p.addr(publicNode, fp, v)
				}
			case "lan":
				var v string
				if v, lanNode, err = p.scalar(g.val, fp); err == nil {
					n.LAN, err = p.lan(lanNode, fp, v)
				}
			case "mapping":
				n.Mapping, err = p.word(g.val, fp, behaviours...)
			case "filtering":
				n.Filtering, err = p.word(g.val, fp, behaviours...)
			case "binding-timeout":
				n.BindingTimeout, err = p.duration(g.val, fp)
			case "hairpinning":
				n.Hairpinning, err = p.boolean(g.val, fp)
			case "refresh-inbound":
				n.RefreshInbound, err = p.boolean(g.val, fp)
			case "port-allocation":
				n.PortAllocation, err = p.word(g.val, fp, PortSequential, PortPreserve, PortRandom)
			case "port-seed":
				n.PortSeed, err = p.seed(g.val, fp)
				seedNode = g.key
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
		if seedNode != nil && n.PortAllocation != PortRandom {
			return p.errf(seedNode, join(path, "port-seed"), "only random port allocation uses a seed; add port-allocation: random or remove port-seed")
		}
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
		publics = append(publics, publicNode)
		p.s.NATs = append(p.s.NATs, n)
	}
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
	}
	for i, n := range p.s.NATs {
		chain := []string{n.Name}
		for o := n; o.Outside != ""; {
			o, _ = p.s.NAT(o.Outside)
			chain = append(chain, o.Name)
			if o.Name == n.Name {
				return p.errf(publics[i], join(join("nats", n.Name), "public"), "impossible topology: the NATs sit behind each other in a loop %s", strings.Join(chain, " → "))
			}
		}
	}
	return nil
}

// seed reads a whole number from 0 to 2^64-1.
func (p *parser) seed(n *yaml.Node, path string) (uint64, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		return 0, err
	}
	u, perr := strconv.ParseUint(v, 10, 64)
	if perr != nil || n.ShortTag() != "!!int" && n.ShortTag() != "!!str" {
		return 0, p.errf(n, path, "%q is not a whole number from 0 to 18446744073709551615", v)
	}
	return u, nil
}

// keepAlive reads a UA's keep-alive block: {method: crlf | options, interval: 25s}.
func (p *parser) keepAlive(n *yaml.Node, path string) (KeepAlive, error) {
	k := KeepAlive{Method: KeepAliveCRLF, Interval: DefaultKeepAliveInterval}
	fields, err := p.mapping(n, path, "a mapping such as {method: crlf, interval: 25s}")
	if err != nil {
		return k, err
	}
	for _, g := range fields {
		fp := join(path, g.key.Value)
		var err error
		switch g.key.Value {
		case "method":
			var v string
			v, err = p.word(g.val, fp, KeepAliveCRLF, KeepAliveOptions)
			k.Method = v
		case "interval":
			k.Interval, err = p.duration(g.val, fp)
		default:
			err = p.unknownKey(g.key, path, keepKeys)
		}
		if err != nil {
			return k, err
		}
	}
	return k, nil
}

// lan parses a masked IPv4 prefix.
func (p *parser) lan(n *yaml.Node, path, v string) (netip.Prefix, error) {
	if strings.Contains(v, ":") {
		return netip.Prefix{}, p.errf(n, path, "%q: IPv6 networks are not supported; use IPv4", v)
	}
	pf, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, p.errf(n, path, "%q is not a network in CIDR notation such as 192.168.1.0/24", v)
	}
	if pf != pf.Masked() {
		return netip.Prefix{}, p.errf(n, path, "%q has host bits set; did you mean %s?", v, pf.Masked())
	}
	return pf, nil
}

// hostRef is a host name written in the file, kept for checks once every host is known.
type hostRef struct {
	node *yaml.Node
	path string
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
	owners := map[netip.AddrPort]Host{}
	for _, f := range entries {
		path := join("hosts", f.key.Value)
		if err := p.name(f.key, path, "host name"); err != nil {
			return err
		}
		if f.key.Value == "none" {
			return p.errf(f.key, path, `"none" cannot be a host name: it means "no host" in expect.blame`)
		}
		h, r, err := p.host(f)
		if err != nil {
			return err
		}
		if o, ok := owners[h.Address]; ok {
			return p.errAt(r["address"].node.Line, join(path, "address"), "%s is already the address of %s (line %d)", h.Address, o.Name, o.Line)
		}
		owners[h.Address] = h
		refs[len(p.s.Hosts)] = r
		p.s.Hosts = append(p.s.Hosts, h)
	}
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
		}
	}
	return nil
}

// host reads one host; it returns the host-name references to check once all hosts are known.
func (p *parser) host(f entry) (Host, map[string]hostRef, error) {
	path := join("hosts", f.key.Value)
	h := Host{Name: f.key.Value, NATHandling: HandlingNone, RecordRoute: true,
		AckTimeout: 64 * p.t1, RegisterExpires: DefaultRegisterExpires, Line: f.key.Line}
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
			h.Engine, err = p.word(g.val, fp, "kamailio", "opensips")
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
			var v string
			v, err = p.word(g.val, fp, string(HandlingNone), string(HandlingExcessive), string(HandlingCorrect))
			h.NATHandling = NATHandling(v)
		case key == "registrar":
			h.Registrar, err = p.boolean(g.val, fp)
		case key == "record-route":
			h.RecordRoute, err = p.boolean(g.val, fp)
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
		return h, nil, p.errf(f.key, join(path, "address"), "missing; a host needs an IPv4 address, optionally with a port (default %d)", DefaultPort)
	}
	a := h.Address.Addr()
	for _, n := range p.s.NATs {
		if n.Public == a {
			return h, nil, p.errf(addr.node, addr.path, "%s is the public address of NAT %s (line %d); give the host its own address", a, n.Name, n.Line)
		}
		if n.LAN.Contains(a) {
			h.NAT = n.Name
		}
	}
	if r := private(a); r != "" && h.NAT == "" {
		return h, nil, p.errf(addr.node, addr.path, "%s is a private (%s) address outside every NAT's lan; put it in a NAT's lan or use a public address", a, r)
	}
	if e, ok := refs["engine"]; ok && h.Config == "" {
		return h, nil, p.errf(e.node, join(path, "config"), "missing; engine %s needs the proxy's config file", h.Engine)
	}
	if c, ok := refs["config"]; ok && h.Engine == "" {
		return h, nil, p.errf(c.node, join(path, "engine"), "missing; a config needs its engine: kamailio or opensips")
	}
	if h.Engine != "" && h.NAT != "" {
		return h, nil, p.errf(addr.node, addr.path, "a real proxy (engine %s) cannot sit behind NAT %s", h.Engine, h.NAT)
	}
	return h, refs, nil
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

func (p *parser) steps(e entry) error {
	val := deref(e.val)
	if val.Kind != yaml.SequenceNode {
		return p.errf(val, "steps", "must be a list of steps such as - call: {from: alice, to: bob}, not %s", kind(val))
	}
	if len(val.Content) == 0 {
		return p.errf(val, "steps", "no steps; a scenario needs at least one")
	}
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
		p.s.Steps = append(p.s.Steps, st)
	}
	return nil
}

// positiveInt reads a whole number between 1 and limit.
func (p *parser) positiveInt(n *yaml.Node, path string, limit int) (int, error) {
	n = deref(n)
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 1 || v > limit {
		return 0, p.errf(n, path, "%q is not a whole number from 1 to %d", n.Value, limit)
	}
	return v, nil
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
		via, _ = p.s.Host(from.RegisterWith)
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
	return p.route(viaNode, path, via, to)
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

func (p *parser) expect(e entry) error {
	if e.val == nil {
		return nil
	}
	entries, err := p.mapping(e.val, "expect", "a mapping with the keys "+strings.Join(expectKeys, ", "))
	if err != nil {
		return err
	}
	if len(entries) > 0 && !slices.ContainsFunc(p.s.Steps, func(s Step) bool { return s.Kind == StepCall }) {
		return p.errf(e.key, "expect", "there is no call step to check it against; add a call step or remove expect")
	}
	var ackAt *bool
	var within *yaml.Node
	for _, f := range entries {
		path := join("expect", f.key.Value)
		x := Expectation{Key: f.key.Value, Line: f.key.Line}
		switch x.Key {
		case ExpectACKAtCallee, ExpectCalleeBYE:
			b, err := p.boolean(f.val, path)
			if err != nil {
				return err
			}
			x.Bool = &b
			if x.Key == ExpectACKAtCallee {
				ackAt = x.Bool
			}
		case ExpectACKWithin:
			if x.Duration, err = p.duration(f.val, path); err != nil {
				return err
			}
			within = f.key
		case ExpectBlame:
			v, n, err := p.scalar(f.val, path)
			if err != nil {
				return err
			}
			if v != "none" {
				if _, err := p.hostOf(hostRef{n, path}, RoleProxy, "blame"); err != nil {
					return err
				}
				x.Host = v
			}
		default:
			return p.unknownKey(f.key, "expect", expectKeys)
		}
		x.Want = deref(f.val).Value
		p.s.Expect = append(p.s.Expect, x)
	}
	if within != nil && ackAt != nil && !*ackAt {
		return p.errf(within, "expect.ack-within", "contradicts ack-at-callee: false; remove one of them")
	}
	return nil
}
