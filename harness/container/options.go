package container

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// settings are what this package's options set; the zero value is not
// usable: Run fills the defaults.
type settings struct {
	config  string
	flavor  Flavor
	defines []string
	env     map[string]string
	network *testcontainers.DockerNetwork
	subnet  netip.Prefix
	startup time.Duration
	owner   string
	nextHop string
}

// Option configures Run. It satisfies testcontainers.ContainerCustomizer so
// it can be mixed with testcontainers' own options, as in its modules.
type Option func(*settings)

// Customize implements testcontainers.ContainerCustomizer; Run applies
// Options itself, so this does nothing.
func (Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

// WithConfigFile copies the proxy config at path (on the host) to the
// flavor's config path in the container before it starts. Required.
func WithConfigFile(path string) Option {
	return func(s *settings) { s.config = path }
}

// WithFlavor says which proxy the image holds. Default: OpenSIPS when the
// image name contains "opensips", Kamailio otherwise.
func WithFlavor(f Flavor) Option {
	return func(s *settings) { s.flavor = f }
}

// WithDefine adds a define, NAME or NAME=VALUE, used for the proxy and for
// CheckConfig. Kamailio gets it as a pre-processor define (kamailio -A NAME=VALUE,
// read by #!ifdef NAME and as the token NAME): WithDefine(`NEXT_HOP="sip:172.18.0.3:5060"`)
// makes the fixtures forward requests for users not registered there.
// OpenSIPS 3.x has no command-line defines (its templating is a preprocessor
// command, -p): it gets the define as the environment variable NAME=VALUE (NAME=1
// for a bare NAME, quotes around VALUE removed), which a script reads with
// $env(NAME) of cfgutils, as the fixtures read NEXT_HOP.
func WithDefine(define string) Option {
	return func(s *settings) { s.defines = append(s.defines, define) }
}

// WithEnv sets an environment variable of the proxy's process (and of
// CheckConfig's). The OpenSIPS fixtures read NEXT_HOP this way, with
// cfgutils' $env(NEXT_HOP), since OpenSIPS has no -A defines:
// WithEnv("NEXT_HOP", "sip:172.18.0.3:5060").
func WithEnv(key, value string) Option {
	return func(s *settings) {
		if s.env == nil {
			s.env = map[string]string{}
		}
		s.env[key] = value
	}
}

// WithNextHop names where the fixtures send initial requests for users not
// registered at this proxy (another proxy, "sip:ADDR:PORT"): the Kamailio
// fixtures' NEXT_HOP define, or the OpenSIPS fixtures' NEXT_HOP environment
// variable, by the flavor Run starts.
func WithNextHop(uri string) Option {
	return func(s *settings) { s.nextHop = uri }
}

// WithNetwork puts the proxy on an existing network (for example one
// another proxy is already on) instead of creating one; Terminate then
// leaves the network alone. The network should be internal.
func WithNetwork(nw *testcontainers.DockerNetwork) Option {
	return func(s *settings) { s.network = nw }
}

// WithStartupTimeout bounds the wait for the first answer to OPTIONS.
// Default 60 s.
func WithStartupTimeout(d time.Duration) Option {
	return func(s *settings) { s.startup = d }
}

// WithSubnet gives the network Run creates this subnet instead of one Docker
// picks. Docker's default pools include 192.168.0.0/16, so a network it
// picks may overlap the private LAN addresses a scenario writes in its
// Contacts (192.168.1.10); a subnet no scenario uses keeps "unreachable"
// really unreachable. Ignored with WithNetwork.
func WithSubnet(subnet netip.Prefix) Option {
	return func(s *settings) { s.subnet = subnet.Masked() }
}

// BenchmarkingSubnet is a /24 of RFC 2544's benchmarking range,
// 198.18.0.0/15, picked at random: no scenario writes it and Docker never
// hands it out by itself. Two picks may still meet; SubnetTaken tells when
// Run failed for that, and another pick is the answer.
func BenchmarkingSubnet() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(rand.IntN(2)), byte(rand.IntN(256)), 0}), 24)
}

// SubnetTaken reports whether err is Docker refusing a subnet that
// overlaps another network's.
func SubnetTaken(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "overlap") || strings.Contains(err.Error(), "Pool"))
}

// WithOwner labels the container and the network Run creates with
// org.sipnatlab.owner=owner, so whoever started them can find exactly its
// own (for example to check that nothing of its runs is left), even while
// other processes run proxies too.
func WithOwner(owner string) Option {
	return func(s *settings) { s.owner = owner }
}
