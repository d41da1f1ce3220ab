// Package report renders run results for people (a text ladder of every hop)
// and for programs (the JSON verdict, README.md "JSON verdict", schema/verdict.schema.json).
package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/sipnatlab/sipnatlab/harness/judge"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// SchemaVersion is the version of the JSON verdict's shape, its "schema_version":
// fields are added within a version, never renamed or removed; a change that breaks a
// reader raises it. schema/verdict.schema.json describes it.
const SchemaVersion = 1

// Verdict is the JSON document of `sipnatlab run --json`. Write it with WriteJSON,
// which sets SchemaVersion.
type Verdict struct {
	SchemaVersion int               `json:"schema_version"`
	Scenarios     []ScenarioVerdict `json:"scenarios"`
}

// ScenarioVerdict is one scenario's entry.
type ScenarioVerdict struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Passed bool   `json:"passed"`
	// Headline is the verdict line of the text report: "PASS no-nat-handling — call
	// dropped as expected: ACK lost at proxy-b, blame proxy-b".
	Headline string `json:"headline"`
	// Outcome is what became of the first call, apart from the expectations: "call
	// dropped: ACK lost at proxy-b, blame proxy-b".
	Outcome string `json:"outcome"`
	// Fix is the first call's fix in one sentence; "" when none is needed.
	Fix   string `json:"fix"`
	Error string `json:"error,omitempty"`
	// Clock and Seed say how to repeat the run: sipnatlab run --clock CLOCK --seed SEED.
	Clock string `json:"clock,omitempty"`
	Seed  uint64 `json:"seed,omitempty"`
	// RealAddresses maps hosts and NATs to the real addresses they took in
	// a run with a real proxy (sipnatlab validate); absent otherwise.
	RealAddresses map[string]string         `json:"real_addresses,omitempty"`
	Expectations  []judge.ExpectationResult `json:"expectations"`
	Calls         []CallVerdict             `json:"calls"`
}

// CallVerdict is one call's facts.
type CallVerdict struct {
	From              string       `json:"from"`
	To                string       `json:"to"`
	CallID            string       `json:"call_id"`
	Answered          bool         `json:"answered"`
	ACKAtCallee       bool         `json:"ack_at_callee"`
	ACKDelayMS        *int64       `json:"ack_delay_ms"`
	OKRetransmissions int          `json:"ok_retransmissions"`
	CalleeBYE         bool         `json:"callee_bye"`
	CalleeBYEAfterMS  *int64       `json:"callee_bye_after_ms"`
	ContactAtCaller   string       `json:"contact_at_caller"`
	ACKLostAt         string       `json:"ack_lost_at"`
	Blame             string       `json:"blame"`
	Diagnosis         string       `json:"diagnosis"`
	DiagnosisClass    string       `json:"diagnosis_class"` // judge.Class: ack-arrived, private-contact, contact-names-proxy, ...
	Fix               string       `json:"fix"`             // the change that makes the ACK arrive; "" when none is needed
	Hops              []HopVerdict `json:"contact_per_hop"`
	// FinalResponse and FinalFrom: an unanswered call's final response at the caller
	// ("408 Request Timeout") and the hop that sent it; absent for an answered call.
	FinalResponse string `json:"final_response,omitempty"`
	FinalFrom     string `json:"final_response_from,omitempty"`
	// ContactChanges: the 2xx retransmissions that reached the caller with another
	// Contact than the one before; Withheld: proxies that stopped passing them on.
	ContactChanges []ContactChangeVerdict `json:"contact_changes,omitempty"`
	Withheld       []WithheldVerdict      `json:"withheld_2xx,omitempty"`
	// HopChanges: each proxy's first 2xx retransmission sent on with another Contact
	// than the first 2xx (hop, after_ms, was, now).
	HopChanges []ContactChangeVerdict `json:"contact_changes_per_hop,omitempty"`
}

