// Package trace groups a run's capture into datagrams once, each with the records of
// its way through the network and its SIP message, indexed by Call-ID. It is the one
// model the judge and every report read, so none of them regroups the capture.
package trace

import (
	"bytes"
	"cmp"
	"iter"
	"math/bits"
	"slices"
	"unique"

	"github.com/sipnatlab/sipnatlab/sim"
)

// Step is one record of a call's datagrams with the datagram it belongs to.
type Step struct {
	sim.Record
	D *Datagram
}

// Trace is a capture ([sim.Log]) grouped by datagram and by call. It keeps where each
// datagram's records are in the log, not the records, and decodes them when asked: its
// own memory is a few dozen bytes per datagram. A Trace is read-only once made, so
// several goroutines may read it; the log must stay open while they do.
//
// A parsed SIP message takes several times the memory of its payload, so a Trace keeps
// at most cachedMessages of them (the latest asked for), not one per datagram: what it
// costs beyond the capture is bounded by its datagrams and calls, not their messages.
// Readers that go call by call, as the judge and the reports do, parse each message
// about once; a capture of at most cachedMessages datagrams is parsed exactly once.
type Trace struct {
	log *sim.Log
	dgs [][]Datagram // in the order of their first record, in chunks (see chunkOf) so that they never move
	n   int          // number of datagrams

	// next chains the records of each datagram: for record i of the log, the index of
	// the next record of its datagram, 0 for none (a later record's index is never 0).
	next    []int32
	kinds   []uint8            // each record's sim.Kind, so that readers skip records without decoding them
	dense   []int32            // datagram index + 1 by id, for ids below len(dense) (the network's 1..N)
	sparse  map[int]int32      // datagram index by id, for the others (a field capture's)
	byCall  map[string][]int32 // datagram indexes by Call-ID, in order
	callIDs []string           // in the order of their first datagram
	notes   []int32            // every Noted record, in order
	byNote  map[string][]int32 // Noted records by the Call-ID they concern
	msgs    *messages
}

// A Trace keeps its Datagrams in chunks of firstChunk, twice as many, four times ... up
// to chunkLen, then chunkLen each: a small capture costs little, a large one no copies.
const (
	firstChunk = 32
	chunkLen   = 1024
	geometric  = chunkLen - firstChunk // how many the growing chunks hold together
	nGeometric = 5                     // how many growing chunks there are: 32 << 5 == chunkLen
)

// chunkOf returns the chunk and the offset in it of datagram i.
func chunkOf(i int) (chunk, off int) {
	if i < geometric {
		chunk = bits.Len(uint(i/firstChunk+1)) - 1
		return chunk, i - firstChunk*(1<<chunk-1)
	}
	i -= geometric
	return nGeometric + i/chunkLen, i % chunkLen
}

// chunkSize returns how many datagrams chunk c holds.
func chunkSize(c int) int {
	if c < nGeometric {
		return firstChunk << c
	}
	return chunkLen
}

// New groups log (a capture, in Seq order) into a Trace, parsing every datagram's
// payload once. The Trace reads log whenever asked for a record, so log must not be
// closed while the Trace is in use.
func New(log *sim.Log) *Trace {
	n := log.Len()
	t := &Trace{
		log:    log,
		next:   make([]int32, n),
		kinds:  make([]uint8, n),
		byCall: make(map[string][]int32),
		byNote: make(map[string][]int32),
		msgs:   newMessages(),
	}
	pc := &payloadCache{log: log, i: [2]int32{-1, -1}}
	for i := range n {
		r := log.Head(i)
		t.kinds[i] = uint8(r.Kind)
		if r.Kind == sim.Noted {
			t.notes = append(t.notes, int32(i))
			// A note concerns the call its Flow names, or the call of the datagram it is
			// about (recorded before the note).
			if id := r.Flow; id != "" {
				t.byNote[id] = append(t.byNote[id], int32(i))
			} else if d := t.Datagram(r.Datagram); d != nil && d.CallID != "" {
				t.byNote[d.CallID] = append(t.byNote[d.CallID], int32(i))
			}
		}
		if r.Datagram == 0 {
			continue
		}
		d := t.Datagram(r.Datagram)
		if d == nil {
			if r.Kind == sim.Noted {
				continue // about a datagram the capture does not hold
			}
			d = t.add(r.Datagram, int32(i), pc.at(int32(i)))
		} else {
			t.next[d.last] = int32(i)
			d.last = int32(i)
		}
		switch r.Kind {
		case sim.Sent:
			d.sent = int32(i)
		case sim.Translated:
			if d.sent < 0 {
				break
			}
			data := log.At(i).Data
			if len(data) > 0 && !bytes.Equal(data, pc.at(d.sent)) && (d.alg < 0 || !bytes.Equal(data, pc.at(d.alg))) {
				d.alg = int32(i)
				d.arrived.Store(nil)
			}
		case sim.Delivered:
			d.end, d.flags = int32(i), d.flags&^isDropped|isDelivered
		case sim.Dropped:
			d.end, d.flags = int32(i), d.flags&^isDelivered|isDropped
		}
	}
	return t
}

// payloadCache holds the payloads of the two records of a log read last: New compares a
// translated payload with its datagram's as sent, which it has just read (the records of
// one datagram's way through the network come together), and a read may cost a file read.
type payloadCache struct {
	log  *sim.Log
	i    [2]int32
	data [2][]byte
	next int // the entry to replace
}

