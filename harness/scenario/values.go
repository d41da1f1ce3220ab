package scenario

// This file reads single values: booleans, names, durations (N*T1 included),
// addresses, ports, networks, words and numbers.

import (
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"go.yaml.in/yaml/v3"
)

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

// public parses a NAT's public address: an IPv4 unicast address without a port.
func (p *parser) public(n *yaml.Node, path, v string) (netip.Addr, error) {
	if i := strings.LastIndexByte(v, ':'); i >= 0 && strings.Count(v, ":") == 1 {
		if a, err := netip.ParseAddr(v[:i]); err == nil && a.Is4() {
			return netip.Addr{}, p.errf(n, path, "%q: a NAT's public address takes no port; write %s", v, a)
		}
	}
	return p.addr(n, path, v)
}

// addrPort parses "a.b.c.d" or "a.b.c.d:port"; the port defaults to endpoint.DefaultPort.
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
		return netip.AddrPortFrom(a, endpoint.DefaultPort), nil
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

// wordOf reads a word and parses it with parse, the Parse function of the type that owns
// the word; a word parse refuses is reported with the accepted words, in their order.
func wordOf[T any](p *parser, n *yaml.Node, path string, parse func(string) (T, error), words []string) (T, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		var zero T
		return zero, err
	}
	t, err := parse(v)
	if err != nil {
		return t, p.errf(n, path, "%q is not one of %s", v, strings.Join(words, ", "))
	}
	return t, nil
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

// positiveInt reads a whole number between 1 and limit.
func (p *parser) positiveInt(n *yaml.Node, path string, limit int) (int, error) {
	n = deref(n)
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 1 || v > limit {
		return 0, p.errf(n, path, "%q is not a whole number from 1 to %d", n.Value, limit)
	}
	return v, nil
}
