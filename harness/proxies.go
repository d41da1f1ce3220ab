package harness

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// Container puts a real proxy (Kamailio, or OpenSIPS) in place of an in-process proxy
// host.
type Container struct {
	Engine scenario.Engine // "" means scenario.EngineKamailio
	Config string          // path of the proxy's config file
	Image  string          // "" means the engine's locally built image (sipnatlab/kamailio:5.6, sipnatlab/opensips:3.6)
	// Defines are NAME or NAME=VALUE: kamailio -A for Kamailio (#!ifdef NAME),
	// environment variables for OpenSIPS ($env(NAME)). The run adds
	// NEXT_HOP="sip:ADDR:PORT" for a host with a next-hop.
	Defines []string
}

// Proxies starts real proxies in place of in-process proxy hosts.
type Proxies interface {
	// Start starts a real proxy for each host named in specs. On error, what it
	// started is in the Started it returns (if not nil), whose Close removes it.
	Start(ctx context.Context, s *scenario.Scenario, specs map[string]Container) (Started, error)
}

// Started is the real proxies of one run.
type Started interface {
	// Scenario is s as the run uses it: with any public address that may not
	// become a real one mapped to one that may (Real says which).
	Scenario() *scenario.Scenario
	// Real maps each real proxy to its real address, and each host and NAT
	// whose address was mapped to the address and why.
	Real() map[string]string
	// Attach hands the fabric's Conn of host to the real proxy standing there,
	// reporting false when host is in process.
	Attach(host string, conn *sim.Conn) (bool, error)
	// Close stops the proxies and removes what they needed; it waits for the
	// goroutines of Attach.
	Close()
}

// ErrNoProxies is returned by Run when the run needs a real proxy and
// Options.Proxies is nil.
var ErrNoProxies = errors.New("a real proxy needs Options.Proxies (realproxy.Docker{} from package harness/realproxy)")

// proxyLogLevel matches the warning and error levels Kamailio and OpenSIPS write
// before a log line's text ("WARNING: tm [tm.c:784]: ...", "ERROR:core:...").
var proxyLogLevel = regexp.MustCompile(`\b(WARNING|ERROR|CRITICAL|ALERT|BUG|EMERGENCY|EMERG):`)

// maxProxyWarnings is how many warning and error lines of one proxy's log
// ProxyWarnings keeps; the rest stay in the log.
const maxProxyWarnings = 20

// ProxyWarnings returns, by host name, the lines of each real proxy's log
// (ProxyLogs) that the engine wrote as warnings or errors, from its start to its
// end, the first maxProxyWarnings of each, then a line saying how many more;
// hosts with none are absent.
func (r *Result) ProxyWarnings() map[string][]string {
	out := map[string][]string{}
	for host, log := range r.ProxyLogs {
		var lines []string
		n := 0
		for l := range strings.Lines(log) {
			l = strings.TrimSpace(l)
			loc := proxyLogLevel.FindStringIndex(l)
			if loc == nil {
				continue
			}
			if n++; n <= maxProxyWarnings {
				lines = append(lines, l[loc[0]:])
			}
		}
		if n > maxProxyWarnings {
			lines = append(lines, fmt.Sprintf("(%d more in its log)", n-maxProxyWarnings))
		}
		if len(lines) > 0 {
			out[host] = lines
		}
	}
	return out
}
