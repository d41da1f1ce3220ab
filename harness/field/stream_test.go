package field_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gopacket/gopacket/layers"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sipnatlab/sipnatlab/harness/field"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/report"
)

// manyCalls writes a capture of n calls, one after the other: the correct case's
// REGISTER, then its call (every hop captured) n times, 12 s apart, each with its
// own Call-ID.
func manyCalls(n int) string {
	frames := readFrames("testdata/sim-correct-nat-handling-plain.pcap")
	const callID = "uqeqd6znl9kc4flo2jyn"
	var reg, call []frame
	for _, f := range frames {
		if bytes.Contains(f.data, []byte(callID)) {
			call = append(call, f)
		} else {
			reg = append(reg, f)
		}
	}
	Expect(call).NotTo(BeEmpty())
	out := reg
	for i := range n {
		id := []byte(fmt.Sprintf("%s%08d", callID[:12], i))
		for _, f := range call {
			c := f
			c.data = bytes.ReplaceAll(f.data, []byte(callID), id)
			c.ci.Timestamp = f.ci.Timestamp.Add(time.Duration(i) * 12 * time.Second)
			out = append(out, c)
		}
	}
	return writeFrames(layers.LinkTypeEthernet, out)
}

// inMemory is the JSON document of a diagnosis that kept every call, built at once.
func inMemory(d *field.Diagnosis) any {
	nats := d.NATs
	if nats == nil {
		nats = []field.InferredNAT{}
	}
	doc := map[string]any{
		"schema_version":  report.SchemaVersion,
		"scenarios":       []report.ScenarioVerdict{report.NewScenarioVerdict(d.Result.Scenario, d.Result, nil)},
		"evidence":        d.Evidence,
		"inferred_nats":   nats,
		"t1_ms_estimated": d.Timers.T1.Milliseconds(), "t2_ms_estimated": d.Timers.T2.Milliseconds(),
		"packets": d.Packets, "max_open_dialogs": d.MaxOpenDialogs,
	}
	return normal(doc)
}

// normal is v as encoding/json decodes its JSON: what two documents are compared as.
func normal(v any) any {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	var out any
	Expect(json.Unmarshal(b, &out)).To(Succeed())
	return out
}

var _ = Describe("streaming the calls out", func() {
	DescribeTable("writes the JSON document a diagnosis that kept every call would have",
		func(files ...string) {
			if len(files) == 0 {
				files = []string{manyCalls(7)}
			}
			all, err := field.Diagnose(context.Background(), files, field.Options{})
			Expect(err).NotTo(HaveOccurred())
			var b bytes.Buffer
			js, err := field.NewJSONStream(&b)
			Expect(err).NotTo(HaveOccurred())
			var calls int
			d, err := field.Diagnose(context.Background(), files, field.Options{Keep: 1, OnCall: func(f judge.CallFacts, ev field.CallEvidence) {
				calls++
				js.Call(f, ev)
			}})
			Expect(err).NotTo(HaveOccurred())
			Expect(js.Finish(d)).To(Succeed())
			Expect(d.Calls).To(HaveLen(min(1, calls)))
			Expect(d.Tally.Calls).To(Equal(len(all.Calls)))
			Expect(calls).To(Equal(len(all.Calls)))
			Expect(d.Lost()).To(Equal(all.Lost()))
			Expect(d.Timers).To(Equal(all.Timers))
			var got any
			Expect(json.Unmarshal(b.Bytes(), &got)).To(Succeed(), b.String())
			Expect(got).To(Equal(inMemory(all)))
		},
		Entry("one call, ACK lost", filepath.Join("testdata", "sim-no-nat-handling-plain.pcap")),
		Entry("Kamailio, contact names the proxy", filepath.Join("testdata", "kamailio-excessive-nat-handling.pcapng")),
		Entry("seven calls, one after the other"),
	)

	// What grows with the calls when they stream out is measured as the heap still
	// live after a diagnosis (the Diagnosis kept) of 20 and of 220 calls: the same
	// diagnosis keeping every call grows by its facts and evidence (about 1.7 KB a
	// call), the streaming one by less than 100 bytes a call.
	It("keeps memory bounded by the open dialogs, not by the calls", Serial, func() {
		live := func(file string, stream bool) int64 {
			var o field.Options
			if stream {
				o.OnCall = func(judge.CallFacts, field.CallEvidence) {}
			}
			d, err := field.Diagnose(context.Background(), []string{file}, o)
			Expect(err).NotTo(HaveOccurred())
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			Expect(d.Tally.Calls).To(BeNumerically(">=", 20))
			Expect(d.MaxOpenDialogs).To(BeNumerically("<=", 3))
			runtime.KeepAlive(d)
			return int64(ms.HeapAlloc)
		}
		few, many := manyCalls(20), manyCalls(220)
		kept := live(many, false) - live(few, false)
		streamed := live(many, true) - live(few, true)
		By(fmt.Sprintf("200 more calls: %d bytes more kept, %d streamed", kept, streamed))
		Expect(kept).To(BeNumerically(">", 200*1000))
		Expect(streamed).To(BeNumerically("<", 200*100))
	})
})
