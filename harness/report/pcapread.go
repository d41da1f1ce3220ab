package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// The prefixes of the machine-readable comments of a capture WritePcap writes.
const (
	runPrefix     = "sipnatlab-run "
	recordsPrefix = "sipnatlab-records "
)

// pcapFormat is the version of the run and record comments; ReadPcap refuses others.
const pcapFormat = 1

// ErrNotOurs is wrapped by ReadPcap for a file that is no capture written by WritePcap
// (a capture taken in the field, or one from an older format).
var ErrNotOurs = errors.New("not a capture written by sipnatlab run --pcap")

// runMeta is the "sipnatlab-run" comment: what the judge needs besides the records.
type runMeta struct {
	Format   int                `json:"format"`
	Scenario *scenario.Scenario `json:"scenario"`
	Clock    harness.ClockMode  `json:"clock"`
	Seed     uint64             `json:"seed"`
	Start    time.Time          `json:"start"`
	End      time.Time          `json:"end"`
	Real     map[string]string  `json:"real,omitempty"`
	Error    string             `json:"error,omitempty"`
	// Tail are the records after the last packet (binding expiries, notes).
	Tail []recordJSON `json:"tail,omitempty"`
}

// recordJSON is a sim.Record without its payload, which is the packet's.
type recordJSON struct {
	Seq      int            `json:"seq"`
	Datagram int            `json:"dg,omitempty"`
	Time     time.Time      `json:"t"`
	Kind     string         `json:"kind"`
	Hop      string         `json:"hop"`
	Src      netip.AddrPort `json:"src,omitzero"`
	Dst      netip.AddrPort `json:"dst,omitzero"`
	XSrc     netip.AddrPort `json:"xsrc,omitzero"`
	XDst     netip.AddrPort `json:"xdst,omitzero"`
	Cause    sim.Cause      `json:"cause,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Flow     string         `json:"flow,omitempty"`
}

func toJSON(r sim.Record) recordJSON {
	return recordJSON{Seq: r.Seq, Datagram: r.Datagram, Time: r.Time, Kind: r.Kind.String(), Hop: r.Hop,
		Src: r.Src, Dst: r.Dst, XSrc: r.XSrc(), XDst: r.XDst(), Cause: r.Cause, Reason: r.Reason, Flow: r.Flow}
}

func (j recordJSON) record() (sim.Record, error) {
	k, err := sim.ParseKind(j.Kind)
	if err != nil {
		return sim.Record{}, fmt.Errorf("record %d: %w", j.Seq, err)
	}
	r := sim.Record{Seq: j.Seq, Datagram: j.Datagram, Time: j.Time, Kind: k, Hop: j.Hop,
		Src: j.Src, Dst: j.Dst, Cause: j.Cause, Reason: j.Reason, Flow: j.Flow}
	if j.XSrc.IsValid() || j.XDst.IsValid() {
		r.X = &sim.Translation{Src: j.XSrc, Dst: j.XDst}
	}
	return r, nil
}

// maxComment is the longest pcapng option value (its length is 16 bits).
const maxComment = 65535 - 8

func recordsComment(recs []sim.Record) (string, error) {
	js := make([]recordJSON, len(recs))
	for i, r := range recs {
		js[i] = toJSON(r)
	}
	b, err := json.Marshal(js)
	if err != nil {
		return "", err
	}
	if len(b)+len(recordsPrefix) > maxComment {
		return "", fmt.Errorf("records %d-%d: %d bytes exceed a pcapng comment", recs[0].Seq, recs[len(recs)-1].Seq, len(b))
	}
	return recordsPrefix + string(b), nil
}

func runMetadata(res *harness.Result, runErr error, tail []sim.Record) (string, error) {
	m := runMeta{Format: pcapFormat, Scenario: res.Scenario, Clock: res.Clock, Seed: res.Seed,
		Start: res.Start, End: res.End, Real: res.Real}
	if runErr != nil {
		m.Error = runErr.Error()
	}
	for _, r := range tail {
		m.Tail = append(m.Tail, toJSON(r))
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	if len(b)+len(runPrefix)+200 > maxComment {
		return "", fmt.Errorf("the run's description (%d bytes) exceeds a pcapng comment", len(b))
	}
	return runPrefix + string(b), nil
}

// ReadPcap reads a capture WritePcap wrote and returns the run it records, judged
// again from its records alone: the same Calls, Expectations and Passed as the run,
// with no Events (actors' notes travel as capture records). The error is the run's
// own error, as the run reported it; err is non-nil when the file cannot be read
// (wrapping ErrNotOurs for a capture of another origin).
func ReadPcap(r io.Reader) (res *harness.Result, runErr error, err error) {
	ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, nil, fmt.Errorf("read pcapng: %w", err)
	}
	var meta runMeta
	_, line, found := strings.Cut(ng.SectionInfo().Comment, "\n")
	if !found || !strings.HasPrefix(line, runPrefix) {
		return nil, nil, fmt.Errorf("read pcapng: %w (no %q comment in its section header)", ErrNotOurs, strings.TrimSpace(runPrefix))
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, runPrefix)), &meta); err != nil {
		return nil, nil, fmt.Errorf("read pcapng: run description: %w", err)
	}
	if meta.Format != pcapFormat || meta.Scenario == nil {
		return nil, nil, fmt.Errorf("read pcapng: %w (format %d, want %d)", ErrNotOurs, meta.Format, pcapFormat)
	}
	var recs []sim.Record
	payloads := map[int][]byte{} // datagram -> its payload
	for n := 1; ; n++ {
		data, _, opts, err := ng.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read pcapng: packet %d: %w", n, err)
		}
		payload, isICMP, err := udpPayload(data)
		if err != nil {
			return nil, nil, fmt.Errorf("read pcapng: packet %d: %w", n, err)
		}
		var js []recordJSON
		for _, c := range opts.Comments {
			if rest, ok := strings.CutPrefix(c, recordsPrefix); ok {
				if err := json.Unmarshal([]byte(rest), &js); err != nil {
					return nil, nil, fmt.Errorf("read pcapng: packet %d: records: %w", n, err)
				}
			}
		}
		if js == nil {
			return nil, nil, fmt.Errorf("read pcapng: packet %d: %w (no %q comment)", n, ErrNotOurs, strings.TrimSpace(recordsPrefix))
		}
		// The packet is its last record; the others ride along, and those of a
		// datagram carry the payload of that datagram's packets. An ICMP error
		// quotes only the start of the datagram its Dropped record is about,
		// whose copies came before it.
		if len(js) > 0 && !isICMP {
			payloads[js[len(js)-1].Datagram] = payload
		}
		for _, j := range js {
			rec, err := j.record()
			if err != nil {
				return nil, nil, fmt.Errorf("read pcapng: packet %d: %w", n, err)
			}
			rec.Data = payloadOf(rec, payloads)
			recs = append(recs, rec)
		}
	}
	for _, j := range meta.Tail {
		rec, err := j.record()
		if err != nil {
			return nil, nil, fmt.Errorf("read pcapng: %w", err)
		}
		rec.Data = payloadOf(rec, payloads)
		recs = append(recs, rec)
	}
	slices.SortStableFunc(recs, func(a, b sim.Record) int { return a.Seq - b.Seq })
	res = &harness.Result{Scenario: meta.Scenario, Clock: meta.Clock, Seed: meta.Seed,
		Start: meta.Start, End: meta.End, Capture: sim.LogOf(recs), Real: meta.Real}
	res.Judge()
	if meta.Error != "" {
		runErr = errors.New(meta.Error)
		res.Passed = false
	}
	return res, runErr, nil
}

// payloadOf is the payload a record of a datagram carries in a capture: its datagram's
// (the capture shares one payload between a datagram's records); none for binding
// events, notes and refused frames.
func payloadOf(r sim.Record, payloads map[int][]byte) []byte {
	switch r.Kind {
	case sim.Sent, sim.Translated, sim.Delivered, sim.Dropped:
		if r.Datagram != 0 {
			return payloads[r.Datagram]
		}
	}
	return nil
}

// udpPayload returns the UDP payload of an Ethernet/IPv4/UDP packet, or reports an
// Ethernet/IPv4/ICMP one.
func udpPayload(data []byte) (payload []byte, isICMP bool, err error) {
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.Protocol == layers.IPProtocolICMPv4 {
		return nil, true, nil
	}
	udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok {
		return nil, false, errors.New("no UDP datagram in the packet")
	}
	return udp.Payload, false, nil
}
