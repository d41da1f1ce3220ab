package sim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"
)

// SpillConfig says when a capture's payloads go to a file instead of memory. Its zero
// value keeps the first 64 MiB of payloads of a [Log] in memory and the rest in a file
// in os.TempDir().
//
// The file is created with os.CreateTemp and removed at once, so nothing is left
// behind even if the process is killed; the open file is all there is of it until the
// Log is closed (or garbage). It is written through a buffer and read back with
// ReadAt, not mapped, so its pages do not count as the process's memory.
type SpillConfig struct {
	// Above is the number of payload bytes a Log keeps in memory before it writes
	// further payloads to its file. 0: 64 MiB; negative: never spill.
	Above int64
	// Dir is where the file is made; "": os.TempDir().
	Dir string
}

// DefaultSpillAbove is the number of payload bytes a Log keeps in memory when
// [SpillConfig].Above is 0.
const DefaultSpillAbove = 64 << 20

// payloadChunk is the size of a chunk of the payload arena; a larger payload gets a
// chunk of its own.
const payloadChunk = 1 << 20

// maxOpen bounds the datagrams whose latest payload payloads remembers: a datagram is
// forgotten when it is delivered or dropped, and all are when the bound is reached (a
// datagram lost on the way, one delivered after its Log was taken).
const maxOpen = 1 << 14

// spillBuffer is the size of the spill file's write buffer.
const spillBuffer = 64 << 10

// payloads holds a Log's payloads: in an arena up to cfg.Above bytes, then in the spill
// file. The records of one datagram that carry the same payload share one copy.
type payloads struct {
	cfg  SpillConfig
	mem  arena
	open map[uint32]openPayload // by datagram id: its latest stored payload

	file   *os.File      // the spill file, nil before the first spilled payload
	w      *bufio.Writer // buffers writes to file
	size   int64         // bytes handed to w
	broken bool          // creating or writing the file failed: keep payloads in memory
	frozen bool          // no more writes: readers must not flush

	mu     sync.Mutex // guards err and closed
	err    error
	closed bool
}

// openPayload is where the latest payload of a datagram was stored, with the address
// and length of the slice it came from.
type openPayload struct {
	ptr     uintptr
	n       int
	ref     uint64
	spilled bool
}

// put stores b, the payload of a record of kind k of datagram dg, or finds the copy
// stored for the same datagram's previous record, and returns where it is. With own
// set, b is the caller's to reuse and put returns a copy for the datagram to carry (the
// one in the arena if there is one), which the datagram's next records are known by;
// else it returns b.
func (p *payloads) put(dg uint32, k Kind, b []byte, own bool) (ref uint64, spilled bool, kept []byte) {
	if len(b) == 0 {
		return 0, false, b
	}
	ptr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if dg != 0 && !own {
		if o, ok := p.open[dg]; ok && o.n == len(b) && (o.ptr == ptr || !o.spilled && bytes.Equal(p.mem.at(o.ref>>lenBits, o.n, payloadChunk), b)) {
			p.end(dg, k)
			return o.ref, o.spilled, b
		}
	}
	ref, spilled = p.store(b)
	kept = b
	if own {
		if spilled {
			kept = bytes.Clone(b)
		} else {
			kept = p.mem.at(ref>>lenBits, len(b), payloadChunk)
		}
		ptr = uintptr(unsafe.Pointer(unsafe.SliceData(kept)))
	}
	if dg != 0 {
		if p.open == nil || len(p.open) >= maxOpen {
			p.open = make(map[uint32]openPayload)
		}
		p.open[dg] = openPayload{ptr: ptr, n: len(b), ref: ref, spilled: spilled}
		p.end(dg, k)
	}
	return ref, spilled, kept
}

// end forgets datagram dg if a record of kind k is its last.
func (p *payloads) end(dg uint32, k Kind) {
	if k == Delivered || k == Dropped {
		delete(p.open, dg)
	}
}