func (c *payloadCache) at(i int32) []byte {
	for k := range c.i {
		if c.i[k] == i {
			return c.data[k]
		}
	}
	c.i[c.next], c.data[c.next] = i, c.log.At(int(i)).Data
	c.next = 1 - c.next
	return c.data[1-c.next]
}

// add makes the datagram with id whose first record is record i, with payload data.
func (t *Trace) add(id int, i int32, data []byte) *Datagram {
	c, off := chunkOf(t.n)
	if c == len(t.dgs) {
		t.dgs = append(t.dgs, make([]Datagram, chunkSize(c)))
	}
	di := int32(t.n)
	d := &t.dgs[c][off]
	t.n++
	*d = Datagram{ID: id, t: t, first: i, last: i, sent: -1, end: -1, alg: -1}
	// Ids of the network are 1..N in order: a slice indexed by id holds them, one int32
	// each; ids far beyond the records' count (a field capture's) go into a map.
	switch {
	case id >= 0 && id < len(t.dense):
		t.dense[id] = di + 1
	case id >= 0 && id <= 2*len(t.next)+64:
		t.dense = slices.Grow(t.dense, id+1-len(t.dense))[:id+1]
		t.dense[id] = di + 1
	default:
		if t.sparse == nil {
			t.sparse = make(map[int]int32)
		}
		t.sparse[id] = di
	}
	if len(data) > 0 {
		if m := t.msgs.parse(data); m != nil {
			d.flags |= isSIP
			t.msgs.keep(d, m)
			// One string per call, not one per datagram holding on to its message's text.
			d.CallID = unique.Make(CallID(m)).Value()
		}
	}
	if d.CallID != "" {
		if _, seen := t.byCall[d.CallID]; !seen {
			t.callIDs = append(t.callIDs, d.CallID)
		}
		t.byCall[d.CallID] = append(t.byCall[d.CallID], di)
	}
	return d
}

// at returns datagram i (in the order of their first record).
func (t *Trace) at(i int32) *Datagram {
	c, off := chunkOf(int(i))
	return &t.dgs[c][off]
}

// Log returns the capture the Trace groups.
func (t *Trace) Log() *sim.Log { return t.log }

// Len returns the number of datagrams.
func (t *Trace) Len() int { return t.n }

// Datagrams yields every datagram in the order of its first record.
func (t *Trace) Datagrams() iter.Seq[*Datagram] {
	return func(yield func(*Datagram) bool) {
		for i := range t.n {
			if !yield(t.at(int32(i))) {
				return
			}
		}
	}
}

// Datagram returns the datagram with the capture's id, or nil.
func (t *Trace) Datagram(id int) *Datagram {
	if id >= 0 && id < len(t.dense) {
		if i := t.dense[id]; i > 0 {
			return t.at(i - 1)
		}
		return nil
	}
	if i, ok := t.sparse[id]; ok {
		return t.at(i)
	}
	return nil
}

// Kind returns the kind of record i of the log without decoding it.
func (t *Trace) Kind(i int) sim.Kind { return sim.Kind(t.kinds[i]) }

// Next returns the index in the log of the record of record i's datagram that follows
// it; -1 for a datagram's last record and for a record of no datagram.
func (t *Trace) Next(i int) int {
	if n := t.next[i]; n != 0 {
		return int(n)
	}
	return -1
}

// CallIDs returns the Call-IDs of the capture's SIP messages in the order they first
// appear.
func (t *Trace) CallIDs() []string { return t.callIDs }

// Call returns the datagrams of one call (every SIP message with its Call-ID), in the
// order of their first record, in a slice of the caller's.
func (t *Trace) Call(callID string) []*Datagram {
	idx := t.byCall[callID]
	out := make([]*Datagram, len(idx))
	for k, i := range idx {
		out[k] = t.at(i)
	}
	return out
}

// Steps returns every record of one call's datagrams (sent, translated, delivered,
// dropped, binding events) in Seq order, each with its datagram, decoded from the log
// (Data nil) into a slice of the caller's.
func (t *Trace) Steps(callID string) []Step {
	type at struct {
		i int32
		d *Datagram
	}
	var idx []at
	for _, di := range t.byCall[callID] {
		d := t.at(di)
		for i := d.first; ; i = t.next[i] {
			idx = append(idx, at{i, d})
			if t.next[i] == 0 {
				break
			}
		}
	}
	slices.SortFunc(idx, func(a, b at) int { return cmp.Compare(a.i, b.i) })
	out := make([]Step, 0, len(idx))
	for _, x := range idx {
		if t.Kind(int(x.i)) != sim.Noted {
			out = append(out, Step{Record: t.log.Head(int(x.i)), D: x.d})
		}
	}
	return out
}

// Notes returns the Noted records of one call: those whose Flow is the Call-ID and
// those about one of its datagrams, in Seq order, decoded from the log.
func (t *Trace) Notes(callID string) []sim.Record { return t.heads(t.byNote[callID]) }

// AllNotes returns every Noted record, in Seq order, decoded from the log.
func (t *Trace) AllNotes() []sim.Record { return t.heads(t.notes) }

// heads decodes the records at idx without their Data.
func (t *Trace) heads(idx []int32) []sim.Record {
	if len(idx) == 0 {
		return nil
	}
	out := make([]sim.Record, len(idx))
	for k, i := range idx {
		out[k] = t.log.Head(int(i))
	}
	return out
}
