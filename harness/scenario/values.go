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

// boolean reads true or false, written as such: not "yes", "True", "1", a quoted
// "true" or !!bool 1.
func (p *parser) boolean(n *yaml.Node, path string) (bool, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		return false, err
	}
	if n.ShortTag() != "!!bool" || v != "true" && v != "false" {
		return false, p.errf(n, path, "%q is not a boolean; write true or false", v)
	}
	return v == "true", nil
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

// within checks that d, read from n, is at least lo and, when hi is not zero, at most hi;
// why says where the bounds come from.
func (p *parser) within(d, lo, hi time.Duration, n *yaml.Node, path, why string) error {
	switch {
	case d < lo:
		return p.errf(deref(n), path, "%s is shorter than %s; %s", d, lo, why)
	case hi != 0 && d > hi:
		return p.errf(deref(n), path, "%s is longer than %s; %s", d, hi, why)
	}
	return nil
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

// Reserved IPv4 ranges no host may have as its address (RFC 6890).
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")   // RFC 1122 §3.2.1.3: "this host on this network", a source during start-up only
	reserved    = netip.MustParsePrefix("240.0.0.0/4") // RFC 1112 §4: reserved for future use; never routed
)

// isIPv6 reports whether v is written as an IPv6 address, with or without brackets and a port.
func isIPv6(v string) bool {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")); err == nil {
		return a.Is6()
	}
	ap, err := netip.ParseAddrPort(v)
	return err == nil && ap.Addr().Is6()
}

// addr parses an IPv4 unicast address, as written in v.
func (p *parser) addr(n *yaml.Node, path, v string) (netip.Addr, error) {
	if isIPv6(v) {
		return netip.Addr{}, p.errf(n, path, "%q: IPv6 addresses are not supported; use IPv4", v)
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return netip.Addr{}, p.errf(n, path, "%q is not an IP address", v)
	}
	var bad string
	switch {
	case a.IsUnspecified():
		bad = "the unspecified address"
	case thisNetwork.Contains(a):
		bad = `in 0.0.0.0/8, "this network" (RFC 1122 §3.2.1.3), which is never a host's address`
	case a.IsLoopback():
		bad = "a loopback address"
	case a.IsMulticast():
		bad = "a multicast address"
	case a.IsLinkLocalUnicast():
		bad = "a link-local address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		bad = "the broadcast address"
	case reserved.Contains(a):
		bad = "in 240.0.0.0/4, reserved for future use (RFC 1112 §4) and never routed"
	}
	if bad != "" {
		return netip.Addr{}, p.errf(n, path, "%s is %s; use a unicast address", a, bad)
	}
	return a, nil
}

// broadcast returns the last address of lan, its broadcast address.
func broadcast(lan netip.Prefix) netip.Addr {
	b := lan.Addr().As4()
	for i := range 4 {
		if host := lan.Bits() - 8*i; host < 8 {
			b[i] |= byte(0xff >> max(host, 0))
		}
	}
	return netip.AddrFrom4(b)
}

// edge reports whether a is the network or the broadcast address of lan, which no host
// may have: "network", "broadcast" or "". A /31 or /32 has no such addresses (RFC 3021).
// For a hint, it also returns the first and last host addresses of lan.
func edge(a netip.Addr, lan netip.Prefix) (what string, first, last netip.Addr) {
	if lan.Bits() > 30 || !lan.Contains(a) {
		return "", first, last
	}
	first, last = lan.Addr().Next(), broadcast(lan).Prev()
	switch a {
	case lan.Addr():
		return "network", first, last
	case broadcast(lan):
		return "broadcast", first, last
	}
	return "", first, last
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
	} else if strings.Count(v, ":") > 1 && !isIPv6(v) {
		return netip.AddrPort{}, p.errf(n, path, "%q is not an IPv4 address with an optional port, such as 203.0.113.1 or 203.0.113.1:5060", v)
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
	if leadingZero(v) {
		return 0, p.errf(n, path, "%q starts with 0, which YAML 1.1 reads as octal; write it in decimal without leading zeros", v)
	}
	u, perr := strconv.ParseUint(v, 10, 64)
	if perr != nil || n.ShortTag() != "!!int" && n.ShortTag() != "!!str" {
		return 0, p.errf(n, path, "%q is not a whole number from 0 to 18446744073709551615", v)
	}
	return u, nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// leadingZero reports whether v is digits that start with a 0 and go on: YAML 1.1 (and
// the YAML library) reads 010 as octal 8 and 08 as a float, so neither says one number.
func leadingZero(v string) bool { return len(v) > 1 && v[0] == '0' && digits.MatchString(v) }

// positiveInt reads a whole number between 1 and limit, written as a plain YAML integer
// in decimal digits: not "+5", "0x10", "1_000", "010", a quoted "5" or !!float 2.
func (p *parser) positiveInt(n *yaml.Node, path string, limit int) (int, error) {
	v, n, err := p.scalar(n, path)
	if err != nil {
		return 0, err
	}
	switch {
	case n.Style&yaml.TaggedStyle != 0:
		return 0, p.errf(n, path, "%s %q is not a whole number from 1 to %d; write the number without a tag", n.Tag, v, limit)
	case leadingZero(v) && strings.TrimLeft(v, "0") != "":
		return 0, p.errf(n, path, "%q starts with 0, which YAML 1.1 reads as octal; write a whole number from 1 to %d in decimal without leading zeros, such as %s", v, limit, strings.TrimLeft(v, "0"))
	case n.ShortTag() == "!!int" && !digits.MatchString(v):
		return 0, p.errf(n, path, "%q is not written as a whole number from 1 to %d; use decimal digits only, such as 5", v, limit)
	case n.ShortTag() == "!!str" && digits.MatchString(v):
		return 0, p.errf(n, path, "%q is a quoted string, not a number; write it without quotes", v)
	}
	i, err := strconv.Atoi(v)
	if n.ShortTag() != "!!int" || err != nil || i < 1 || i > limit {
		return 0, p.errf(n, path, "%q is not a whole number from 1 to %d", v, limit)
	}
	return i, nil
}

// finalStatus reads a final SIP status code, 300 to 699 (RFC 3261 §21: 2xx would
// answer the call, 1xx is not final).
func (p *parser) finalStatus(n *yaml.Node, path string) (int, error) {
	v, err := p.positiveInt(n, path, 699)
	if err == nil && v < 300 {
		err = p.errf(deref(n), path, "%d is not a final response that refuses a call: use a status from 300 to 699, such as 404, 408 or 483", v)
	}
	return v, err
}
