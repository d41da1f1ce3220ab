package proxy

import (
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// Late2xx is what a proxy does with a retransmission of a 2xx to INVITE that
// arrives after its INVITE transaction ended, the words of a scenario's
// "late-2xx" key. Real proxies keep the transaction TransactionWait after the
// first 2xx; what they do with a 2xx that matches none differs.
type Late2xx string

const (
	// Late2xxReplyRoute runs the reply route (its Contact handling) for every
	// relayed 2xx, in the transaction or not: RFC 3261 §16.7 forwards a
	// response that matches no transaction as a stateless proxy would, and a
	// proxy's NAT handling applies to it like to any other.
	Late2xxReplyRoute Late2xx = "reply-route"
	// Late2xxRelay relays a late 2xx as it came (only its own Via removed),
	// without the reply route: Kamailio 5.6, whose core forwards a reply tm
	// matches to no transaction and runs only the unnamed onreply_route, not
	// the one t_on_reply() armed. A Contact the reply route fixed reverts.
	Late2xxRelay Late2xx = "relay"
	// Late2xxDrop drops a late 2xx: OpenSIPS 3.6, whose core forwards a reply tm
	// matches to no transaction only with stateless forwarding on (off unless the
	// script calls forward() or sets disable_stateless_fwd = 0).
	Late2xxDrop Late2xx = "drop"
)

// TransactionWait is how long a proxy's INVITE transaction lives after it
// relayed the first 2xx: the wait timer of Kamailio's and OpenSIPS's tm
// (wt_timer, 5 s by default). A real proxy keeps it whatever the scenario's T1.
const TransactionWait = 5 * time.Second

// CauseLate2xxDropped is the cause of the note a proxy with Late2xxDrop records
// for each late 2xx it drops.
const CauseLate2xxDropped sim.Cause = "late-2xx-dropped"

// ParseLate2xx parses "reply-route", "relay" or "drop".
func ParseLate2xx(s string) (Late2xx, error) {
	switch l := Late2xx(s); l {
	case Late2xxReplyRoute, Late2xxRelay, Late2xxDrop:
		return l, nil
	}
	return "", fmt.Errorf("parse late-2xx %q: want reply-route, relay or drop", s)
}

// accepted is when one INVITE transaction relayed its first 2xx; the zero
// value has relayed none. Its methods may be called concurrently.
type accepted struct {
	mu sync.Mutex // guards at
	at time.Time  // the first 2xx; zero: none yet
}

// late reports whether a 2xx at now comes after the transaction ended,
// marking the first 2xx's time when it is the first.
func (a *accepted) late(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.at.IsZero() {
		a.at = now
		return false
	}
	return now.Sub(a.at) >= TransactionWait
}

// relayLate handles a 2xx to INVITE that arrived after the transaction ended, by
// the proxy's Late2xx; false when the reply route is to handle it as any other.
func (p *Proxy) relayLate(res *sip.Response) bool {
	cid := callID(res)
	switch p.cfg.Late2xx {
	case Late2xxDrop:
		why := fmt.Sprintf("%s dropped a %d to INVITE that arrived after its transaction ended (late-2xx: drop)", p.cfg.Name, res.StatusCode)
		p.observe("late-2xx-dropped", cid, "%s", why)
		p.ep.Note(true, cid, CauseLate2xxDropped, why)
		return true
	case Late2xxRelay:
		out := res.Clone()
		out.RemoveHeader("Via")
		if out.Via() == nil {
			return true
		}
		dst, err := endpoint.ResponseTarget(out)
		if err != nil {
			return true
		}
		p.observe("late-2xx-relayed", cid, "%d relayed as it came, Contact %s, without the reply route: its transaction ended (late-2xx: relay)", res.StatusCode, contactOf(out))
		_ = p.ep.Send(out, dst)
		return true
	}
	return false
}

func contactOf(res *sip.Response) string {
	if c := res.Contact(); c != nil {
		return c.Address.String()
	}
	return "none"
}

// isInvite2xx reports whether res is a 2xx to INVITE.
func isInvite2xx(res *sip.Response) bool {
	return res.IsSuccess() && res.CSeq() != nil && res.CSeq().MethodName == sip.INVITE
}

// incoming is the request as it came in, which the proxy's own 408 is built from until
// the forwarded request's final response; then nobody needs it. Its methods may be called
// concurrently.
type incoming struct {
	mu  sync.Mutex // guards req
	req *sip.Request
}

// take returns the request and forgets it: nil after the first call.
func (i *incoming) take() *sip.Request {
	i.mu.Lock()
	defer i.mu.Unlock()
	req := i.req
	i.req = nil
	return req
}