// store copies b into the arena or, beyond the threshold, the spill file.
func (p *payloads) store(b []byte) (ref uint64, spilled bool) {
	above := p.cfg.Above
	if above == 0 {
		above = DefaultSpillAbove
	}
	if above > 0 && !p.broken && p.mem.used+int64(len(b)) > above {
		if ref, ok := p.spill(b); ok {
			return ref, true
		}
	}
	pos, dst := p.mem.alloc(len(b), payloadChunk)
	copy(dst, b)
	return pos<<lenBits | uint64(len(b)), false
}

// spill appends b to the spill file, creating it first, and reports false if that
// failed (the error is kept, and later payloads stay in memory).
func (p *payloads) spill(b []byte) (uint64, bool) {
	if p.file == nil {
		f, err := os.CreateTemp(p.cfg.Dir, "sipnatlab-capture-*")
		if err != nil {
			p.fail(fmt.Errorf("spill capture payloads: %w", err))
			p.broken = true
			return 0, false
		}
		if err := os.Remove(f.Name()); err != nil {
			p.fail(fmt.Errorf("spill capture payloads: unlink the file: %w", err))
		}
		p.file, p.w = f, bufio.NewWriterSize(f, spillBuffer)
	}
	if _, err := p.w.Write(b); err != nil {
		p.fail(fmt.Errorf("spill capture payloads: write %s: %w", p.file.Name(), err))
		p.broken = true
		return 0, false
	}
	pos := p.size
	p.size += int64(len(b))
	return uint64(pos)<<lenBits | uint64(len(b)), true
}

// get returns the payload at ref: a slice of the arena, or read from the spill file
// into a new one (nil if that fails).
func (p *payloads) get(ref uint64, spilled bool) []byte {
	n := int(ref & lenMask)
	if n == 0 {
		return []byte{}
	}
	pos := ref >> lenBits
	if !spilled {
		return p.mem.at(pos, n, payloadChunk)
	}
	if !p.frozen && !p.broken && int64(pos)+int64(n) > p.size-int64(p.w.Buffered()) {
		if err := p.w.Flush(); err != nil {
			p.fail(fmt.Errorf("spill capture payloads: write %s: %w", p.file.Name(), err))
			p.broken = true
		}
	}
	b := make([]byte, n)
	if _, err := p.file.ReadAt(b, int64(pos)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		p.fail(fmt.Errorf("read a spilled payload of %d bytes at %d of %s: %w", n, pos, p.file.Name(), err))
		return nil
	}
	return b
}

// freeze writes what is buffered; no write follows.
func (p *payloads) freeze() {
	if p.w != nil && !p.broken {
		if err := p.w.Flush(); err != nil {
			p.fail(fmt.Errorf("spill capture payloads: write %s: %w", p.file.Name(), err))
			p.broken = true
		}
	}
	p.frozen = true
	p.open = nil
}

func (p *payloads) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *payloads) error() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *payloads) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.file == nil {
		p.closed = true
		return nil
	}
	p.closed = true
	if err := p.file.Close(); err != nil {
		return fmt.Errorf("close capture spill file %s: %w", p.file.Name(), err)
	}
	return nil
}

// bytes returns the payload bytes held in memory and in the file.
func (p *payloads) bytes() (mem, file int64) { return p.mem.used, p.size }

// arena holds bytes in chunks of a fixed size (a power of two), never reallocated, so
// slices of it stay valid and it holds no pointers. A position is chunk index × size +
// offset; a request larger than the size gets a chunk of its own, at offset 0.
type arena struct {
	chunks [][]byte
	used   int64 // bytes handed out
}

// alloc returns the position of n new bytes and the slice (length n) to fill them in.
func (a *arena) alloc(n, size int) (uint64, []byte) {
	k := len(a.chunks) - 1
	if k < 0 || len(a.chunks[k])+n > cap(a.chunks[k]) {
		a.chunks = append(a.chunks, make([]byte, 0, max(n, size)))
		k++
	}
	c := a.chunks[k]
	off := len(c)
	a.chunks[k] = c[:off+n]
	a.used += int64(n)
	return uint64(k)*uint64(size) + uint64(off), c[off : off+n : off+n]
}

// at returns the n bytes at pos.
func (a *arena) at(pos uint64, n, size int) []byte {
	c := a.chunks[pos/uint64(size)]
	off := int(pos % uint64(size))
	return c[off : off+n : off+n]
}
