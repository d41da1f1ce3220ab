// Package trace groups a run's capture into datagrams once, each with the records of
// its way through the network and its SIP message, indexed by Call-ID. It is the one
// model the judge and every report read, so none of them regroups the capture.
package trace

import (
	"bytes"
	"sync"
	"sync/atomic"
	"unique"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// Datagram is one datagram of the capture with everything that happened to it.
type Datagram struct {
	ID     int
	Sent   *sim.Record   // where and how it was written; nil when the capture lacks it
	Xlat   []*sim.Record // NAT translations, in order
	End    *sim.Record   // Delivered or Dropped; nil when neither was recorded
	Notes  []*sim.Record // what the receiving actor noted about it (Noted records)
	CallID string        // its SIP message's Call-ID; "" without one
	// ALG is the Translated record of the NAT whose application-level gateway rewrote
	// the payload (its Data is the payload after), nil when no NAT changed it.
	ALG *sim.Record

	t       *Trace                 // whose message cache holds the parsed payloads
	data    []byte                 // the payload of its first record
	sip     bool                   // data parses as a SIP message
	msg     atomic.Pointer[parsed] // the parsed message while the cache keeps it
	arrived atomic.Pointer[parsed] // ALG's payload parsed, while the cache keeps it
}

// parsed is a datagram's parsed SIP message.
type parsed struct{ m sip.Message }

// Message returns the datagram's SIP message, parsed from its payload; nil when the
// payload is none (a CRLF keep-alive, garbage). The message is shared by every caller
// and must not be modified. Messages are not kept with the datagrams: a bounded cache
// holds the latest ones (see [Trace]), so a Message no longer cached is parsed again.
func (d *Datagram) Message() sip.Message {
	if !d.sip {
		return nil
	}
	if p := d.msg.Load(); p != nil {
		return p.m
	}
	return d.t.msgs.load(d)
}

// Received is the message as it reached its receiver: the payload a NAT's ALG rewrote,
// parsed (nil when it no longer parses), else Message. It is cached as Message is.
func (d *Datagram) Received() sip.Message {
	if d.ALG == nil {
		return d.Message()
	}
	if p := d.arrived.Load(); p != nil {
		return p.m
	}
	return d.t.msgs.loadArrived(d)
}

// Delivered reports whether the datagram reached a host.
func (d *Datagram) Delivered() bool { return d.End != nil && d.End.Kind == sim.Delivered }

// Dropped reports whether the datagram died on the way.
func (d *Datagram) Dropped() bool { return d.End != nil && d.End.Kind == sim.Dropped }

// Sender is the host that wrote the datagram; "" when the capture lacks its Sent record.
func (d *Datagram) Sender() string {
	if d.Sent == nil {
		return ""
	}
	return d.Sent.Hop
}

// Step is one record of a call's datagrams with the datagram it belongs to.
type Step struct {
	*sim.Record
	D *Datagram
}

// Trace is a capture grouped by datagram and by call. It holds pointers into the
// record slice it was made from, which must not be modified afterwards. A Trace is
// read-only once made, so several goroutines may read it.
//
// A parsed SIP message takes several times the memory of its payload, so a Trace keeps
// at most cachedMessages of them (the latest asked for), not one per datagram: what it
// costs beyond the capture is bounded by its datagrams and calls, not their messages.
// Readers that go call by call, as the judge and the reports do, parse each message
// about once; a capture of at most cachedMessages datagrams is parsed exactly once.
type Trace struct {
	Records   []sim.Record // the capture, in Seq order
	Datagrams []*Datagram  // in the order of their first record

	byID    map[int]*Datagram
	byCall  map[string][]*Datagram
	steps   map[string][]Step
	callIDs []string                 // in the order of their first datagram
	notes   []*sim.Record            // every Noted record, in order
	byNote  map[string][]*sim.Record // Noted records by the Call-ID they concern
	msgs    *messages
}

// cachedMessages bounds the parsed messages a Trace keeps: about 2.3 KB each for the
// messages of a call through two proxies, so at most about 10 MB.
const cachedMessages = 1 << 12

// messages is a Trace's bounded cache of parsed SIP messages: the datagrams that hold
// one, oldest first once full, whose message is dropped when the cache needs its place.
// It is safe for concurrent use.
type messages struct {
	mu   sync.Mutex // guards the fields below
	p    *sip.Parser
	ring []*Datagram
	next int // the oldest entry of a full ring
}

func newMessages() *messages { return &messages{p: sip.NewParser()} }

// parse parses data; nil when it is no SIP message.
func (c *messages) parse(data []byte) sip.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.p.ParseSIP(data)
	if err != nil {
		return nil
	}
	return m
}

