package sim

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind says what happened to a datagram, or to a NAT table, at one hop.
type Kind int

const (
	// Sent: a host wrote a datagram. Hop is the sending host; Src and Dst are as written.
	Sent Kind = iota
	// Translated: a NAT rewrote a datagram. Hop is the NAT; Src and Dst are before,
	// XSrc and XDst after; Reason notes the binding used ("new binding …", "hairpin …").
	Translated
	// Delivered: the receiving host read the datagram. Hop is the receiving host; Src and
	// Dst are as the receiver sees them.
	Delivered
	// Dropped: the datagram died here. Hop is the host or NAT where; Reason says why.
	// With Cause CauseForged and Datagram 0 it is no datagram of the network but a frame
	// another process wrote to the socket of a Conn of host Hop, refused.
	Dropped
	// BindingCreated: a NAT added a binding (RFC 4787 §4.1). Hop is the NAT; Src is the
	// internal endpoint, XSrc the external one, Dst the remote endpoint that caused it.
	BindingCreated
	// BindingExpired: a NAT removed a binding idle for longer than its timeout
	// (RFC 4787 §4.3). Hop is the NAT; Src is the internal endpoint, XSrc the external one.
	BindingExpired
	// Noted: a host's actor said what it did with a datagram it read, or with a
	// conversation, beyond reading it (an ACK absorbed with nowhere to forward it, a
	// dialog given up). Hop is the host; Datagram the datagram it concerns, 0 for none;
	// Flow the conversation (for SIP actors, the Call-ID); Cause and Reason what happened.
	Noted
)

var kindWords = [...]string{
	Sent:           "sent",
	Translated:     "translated",
	Delivered:      "delivered",
	Dropped:        "dropped",
	BindingCreated: "binding-created",
	BindingExpired: "binding-expired",
	Noted:          "noted",
}

// String returns "sent", "translated", "delivered", "dropped", "binding-created",
// "binding-expired" or "noted".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindWords) {
		return kindWords[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind parses the words String returns.
func ParseKind(s string) (Kind, error) {
	for k, w := range kindWords {
		if s == w {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("parse record kind %q: want one of %s", s, strings.Join(kindWords[:], ", "))
}

// Record is one event in a [Capture].
type Record struct {
	Seq      int            // 1-based, strictly increasing
	Datagram int            // id shared by all records of one datagram; 0 for none
	Time     time.Time      // from the run's Clock
	Kind     Kind           // what happened
	Hop      string         // host or NAT name where it happened
	Src, Dst netip.AddrPort // virtual endpoints before translation
	X        *Translation   // after translation (Translated, BindingCreated, BindingExpired); nil otherwise
	Cause    Cause          // why it was dropped (Dropped) or what the actor did (Noted); "" otherwise
	Reason   string         // why it was dropped, or a note on the translation, in words
	Flow     string         // Noted: the conversation it concerns (a SIP Call-ID); "" otherwise
	Data     []byte         // the UDP payload; shared between records, never to be modified
}

// Translation is where a NAT translated a datagram's endpoints to. It sits behind a
// pointer in a [Record] since most records (sent, delivered, dropped) have none: a
// record is most of what a run keeps per datagram.
type Translation struct {
	Src, Dst netip.AddrPort
}

// XSrc returns the source after translation (X.Src), the zero AddrPort when X is nil.
func (r Record) XSrc() netip.AddrPort {
	if r.X == nil {
		return netip.AddrPort{}
	}
	return r.X.Src
}

// XDst returns the destination after translation (X.Dst), the zero AddrPort when X is nil.
func (r Record) XDst() netip.AddrPort {
	if r.X == nil {
		return netip.AddrPort{}
	}
	return r.X.Dst
}

// Capture is the single record of everything that happened on a [Network]: every datagram
// at every hop and every NAT table event, in order. Reports, diagnosis and pcap export read
// only this. It keeps its records in a [Log] (compactly, payloads spilled to a file past
// [Config].Spill), which Take hands over. A Capture is safe for concurrent use.
type Capture struct {
	clock Clock
	spill SpillConfig

	mu      sync.Mutex // guards the fields below
	log     *Log       // the records since the last Take
	n       int        // number of records made, the last Seq
	waiters []waiter
}

func (c *Capture) each(f func(Record) bool) {
	for _, r := range c.log.All() {
		if !f(r) {
			return
		}
	}
}

type waiter struct {
	match func(Record) bool
	done  chan struct{}
}

func newCapture(clock Clock, spill SpillConfig) *Capture {
	return &Capture{clock: clock, spill: spill, log: newLog(spill, 1)}
}

// add stamps r with the next Seq and the current time, appends it and wakes matching waiters.
func (c *Capture) add(r Record) { c.addRecord(r, false) }

// addOwn is add for a record whose Data is the caller's to reuse (a datagram as written):
// it returns the capture's own copy, for the datagram to carry, so that the records of
// its other hops share the copy the capture keeps.
func (c *Capture) addOwn(r Record) []byte { return c.addRecord(r, true) }

func (c *Capture) addRecord(r Record, own bool) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	r.Seq = c.n
	// The wall reading alone (no monotonic one): durations between records are the same
	// for the live run and for the capture read back from a file.
	r.Time = c.clock.Now().Round(0)
	r.Data = c.log.append(r, own)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.match(r) {
			close(w.done)
			continue
		}
		kept = append(kept, w)
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
	return r.Data
}

// Records returns a snapshot of all records in Seq order. The slice is the caller's; the
// Data of each record is shared and must not be modified.
func (c *Capture) Records() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Records()
}

// Take hands over all records in Seq order as a [Log] and empties the Capture, so that
// the records are not kept twice. Records made afterwards start a capture of their own
// (Seq still counts on); a waiter registered afterwards sees only those. A run calls it
// once it has ended. The caller owns the Log and closes it.
func (c *Capture) Take() *Log {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.log
	out.freeze()
	c.log = newLog(c.spill, c.n+1)
	return out
}

// Len returns the number of records Records would return.
func (c *Capture) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Len()
}

// Wait returns a channel that is closed once a record matching f exists: at once if one was
// already recorded, else when one is appended. f is called with the Capture locked, so it
// must not call the Capture's methods. A waiter that never matches stays registered until
// the Capture is garbage.
func (c *Capture) Wait(f func(Record) bool) <-chan struct{} {
	done := make(chan struct{})
	c.mu.Lock()
	defer c.mu.Unlock()
	found := false
	c.each(func(r Record) bool {
		found = f(r)
		return !found
	})
	if found {
		close(done)
		return done
	}
	c.waiters = append(c.waiters, waiter{match: f, done: done})
	return done
}