// ContactChangeVerdict is one change of the Contact the caller saw.
type ContactChangeVerdict struct {
	AfterMS int64  `json:"after_ms"` // from the callee's first 2xx
	Was     string `json:"was"`
	Now     string `json:"now"`
	Hop     string `json:"hop"`      // the first hop that sent this 2xx on with another Contact than the first
	HopSent string `json:"hop_sent"` // the Contact it sent
}

// WithheldVerdict is a proxy that stopped passing on the 2xx retransmissions.
type WithheldVerdict struct {
	Hop        string `json:"hop"`
	Dropped    int    `json:"dropped"`
	LastSentMS int64  `json:"last_sent_ms"` // from the callee's first 2xx
}

// HopVerdict is the 2xx's Contact at one hop.
type HopVerdict struct {
	Host          string `json:"host"`
	ContactIn     string `json:"contact_in"`
	ContactOut    string `json:"contact_out"`
	LeadsToCallee bool   `json:"leads_to_callee"`
	Resolves      string `json:"resolves"`
}

func millis(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	ms := d.Milliseconds()
	return &ms
}

// NewScenarioVerdict turns a result (nil when the run could not start) and
// the run error into a verdict entry.
func NewScenarioVerdict(s *scenario.Scenario, res *harness.Result, err error) ScenarioVerdict {
	h := NewHeadline(s, res, err)
	v := ScenarioVerdict{Name: s.Name, File: s.File, Headline: h.String(), Outcome: h.Outcome, Fix: h.Fix,
		Expectations: []judge.ExpectationResult{}, Calls: []CallVerdict{}}
	if err != nil {
		v.Error = err.Error()
	}
	if res == nil {
		return v
	}
	v.Passed = res.Passed && err == nil
	v.Clock, v.Seed = string(res.Clock), res.Seed
	v.RealAddresses = res.Real
	if res.Expectations != nil {
		v.Expectations = res.Expectations
	}
	for _, c := range res.Calls {
		v.Calls = append(v.Calls, NewCallVerdict(c))
	}
	return v
}

// NewCallVerdict turns one call's facts into its verdict entry.
func NewCallVerdict(c judge.CallFacts) CallVerdict {
	cv := CallVerdict{
		From: c.From, To: c.To, CallID: c.CallID, Answered: c.Answered,
		ACKAtCallee: c.ACKAtCallee, ACKDelayMS: millis(c.ACKDelay),
		OKRetransmissions: c.OKRetransmissions, CalleeBYE: c.CalleeBYE,
		CalleeBYEAfterMS: millis(c.CalleeBYEAfter), ContactAtCaller: c.ContactAtCaller,
		ACKLostAt: c.ACKLostAt, Blame: c.Blame, Diagnosis: c.Diagnosis, DiagnosisClass: string(c.Class), Fix: c.Fix, Hops: []HopVerdict{},
	}
	cv.FinalResponse, cv.FinalFrom = c.FinalResponse, c.FinalFrom
	for _, ch := range c.ContactChanges {
		cv.ContactChanges = append(cv.ContactChanges, ContactChangeVerdict{AfterMS: ch.After.Milliseconds(), Was: ch.Was, Now: ch.Now, Hop: ch.Hop, HopSent: ch.HopSent})
	}
	for _, ch := range c.HopChanges {
		cv.HopChanges = append(cv.HopChanges, ContactChangeVerdict{AfterMS: ch.After.Milliseconds(), Was: ch.Was, Now: ch.Now, Hop: ch.Hop, HopSent: ch.HopSent})
	}
	for _, wh := range c.Withheld {
		cv.Withheld = append(cv.Withheld, WithheldVerdict{Hop: wh.Hop, Dropped: wh.Dropped, LastSentMS: wh.LastSent.Milliseconds()})
	}
	for _, h := range c.Hops {
		cv.Hops = append(cv.Hops, HopVerdict{Host: h.Host, ContactIn: h.In, ContactOut: h.Out, LeadsToCallee: h.Leads, Resolves: h.Resolves})
	}
	return cv
}

// WriteJSON writes the verdict, indented, with the current SchemaVersion.
func WriteJSON(w io.Writer, v Verdict) error {
	v.SchemaVersion = SchemaVersion
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
