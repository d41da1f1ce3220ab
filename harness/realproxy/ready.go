package realproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/harness/container"
)

// readyWithin is how long a real proxy has, once its engine may start, to show it
// is up before the run gives up on it.
const readyWithin = 10 * time.Second

// waitReady waits until the proxy shows it is up: any SIP response (even 404 or
// 483) to an OPTIONS sent to it from the probe address, or its engine's own line
// saying on which sockets it listens. It fails at once when the container stops,
// and after readyWithin with what was sent, what came back and what the config must
// do, in plain words. who names the proxy (host, engine, config).
func (r *relay) waitReady(ctx context.Context, p *container.Proxy, who string) error {
	deadline := time.NewTimer(readyWithin)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	callID := randomHex(8) + "@sipnatlab-probe"
	sent := 0
	var other []string            // answers that were not to our probe
	var listened <-chan time.Time // a second after the listening line
	for {
		if listened == nil && listening(p.Logs()) {
			// The engine prints its sockets just before it binds them: give
			// the probe a second to be answered, then take the line's word.
			t := time.NewTimer(time.Second)
			defer t.Stop()
			listened = t.C
		}
		if err := r.send(r.probe, container.OptionsRequest(r.probe, r.addr, callID, sent+1)); err != nil {
			return fmt.Errorf("%s: send the readiness OPTIONS: %w", who, err)
		}
		sent++
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", who, ctx.Err())
		case b := <-r.answers:
			if msg, err := sip.ParseMessage(b); err == nil {
				if res, ok := msg.(*sip.Response); ok && res.CallID() != nil && res.CallID().Value() == callID {
					return nil // any response: the proxy is up
				}
			}
			if len(other) < maxStrays {
				other = append(other, fmt.Sprintf("%q", firstLine(b)))
			}
		case <-tick.C:
			if sent%5 == 0 {
				if st, err := p.Container().State(ctx); err == nil && !st.Running {
					return r.stopped(p, who, st.ExitCode)
				}
			}
		case <-listened:
			if st, err := p.Container().State(ctx); err == nil && !st.Running {
				return r.stopped(p, who, st.ExitCode)
			}
			return nil
		case <-deadline.C:
			return r.notReady(p.Logs(), who, sent, other)
		}
	}
}

// notReady says why the proxy was not ready, and what the config must do.
func (r *relay) notReady(log, who string, sent int, other []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not ready after %s: sipnatlab sent %d SIP OPTIONS sip:%s from %s into the proxy's network, ", who, readyWithin, sent, r.addr, r.probe)
	if len(other) > 0 {
		fmt.Fprintf(&b, "and what came back to that address answered none of them (%s); ", strings.Join(other, ", "))
	} else {
		b.WriteString("and no response came back; ")
	}
	if s := r.sentBeforeAttach(); len(s) > 0 {
		fmt.Fprintf(&b, "the proxy sent elsewhere instead: %s (where it forwards requests, e.g. its next hop: nothing answers there before the run); ", strings.Join(s, "; "))
	} else {
		b.WriteString("the proxy sent nothing at all; ")
	}
	fmt.Fprintf(&b, "its log has no line saying where it listens. %s%s", r.must(), tail(log))
	return fmt.Errorf("%w: %s", ErrContainer, b.String())
}

// stopped says that the proxy's engine exited before it was ready.
func (r *relay) stopped(p *container.Proxy, who string, code int) error {
	return fmt.Errorf("%w: %s: the proxy stopped (exit code %d) before it was ready; its own words are in the log lines below. %s%s",
		ErrContainer, who, code, r.must(), tail(p.Logs()))
}

// must is what a config must do to be validated.
func (r *relay) must() string {
	return fmt.Sprintf("To be validated, a config must listen on UDP %s, its host's scenario address (listen=udp:%s, socket=udp:eth0:%d, "+
		"or no listen line at all), and answer an OPTIONS sent to that address with any response, even 404 or 483, "+
		"or log its listening sockets at start as Kamailio and OpenSIPS do", r.addr, r.addr, r.addr.Port())
}

// listening reports whether an engine's log says it listens: Kamailio and OpenSIPS
// print "Listening on" and their sockets once they have bound them.
func listening(log string) bool {
	return strings.Contains(log, "Listening on")
}

// tail is the end of a proxy's log for an error message.
func tail(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	if t := strings.TrimSpace(strings.Join(lines, "\n")); t != "" {
		return "\nlast log lines:\n" + t
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
