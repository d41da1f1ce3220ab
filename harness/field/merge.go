package field

import (
	"errors"
	"io"
)

// merger yields the packets of several files in time order; packets of equal time
// keep the order of their files and, within a file, their own.
type merger struct {
	files []*File
	heads []*Packet
	errs  []error // a file's error that ended it (truncation, damage)
}

func newMerger(files []*File) *merger {
	m := &merger{files: files, heads: make([]*Packet, len(files))}
	for i := range files {
		m.advance(i)
	}
	return m
}

func (m *merger) advance(i int) {
	m.heads[i] = nil
	if m.files[i] == nil {
		return
	}
	p, err := m.files[i].Next()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			m.errs = append(m.errs, err)
		}
		m.files[i] = nil
		return
	}
	m.heads[i] = &p
}

// next returns the earliest packet of all files; false when all are done.
func (m *merger) next() (Packet, bool) {
	best := -1
	for i, h := range m.heads {
		if h != nil && (best < 0 || h.Time.Before(m.heads[best].Time)) {
			best = i
		}
	}
	if best < 0 {
		return Packet{}, false
	}
	p := *m.heads[best]
	m.advance(best)
	return p, true
}
