package trace

import (
	"sync/atomic"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// Datagram is one datagram of the capture with everything that happened to it. It keeps
// where its records are in the Trace's log, not the records: Sent, End, ALG, Xlat and
// Notes decode them from the log on each call, into values of the caller's.
type Datagram struct {
	ID     int
	CallID string // its SIP message's Call-ID; "" without one

	t *Trace // whose log holds its records and whose cache its parsed message
	// Indexes in the log: first is its first record (whose payload is the datagram's),
	// last its latest (the end of its chain in Trace.next); sent, end and alg are its
	// Sent record, its Delivered or Dropped one, and the Translated one of the NAT
	// whose ALG last rewrote the payload, each -1 when none.
	first, last, sent, end, alg int32
	flags                       flags
	msg                         atomic.Pointer[parsed] // the parsed message while the cache keeps it
	arrived                     atomic.Pointer[parsed] // the ALG's payload parsed, while the cache keeps it
}

// flags are what a Datagram knows of itself without decoding a record.
type flags uint8

const (
	isSIP       flags = 1 << iota // its payload parses as a SIP message
	isDelivered                   // its end is a Delivered record
	isDropped                     // its end is a Dropped record
)

// parsed is a datagram's parsed SIP message.
type parsed struct{ m sip.Message }

// head decodes record i of the log without its Data; nil for i < 0.
func (d *Datagram) head(i int32) *sim.Record {
	if i < 0 {
		return nil
	}
	r := d.t.log.Head(int(i))
	return &r
}

// Sent returns where and how the datagram was written (its Data nil: see Payload); nil
// when the capture lacks it. The record is decoded anew for each call and is the
// caller's.
func (d *Datagram) Sent() *sim.Record { return d.head(d.sent) }

// End returns the datagram's Delivered or Dropped record (Data nil); nil when neither
// was recorded.
func (d *Datagram) End() *sim.Record { return d.head(d.end) }

// ALG returns the Translated record (Data nil) of the NAT whose application-level
// gateway rewrote the payload (ReceivedPayload is the payload after), nil when no NAT
// changed it.
func (d *Datagram) ALG() *sim.Record { return d.head(d.alg) }

// HasALG reports whether a NAT's ALG rewrote the payload, without decoding a record.
func (d *Datagram) HasALG() bool { return d.alg >= 0 }

// SentIndex returns the index in the log of its Sent record, -1 when it has none, so
// that a reader going through the log tells that record without decoding it again.
func (d *Datagram) SentIndex() int { return int(d.sent) }

// Payload returns the datagram's payload as its first record holds it (as sent). It is
// shared and must not be modified.
func (d *Datagram) Payload() []byte { return d.t.log.At(int(d.first)).Data }

// ReceivedPayload returns the payload as the ALG of the last NAT that rewrote it left
// it, else Payload.
func (d *Datagram) ReceivedPayload() []byte {
	if d.alg < 0 {
		return d.Payload()
	}
	return d.t.log.At(int(d.alg)).Data
}

// records returns its records of kind k, in Seq order, Data nil.
func (d *Datagram) records(k sim.Kind) []sim.Record {
	var out []sim.Record
	for i := d.first; ; i = d.t.next[i] {
		if d.t.Kind(int(i)) == k {
			out = append(out, d.t.log.Head(int(i)))
		}
		if d.t.next[i] == 0 {
			return out
		}
	}
}

// Xlat returns its NAT translations (Translated records, Data nil), in order.
func (d *Datagram) Xlat() []sim.Record { return d.records(sim.Translated) }

// Notes returns what the receiving actor noted about it (Noted records), in order.
func (d *Datagram) Notes() []sim.Record { return d.records(sim.Noted) }

// Message returns the datagram's SIP message, parsed from its payload; nil when the
// payload is none (a CRLF keep-alive, garbage). The message is shared by every caller
// and must not be modified. Messages are not kept with the datagrams: a bounded cache
// holds the latest ones (see [Trace]), so a Message no longer cached is parsed again.
func (d *Datagram) Message() sip.Message {
	if d.flags&isSIP == 0 {
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
	if d.alg < 0 {
		return d.Message()
	}
	if p := d.arrived.Load(); p != nil {
		return p.m
	}
	return d.t.msgs.loadArrived(d)
}

// Delivered reports whether the datagram reached a host.
func (d *Datagram) Delivered() bool { return d.flags&isDelivered != 0 }

// Dropped reports whether the datagram died on the way.
func (d *Datagram) Dropped() bool { return d.flags&isDropped != 0 }

// Sender is the host that wrote the datagram; "" when the capture lacks its Sent record.
func (d *Datagram) Sender() string {
	if d.sent < 0 {
		return ""
	}
	return d.t.log.Head(int(d.sent)).Hop
}
