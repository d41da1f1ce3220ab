package sim

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"net/netip"
	"unsafe"
)

// rec is a [Record] packed for a [Log]: 40 bytes, no pointers, so the collector never
// scans a Log's records. Its Seq is implied by its position in the Log.
type rec struct {
	ns   int64  // Time.UnixNano()
	data uint64 // where the payload is: position<<lenBits | length (flagData)
	dg   uint32 // Datagram
	src  uint32 // endpoint indexes
	dst  uint32
	x    uint32 // translation index, 0 for X nil
	note uint32 // note index, 0 for no Cause, Reason or Flow
	hop  uint16 // hop name index
	kind uint8  // Kind in the low bits, then the flags below
}

// recChunk is the number of records per chunk of a Log (160 KiB).
const recChunk = 4096

// The flags in rec.kind above the Kind.
const (
	kindMask    = 1<<3 - 1
	flagData    = 1 << 3 // Data is not nil
	flagSpilled = 1 << 4 // the payload is in the spill file
	flagOdd     = 1 << 5 // the record is kept whole in Log.odd
)

const (
	lenBits       = 24 // of a payload or note reference, the rest its position
	lenMask       = 1<<lenBits - 1
	maxDatagramID = math.MaxUint32
)

// maxInterned bounds the maps that find a value already in a table (endpoints,
// translations, notes): when one is full it is emptied, and values seen again are added
// to the table again. Tables hold what they hold; only finding duplicates is bounded.
const maxInterned = 1 << 15

// remember records that key k finds index i in the bounded map *m, emptying the map
// first when it is full (see maxInterned).
func remember[K comparable](m *map[K]uint32, k K, i uint32) {
	if *m == nil || len(*m) >= maxInterned {
		*m = make(map[K]uint32)
	}
	(*m)[k] = i
}

// hops is the table of hop names.
type hops struct {
	names []string
	index map[string]uint16
}

// put returns the index of name, adding it if new, or false if the table is full.
func (h *hops) put(name string) (uint16, bool) {
	if i, ok := h.index[name]; ok {
		return i, true
	}
	if len(h.names) > math.MaxUint16 {
		return 0, false
	}
	if h.index == nil {
		h.index = make(map[string]uint16)
	}
	i := uint16(len(h.names))
	h.names = append(h.names, name)
	h.index[name] = i
	return i, true
}

// endpoint is a netip.AddrPort without its pointer (the zone): 16 bytes of address,
// the port and the family (0 for no address, 4 or 6).
type endpoint struct {
	addr   [16]byte
	port   uint16
	family uint8
}

func endpointOf(ap netip.AddrPort) endpoint {
	e := endpoint{addr: ap.Addr().As16(), port: ap.Port()}
	switch a := ap.Addr(); {
	case a.Is4():
		e.family = 4
	case a.Is6():
		e.family = 6
	}
	return e
}

func (e endpoint) addrPort() netip.AddrPort {
	var a netip.Addr
	switch e.family {
	case 4:
		a = netip.AddrFrom16(e.addr).Unmap()
	case 6:
		a = netip.AddrFrom16(e.addr)
	}
	return netip.AddrPortFrom(a, e.port)
}

// endpoints is the table of endpoints; index 0 is the zero AddrPort. IPv4 endpoints,
// nearly all of them, are found by a 64-bit key, the others by their whole value.
type endpoints struct {
	list  []endpoint // index i+1
	index map[uint64]uint32
	other map[endpoint]uint32
}

// put returns the index of ap, adding it if new, or false if ap cannot be kept exactly
// (it has a zone).
func (t *endpoints) put(ap netip.AddrPort) (uint32, bool) {
	if ap == (netip.AddrPort{}) {
		return 0, true
	}
	if a := ap.Addr(); a.Is4() {
		b := a.As4()
		k := uint64(binary.BigEndian.Uint32(b[:]))<<16 | uint64(ap.Port())
		if i, ok := t.index[k]; ok {
			return i, true
		}
		i, ok := t.add(ap)
		if ok {
			remember(&t.index, k, i)
		}
		return i, ok
	}
	e := endpointOf(ap)
	if i, ok := t.other[e]; ok {
		return i, true
	}
	i, ok := t.add(ap)
	if ok {
		remember(&t.other, e, i)
	}
	return i, ok
}

