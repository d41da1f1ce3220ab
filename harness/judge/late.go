package judge

import (
	"fmt"
	"strings"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
)

// ContactChange is a retransmission of the callee's 2xx that reached the caller with a
// Contact other than the one of the 2xx before it: a proxy on the way handled the
// retransmissions differently from the first 2xx (Kamailio relays those that arrive
// after its transaction ended without its reply route).
type ContactChange struct {
	After    time.Duration // from the callee's first 2xx to this one's arrival at the caller
	Was, Now string        // the Contact the caller saw before and now
	Hop      string        // the first hop from the callee that sent this 2xx on with another Contact than the first; "" when unknown
	HopSent  string        // the Contact Hop sent this time
}

// Withheld is a hop that received retransmissions of the callee's 2xx and passed
// none of them on after some instant (OpenSIPS drops those that arrive after its
// transaction ended).
type Withheld struct {
	Hop      string
	Dropped  int           // 2xx the hop received and did not send on
	LastSent time.Duration // from the callee's first 2xx to the last one the hop sent on
}

// contactChanges lists each change of the Contact of the callee's 2xx (its To tag) as
// the caller received it, in order, with the hop that caused it.
func contactChanges(steps []trace.Step, f *CallFacts, calleeTag string, firstOK time.Time) []ContactChange {
	var out []ContactChange
	was := ""
	for _, st := range steps {
		ok, isOK := trace.Invite2xx(st.D.Message())
		if !isOK || st.Kind != sim.Delivered || st.Hop != f.From || trace.ToTag(ok) != calleeTag {
			continue
		}
		now := trace.Contact(ok)
		if was != "" && now != was {
			c := ContactChange{After: st.Time.Sub(firstOK), Was: was, Now: now}
			c.Hop, c.HopSent = changedHop(steps, f, calleeTag, st.Seq)
			out = append(out, c)
		}
		was = now
	}
	return out
}

// changedHop names the first hop of the reply path whose last 2xx sent before at
// carried another Contact than the one it sent on the first 2xx. steps are the call's.
func changedHop(steps []trace.Step, f *CallFacts, calleeTag string, at int) (string, string) {
	for _, h := range f.Hops {
		last := ""
		for _, st := range steps {
			if st.Seq > at {
				break
			}
			if ok, isOK := trace.Invite2xx(st.D.Message()); isOK && st.Kind == sim.Sent && st.Hop == h.Host && trace.ToTag(ok) == calleeTag {
				last = trace.Contact(ok)
			}
		}
		if last != "" && last != h.Out {
			return h.Host, last
		}
	}
	return "", ""
}

// hopChanges lists, for each proxy of the reply path, the first retransmission of the
// callee's 2xx it sent on with another Contact than the first 2xx (After counts from
// the callee's first 2xx; Was is the first Contact, Now and HopSent the new one).
func hopChanges(steps []trace.Step, f *CallFacts, calleeTag string, firstOK time.Time) []ContactChange {
	var out []ContactChange
	for _, h := range f.Hops {
		if h.Host == f.To {
			continue
		}
		for _, st := range steps {
			ok, isOK := trace.Invite2xx(st.D.Message())
			if !isOK || st.Kind != sim.Sent || st.Hop != h.Host || trace.ToTag(ok) != calleeTag {
				continue
			}
			if c := trace.Contact(ok); c != h.Out {
				out = append(out, ContactChange{After: st.Time.Sub(firstOK), Was: h.Out, Now: c, Hop: h.Host, HopSent: c})
				break
			}
		}
	}
	return out
}

// withheld lists the proxies of the reply path that stopped passing on the callee's
// 2xx retransmissions.
func withheld(steps []trace.Step, f *CallFacts, calleeTag string, firstOK time.Time) []Withheld {
	var out []Withheld
	for _, h := range f.Hops {
		if h.Host == f.To {
			continue
		}
		got, sent := 0, 0
		var lastSent time.Time
		for _, st := range steps {
			ok, isOK := trace.Invite2xx(st.D.Message())
			if !isOK || st.Hop != h.Host || trace.ToTag(ok) != calleeTag {
				continue
			}
			switch st.Kind {
			case sim.Delivered:
				got++
			case sim.Sent:
				sent++
				lastSent = st.Time
			}
		}
		if got > sent && sent > 0 {
			out = append(out, Withheld{Hop: h.Host, Dropped: got - sent, LastSent: lastSent.Sub(firstOK)})
		}
	}
	return out
}

// lateSentence says how the caller's view of the 2xx retransmissions differed from the
// first 2xx; "" when it did not.
func lateSentence(f CallFacts) string {
	var parts []string
	for _, c := range f.ContactChanges {
		s := fmt.Sprintf("the Contact %s saw changed %.1f s after %s's first 200 OK, from %s to %s", f.From, c.After.Seconds(), f.To, c.Was, c.Now)
		if c.Hop != "" {
			s += fmt.Sprintf(", because %s sent that retransmission on with %s where it had sent %s: it relayed it without the reply route that handled the first (a proxy whose transaction has ended, as Kamailio's after its wait timer)", c.Hop, c.HopSent, hopOut(f, c.Hop))
		}
		parts = append(parts, s)
	}
	for _, c := range f.HopChanges {
		if seenAtCaller(f, c.Hop) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s sent %s's 200 OK on with %s from %.1f s after the first on, where it had sent %s: it relayed the retransmissions without the reply route that handled the first (a proxy whose transaction has ended, as Kamailio's after its wait timer)", c.Hop, f.To, c.Now, c.After.Seconds(), c.Was))
	}
	for _, w := range f.Withheld {
		parts = append(parts, fmt.Sprintf("%s passed on no 200 OK retransmission after %.1f s and dropped %d (a proxy whose transaction has ended, as OpenSIPS's after its wait timer)", w.Hop, w.LastSent.Seconds(), w.Dropped))
	}
	if len(parts) == 0 {
		return ""
	}
	s := strings.Join(parts, "; ")
	if strings.HasPrefix(s, "the ") { // host names keep their case
		s = "The" + s[3:]
	}
	return s + fmt.Sprintf("; %s's ACK follows the Contact of the first 200 OK it received (RFC 3261 §12.1.2), so judge a capture by that one, not by a late retransmission.", f.From)
}

// seenAtCaller reports whether a change of the Contact at the caller is put down to hop.
func seenAtCaller(f CallFacts, hop string) bool {
	for _, c := range f.ContactChanges {
		if c.Hop == hop {
			return true
		}
	}
	return false
}

func hopOut(f CallFacts, host string) string {
	h, _ := hopOf(f, host)
	return h.Out
}