// load parses d's payload again, unless another reader just did, and keeps the message.
func (c *messages) load(d *Datagram) sip.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := d.msg.Load(); p != nil {
		return p.m
	}
	m, err := c.p.ParseSIP(d.data)
	if err != nil {
		return nil
	}
	c.keep(d, m)
	return m
}

// loadArrived parses the payload d.ALG holds and keeps it beside d's message, which it
// parses again when the cache dropped it, so that both leave the cache together.
func (c *messages) loadArrived(d *Datagram) sip.Message {
	if d.sip && d.msg.Load() == nil {
		c.load(d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := d.arrived.Load(); p != nil {
		return p.m
	}
	m, err := c.p.ParseSIP(d.ALG.Data)
	if err != nil {
		return nil
	}
	if d.sip {
		d.arrived.Store(&parsed{m})
	}
	return m
}

// keep gives d its message m, dropping the oldest kept message when full. Callers hold
// mu or own the Trace alone (New).
func (c *messages) keep(d *Datagram, m sip.Message) {
	d.msg.Store(&parsed{m})
	if len(c.ring) < cachedMessages {
		c.ring = append(c.ring, d)
		return
	}
	c.ring[c.next].msg.Store(nil)
	c.ring[c.next].arrived.Store(nil)
	c.ring[c.next] = d
	c.next = (c.next + 1) % cachedMessages
}

// New groups recs (a capture, in Seq order) into a Trace, parsing every datagram's
// payload once.
func New(recs []sim.Record) *Trace {
	t := &Trace{
		Records: recs,
		byID:    make(map[int]*Datagram),
		byCall:  make(map[string][]*Datagram),
		steps:   make(map[string][]Step),
		byNote:  make(map[string][]*sim.Record),
		msgs:    newMessages(),
	}
	for i := range recs {
		r := &recs[i]
		if r.Kind == sim.Noted {
			t.notes = append(t.notes, r)
			// A note concerns the call its Flow names, or the call of the datagram it is
			// about (recorded before the note).
			if id := r.Flow; id != "" {
				t.byNote[id] = append(t.byNote[id], r)
			} else if d := t.byID[r.Datagram]; d != nil && d.CallID != "" {
				t.byNote[d.CallID] = append(t.byNote[d.CallID], r)
			}
		}
		if r.Datagram == 0 {
			continue
		}
		d := t.byID[r.Datagram]
		if d == nil {
			if r.Kind == sim.Noted {
				continue // about a datagram the capture does not hold
			}
			d = &Datagram{ID: r.Datagram, t: t, data: r.Data}
			if len(r.Data) > 0 {
				if m := t.msgs.parse(r.Data); m != nil {
					d.sip = true
					t.msgs.keep(d, m)
					// One string per call, not one per datagram holding on to its message's text.
					d.CallID = unique.Make(CallID(m)).Value()
				}
			}
			t.byID[r.Datagram] = d
			t.Datagrams = append(t.Datagrams, d)
			if d.CallID != "" {
				if _, seen := t.byCall[d.CallID]; !seen {
					t.callIDs = append(t.callIDs, d.CallID)
				}
				t.byCall[d.CallID] = append(t.byCall[d.CallID], d)
			}
		}
		switch r.Kind {
		case sim.Sent:
			d.Sent = r
		case sim.Translated:
			d.Xlat = append(d.Xlat, r)
			if d.Sent != nil && len(r.Data) > 0 && !bytes.Equal(r.Data, d.Sent.Data) && (d.ALG == nil || !bytes.Equal(r.Data, d.ALG.Data)) {
				d.ALG = r
				d.arrived.Store(nil)
			}
		case sim.Delivered, sim.Dropped:
			d.End = r
		case sim.Noted:
			d.Notes = append(d.Notes, r)
		}
		if d.CallID != "" && r.Kind != sim.Noted {
			t.steps[d.CallID] = append(t.steps[d.CallID], Step{Record: r, D: d})
		}
	}
	return t
}

// Datagram returns the datagram with the capture's id, or nil.
func (t *Trace) Datagram(id int) *Datagram { return t.byID[id] }

// CallIDs returns the Call-IDs of the capture's SIP messages in the order they first
// appear.
func (t *Trace) CallIDs() []string { return t.callIDs }

// Call returns the datagrams of one call (every SIP message with its Call-ID), in the
// order of their first record.
func (t *Trace) Call(callID string) []*Datagram { return t.byCall[callID] }

// Steps returns every record of one call's datagrams (sent, translated, delivered,
// dropped) in Seq order, each with its datagram.
func (t *Trace) Steps(callID string) []Step { return t.steps[callID] }

// Notes returns the Noted records of one call: those whose Flow is the Call-ID and
// those about one of its datagrams, in Seq order.
func (t *Trace) Notes(callID string) []*sim.Record { return t.byNote[callID] }

// AllNotes returns every Noted record, in Seq order.
func (t *Trace) AllNotes() []*sim.Record { return t.notes }
