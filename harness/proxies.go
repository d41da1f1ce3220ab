package harness

import (
	"context"
	"errors"

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
	// Scenario is s with its public addresses moved to the real ones the proxies
	// reach.
	Scenario() *scenario.Scenario
	// Real maps each host and NAT that took a real address to it.
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