// add appends ap to the list, if it can be kept exactly.
func (t *endpoints) add(ap netip.AddrPort) (uint32, bool) {
	e := endpointOf(ap)
	if e.addrPort() != ap || len(t.list) >= math.MaxUint32-1 {
		return 0, false
	}
	t.list = append(t.list, e)
	return uint32(len(t.list)), true
}

func (t *endpoints) get(i uint32) netip.AddrPort {
	if i == 0 {
		return netip.AddrPort{}
	}
	return t.list[i-1].addrPort()
}

// translations is the table of distinct [Translation] values, each allocated once and
// shared by the records that have it; index 0 is X nil.
type translations struct {
	list  []*Translation // index i+1
	index map[[2]uint32]uint32
}

// put returns the index of x, adding it if new, with its endpoints in eps.
func (t *translations) put(eps *endpoints, x *Translation) (uint32, bool) {
	if x == nil {
		return 0, true
	}
	s, ok1 := eps.put(x.Src)
	d, ok2 := eps.put(x.Dst)
	if !ok1 || !ok2 || len(t.list) >= math.MaxUint32-1 {
		return 0, false
	}
	k := [2]uint32{s, d}
	if i, ok := t.index[k]; ok {
		return i, true
	}
	t.list = append(t.list, &Translation{Src: x.Src, Dst: x.Dst})
	i := uint32(len(t.list))
	remember(&t.index, k, i)
	return i, true
}

func (t *translations) get(i uint32) *Translation {
	if i == 0 {
		return nil
	}
	return t.list[i-1]
}

// notes is the table of distinct (Cause, Reason, Flow) triples, index 0 the empty one.
// Their bytes lie in a pointer-free arena, as varint-prefixed strings; the strings a
// decoded record holds point into it (the arena is never written twice).
type notes struct {
	text  arena
	refs  []uint64 // index i+1: position<<lenBits | length in text
	seed  maphash.Seed
	index map[uint64]uint32 // by hash of the triple
}

// noteChunk is the size of a chunk of the notes' arena.
const noteChunk = 64 << 10

func (t *notes) put(cause Cause, reason, flow string) (uint32, bool) {
	if cause == "" && reason == "" && flow == "" {
		return 0, true
	}
	if t.index == nil {
		t.seed = maphash.MakeSeed()
	}
	var h maphash.Hash
	h.SetSeed(t.seed)
	for _, s := range [...]string{string(cause), reason, flow} {
		var n [binary.MaxVarintLen64]byte
		_, _ = h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		_, _ = h.WriteString(s)
	}
	sum := h.Sum64()
	if i, ok := t.index[sum]; ok {
		if c, r, f := t.get(i); c == cause && r == reason && f == flow {
			return i, true
		}
	}
	size := 3*binary.MaxVarintLen64 + len(cause) + len(reason) + len(flow)
	if size > lenMask || len(t.refs) >= math.MaxUint32-1 {
		return 0, false
	}
	var buf [3 * binary.MaxVarintLen64]byte
	head := 0
	for _, s := range [...]string{string(cause), reason, flow} {
		head += binary.PutUvarint(buf[head:], uint64(len(s)))
	}
	size = head + len(cause) + len(reason) + len(flow)
	pos, b := t.text.alloc(size, noteChunk)
	b = append(b[:0], buf[:head]...)
	b = append(b, cause...)
	b = append(b, reason...)
	_ = append(b, flow...)
	t.refs = append(t.refs, pos<<lenBits|uint64(size))
	i := uint32(len(t.refs))
	remember(&t.index, sum, i)
	return i, true
}

func (t *notes) get(i uint32) (cause Cause, reason, flow string) {
	if i == 0 {
		return "", "", ""
	}
	ref := t.refs[i-1]
	b := t.text.at(ref>>lenBits, int(ref&lenMask), noteChunk)
	var lens [3]int
	for k := range lens {
		n, w := binary.Uvarint(b)
		lens[k], b = int(n), b[w:]
	}
	str := func(n int) string {
		if n == 0 {
			return ""
		}
		s := unsafe.String(&b[0], n)
		b = b[n:]
		return s
	}
	return Cause(str(lens[0])), str(lens[1]), str(lens[2])
}
