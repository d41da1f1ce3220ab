package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sipnatlab/sipnatlab/harness/field"
	judgepkg "github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/report"
)

// diagnoseJSON is the JSON of diagnose: run's verdict, and the capture's evidence
// (schema/diagnose.schema.json). jsonStream writes it as the calls are judged.
type diagnoseJSON struct {
	report.Verdict
	Evidence []field.CallEvidence `json:"evidence"`
	diagnoseTail
}

// diagnoseTail is what diagnose's JSON holds after the calls and their evidence.
type diagnoseTail struct {
	NATs    []field.InferredNAT `json:"inferred_nats"`
	T1ms    int64               `json:"t1_ms_estimated"`
	T2ms    int64               `json:"t2_ms_estimated"`
	Packets int                 `json:"packets"`
	MaxOpen int                 `json:"max_open_dialogs"`
	Errors  []string            `json:"errors,omitempty"`
}

// jsonStream writes the document diagnoseJSON describes while the calls are judged,
// so that no call stays in memory: each call's verdict goes straight out, its
// evidence to a temporary file (the evidence array follows the verdict's), and the
// fields known only at the end (the headline, NATs, timers) come last. Its first
// write error sticks and is returned by finish.
type jsonStream struct {
	w      io.Writer
	spill  *os.File // the evidence array's elements, until finish copies them out
	calls  int
	err    error
	opened bool
}

func newJSONStream(w io.Writer) (*jsonStream, error) {
	f, err := os.CreateTemp("", "sipnatlab-evidence-*.json")
	if err != nil {
		return nil, fmt.Errorf("--json: %w", err)
	}
	_ = os.Remove(f.Name()) // the open file lives on; nothing is left behind
	return &jsonStream{w: w, spill: f}, nil
}

func (j *jsonStream) write(w io.Writer, parts ...[]byte) {
	for _, p := range parts {
		if j.err == nil {
			_, j.err = w.Write(p)
		}
	}
}

// indented marshals v as an element at depth spaces of indentation.
func (j *jsonStream) indented(v any, depth int) []byte {
	b, err := json.MarshalIndent(v, string(bytes.Repeat([]byte(" "), depth)), "  ")
	if err != nil && j.err == nil {
		j.err = err
	}
	return b
}

// open writes the document's head, once, at the first call or at finish: nothing
// is written when the capture cannot be opened at all.
func (j *jsonStream) open() {
	if !j.opened {
		j.opened = true
		j.write(j.w, []byte(fmt.Sprintf("{\n  \"schema_version\": %d,\n  \"scenarios\": [\n    {\n      \"calls\": [", report.SchemaVersion)))
	}
}

// call writes one judged call and spills its evidence.
func (j *jsonStream) call(f judgepkg.CallFacts, ev field.CallEvidence) {
	j.open()
	sep := []byte(",\n        ")
	esep := []byte(",\n    ")
	if j.calls == 0 {
		sep, esep = sep[1:], esep[1:]
	}
	j.calls++
	j.write(j.w, sep, j.indented(report.NewCallVerdict(f), 8))
	j.write(j.spill, esep, j.indented(ev, 4))
}

// discard releases the spill file without finishing the document.
func (j *jsonStream) discard() { _ = j.spill.Close() }

// finish writes the rest of the document and releases the spill file.
func (j *jsonStream) finish(v report.ScenarioVerdict, tail diagnoseTail) error {
	defer j.discard()
	j.open()
	end := []byte("]")
	if j.calls > 0 {
		end = []byte("\n      ]")
	}
	// The scenario's other fields: a shallower "calls" hides the verdict's own.
	rest := j.indented(struct {
		report.ScenarioVerdict
		Calls []struct{} `json:"calls,omitempty"`
	}{ScenarioVerdict: v}, 4)
	j.write(j.w, end, []byte(","), rest[1:], []byte("\n  ],\n  \"evidence\": ["))
	if j.err == nil {
		if _, err := j.spill.Seek(0, io.SeekStart); err != nil {
			j.err = err
		} else if _, err := io.Copy(j.w, j.spill); err != nil {
			j.err = err
		}
	}
	if j.calls > 0 {
		j.write(j.w, []byte("\n  ]"))
	} else {
		j.write(j.w, []byte("]"))
	}
	t := j.indented(tail, 0)
	j.write(j.w, []byte(","), t[1:], []byte("\n"))
	if j.err != nil {
		return fmt.Errorf("--json: %w", j.err)
	}
	return nil
}
