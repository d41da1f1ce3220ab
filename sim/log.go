package sim

import (
	"bytes"
	"iter"
	"time"
)

// Log is a capture's records in Seq order, once the run that made them has ended
// ([Capture.Take]) or as read back from a file ([LogOf]). It is what a run keeps of
// everything that happened, so it keeps records compactly rather than as [Record]
// values: At decodes one when asked.
//
// Each record is packed into 40 pointer-free bytes: its Seq is implied by its position,
// its time is nanoseconds, and its hop, endpoints, translation and note (Cause, Reason,
// Flow) are indexes into tables that hold each distinct value once. The records of one
// datagram share one copy of its payload (a NAT's ALG that rewrites it makes a second),
// held in pointer-free arenas; beyond [SpillConfig].Above bytes of them, further
// payloads go to an unlinked temporary file, read back when At asks for them. The
// packed records and the tables stay in memory: Head and a scan of a Log never touch
// the file. A record that cannot be packed exactly (a Seq out of order, a time beyond
// the years 1678 to 2262 or in a second location, an IPv6 zone) is kept whole.
//
// A Log is read-only once made, so several goroutines may read it; Close releases what
// it holds (a spill file).
type Log struct {
	first int            // Seq of record 0
	loc   *time.Location // of the records' times; nil until the first record
	recs  [][]rec        // in chunks of recChunk, so appending never copies
	n     int
	odd   map[int]Record // the records kept whole, by index (flagOdd)

	hops  hops
	eps   endpoints
	xs    translations
	notes notes
	data  payloads
}

// newLog returns an empty Log whose first record will have Seq first.
func newLog(spill SpillConfig, first int) *Log {
	return &Log{first: first, data: payloads{cfg: spill}}
}

// LogOf makes a Log of recs (in Seq order); the Log does not keep recs itself. Records
// of one datagram with equal payloads share one copy. Beyond the default
// [SpillConfig] the payloads go to a file in os.TempDir().
func LogOf(recs []Record) *Log {
	l := newLog(SpillConfig{}, 1)
	if len(recs) > 0 {
		l.first = recs[0].Seq
	}
	for _, r := range recs {
		l.append(r, false)
	}
	l.freeze()
	return l
}

// Len returns the number of records.
func (l *Log) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// At returns record i (0-based, in Seq order), Data included. The Data and X are
// shared and must not be modified. A payload in the spill file is read back into a new
// slice; when that fails the record comes with Data nil and Err says why.
func (l *Log) At(i int) Record { return l.decode(i, true) }

// Head returns record i without its Data, which is cheaper than At when the Data lives
// in a spill file.
func (l *Log) Head(i int) Record { return l.decode(i, false) }

// All yields every record with its index, in Seq order, Data included.
func (l *Log) All() iter.Seq2[int, Record] {
	return func(yield func(int, Record) bool) {
		for i := range l.Len() {
			if !yield(i, l.At(i)) {
				return
			}
		}
	}
}

// Records returns every record in one slice (Data included), for small captures and
// tests: it costs a [Record] per record, which the Log avoids.
func (l *Log) Records() []Record {
	out := make([]Record, 0, l.Len())
	for _, r := range l.All() {
		out = append(out, r)
	}
	return out
}

// Err returns the first error of the spill file: creating, writing or reading it. Once
// one occurred, payloads stay in memory; those already handed to the file and not
// readable come back from At with Data nil. Err is nil for a Log that never spilled.
func (l *Log) Err() error {
	if l == nil {
		return nil
	}
	return l.data.error()
}

// PayloadBytes returns the payload bytes the Log holds in memory (its arenas) and in
// its spill file; a NAT ALG's rewrite of a payload counts as a payload of its own.
func (l *Log) PayloadBytes() (mem, file int64) {
	if l == nil {
		return 0, 0
	}
	return l.data.bytes()
}

// Close releases what the Log holds beyond memory (its spill file). The Log must not be
// read afterwards. It is safe to call more than once, and on a nil Log.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	return l.data.close()
}

// append adds r as the next record, packed when it can be packed exactly, and returns
// its Data. With own set, r.Data is the caller's to reuse: the Log keeps a copy and
// returns it (the one in its arena if there is one), for the datagram to carry on.
func (l *Log) append(r Record, own bool) []byte {
	i := l.n
	p, kept, ok := l.pack(i, r, own)
	if !ok {
		if l.odd == nil {
			l.odd = make(map[int]Record)
		}
		if own && r.Data != nil {
			r.Data = bytes.Clone(r.Data)
		}
		l.odd[i] = r
		p, kept = rec{kind: flagOdd}, r.Data
	}
	if len(l.recs) == 0 || len(l.recs[len(l.recs)-1]) == recChunk {
		l.recs = append(l.recs, make([]rec, 0, recChunk))
	}
	last := &l.recs[len(l.recs)-1]
	*last = append(*last, p)
	l.n++
	return kept
}

// freeze makes the Log read-only: what is buffered for the spill file is written, so
// that readers need no lock.
func (l *Log) freeze() { l.data.freeze() }

// pack encodes r, record i, stores its payload as append says, and reports whether it
// could do so exactly.
func (l *Log) pack(i int, r Record, own bool) (p rec, kept []byte, ok bool) {
	if r.Seq != l.first+i || r.Kind < 0 || r.Kind > kindMask || r.Datagram < 0 || int64(r.Datagram) > maxDatagramID || len(r.Data) > lenMask {
		return rec{}, nil, false
	}
	if l.loc == nil {
		l.loc = r.Time.Location()
	}
	ns := r.Time.UnixNano()
	if time.Unix(0, ns).In(l.loc) != r.Time {
		return rec{}, nil, false
	}
	p = rec{ns: ns, dg: uint32(r.Datagram), kind: uint8(r.Kind)}
	var ok1, ok2, ok3 bool
	p.src, ok1 = l.eps.put(r.Src)
	p.dst, ok2 = l.eps.put(r.Dst)
	p.x, ok3 = l.xs.put(&l.eps, r.X)
	if !ok1 || !ok2 || !ok3 {
		return rec{}, nil, false
	}
	if p.hop, ok = l.hops.put(r.Hop); !ok {
		return rec{}, nil, false
	}
	if p.note, ok = l.notes.put(r.Cause, r.Reason, r.Flow); !ok {
		return rec{}, nil, false
	}
	if r.Data != nil {
		p.kind |= flagData
		var spilled bool
		p.data, spilled, kept = l.data.put(p.dg, r.Kind, r.Data, own)
		if spilled {
			p.kind |= flagSpilled
		}
	}
	return p, kept, true
}

// decode unpacks record i, with its Data if data is set.
func (l *Log) decode(i int, data bool) Record {
	p := l.recs[i/recChunk][i%recChunk]
	if p.kind&flagOdd != 0 {
		r := l.odd[i]
		if !data {
			r.Data = nil
		}
		return r
	}
	r := Record{
		Seq:      l.first + i,
		Datagram: int(p.dg),
		Time:     time.Unix(0, p.ns).In(l.loc),
		Kind:     Kind(p.kind & kindMask),
		Hop:      l.hops.names[p.hop],
		Src:      l.eps.get(p.src),
		Dst:      l.eps.get(p.dst),
		X:        l.xs.get(p.x),
	}
	r.Cause, r.Reason, r.Flow = l.notes.get(p.note)
	if data && p.kind&flagData != 0 {
		r.Data = l.data.get(p.data, p.kind&flagSpilled != 0)
	}
	return r
}
