// Package trace groups a run's capture into datagrams once, each with the records of
// its way through the network and its SIP message parsed, indexed by Call-ID. It is
// the one model the judge and every report read, so none of them regroups the capture.
package trace

import (
	"bytes"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// Datagram is one datagram of the capture with everything that happened to it.
type Datagram struct {
	ID    int
	Sent  *sim.Record   // where and how it was written; nil when the capture lacks it
	Xlat  []*sim.Record // NAT translations, in order
	End   *sim.Record   // Delivered or Dropped; nil when neither was recorded
	Notes []*sim.Record // what the receiving actor noted about it (Noted records)
	// Msg is the parsed SIP message; nil when the payload is none (a CRLF keep-alive,
	// garbage).
	Msg    sip.Message
	CallID string // Msg's Call-ID; "" without one
	// ALG is the Translated record of the NAT whose application-level gateway rewrote
	// the payload (its Data is the payload after), nil when no NAT changed it; Arrived is
	// that payload parsed, nil when it no longer parses.
	ALG     *sim.Record
	Arrived sip.Message
}

// Received is the message as it reached its receiver: Arrived when a NAT's ALG rewrote
// the payload, else Msg.
func (d *Datagram) Received() sip.Message {
	if d.ALG != nil {
		return d.Arrived
	}
	return d.Msg
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
type Trace struct {
	Records   []sim.Record // the capture, in Seq order
	Datagrams []*Datagram  // in the order of their first record

	byID    map[int]*Datagram
	byCall  map[string][]*Datagram
	steps   map[string][]Step
	callIDs []string                 // in the order of their first datagram
	notes   []*sim.Record            // every Noted record, in order
	byNote  map[string][]*sim.Record // Noted records by the Call-ID they concern
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
	}
	p := sip.NewParser()
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
			d = &Datagram{ID: r.Datagram}
			if len(r.Data) > 0 {
				if m, err := p.ParseSIP(r.Data); err == nil {
					d.Msg = m
					d.CallID = CallID(m)
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
				d.ALG, d.Arrived = r, nil
				if m, err := p.ParseSIP(r.Data); err == nil {
					d.Arrived = m
				}
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
