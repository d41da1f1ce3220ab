package report

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// The HTML ladder: one self-contained page per run. Everything it needs
// (CSS, the SVG ladder, a few lines of JavaScript) is inline, so the page
// opens from a file, a CI artefact or a mail attachment with no network.

const (
	htmlGutter = 90  // left margin for the time column
	htmlColW   = 170 // width of one host column
	htmlTop    = 64  // height of the column headers
	htmlRowH   = 26  // height of a row without a Contact
	htmlOKRowH = 44  // height of a 200 OK row, which shows its Contact
)

type htmlCol struct {
	X          int
	Name, Addr string
	NAT        bool
	Private    bool
}

type htmlXlat struct {
	X, Y int
	Text string
}

type htmlRow struct {
	Note bool // an actor's note (ACK absorbed, ACK timeout), not a datagram
	ID   int  // datagram id; for a note, the datagram it is about (0 for none)
	// Top and H are the band of the ladder the row takes: where it starts and its
	// height, for folding retransmissions away.
	Top, H   int
	Y        int
	Time     string
	X1, X2   int
	LabelX   int
	Label    string
	Class    string // message kind for colour: invite, ok, ack, bye, register, other
	Dropped  bool
	DropX    int
	DropY    int // baseline of the drop's reason, on a line of its own
	DropText string
	Title    string // hover text
	Aria     string // what a screen reader says of the arrow
	Contact  string // Contact of a 2xx for INVITE
	ContactW int    // width of the Contact's box, from its text
	// Rewritten is set when the sender changed the Contact it received.
	Rewritten     bool
	RewrittenFrom string
	RetransmitOf  int // the datagram this one repeats, 0 when none
	Xlats         []htmlXlat
	ALG           bool // a NAT's SIP ALG rewrote the payload: Message holds it before and after
	ALGY          int  // where the line saying so goes
	Message       htmlMessage
}

// htmlMessage is a SIP message as the page shows it: the Contact header line picked
// out, with the Contact the sender had received beside it when it rewrote it.
type htmlMessage struct {
	Before, Contact, After string
	Was                    string // the Contact the sender received, when it rewrote it
	Rewritten              bool
}

// splitContact picks the Contact header line (or its compact form "m:") out of msg.
func splitContact(msg string) htmlMessage {
	start := 0
	for start < len(msg) {
		end := strings.Index(msg[start:], "\n")
		if end < 0 {
			end = len(msg)
		} else {
			end += start + 1
		}
		line := strings.ToLower(msg[start:end])
		if strings.HasPrefix(line, "contact:") || strings.HasPrefix(line, "m:") {
			return htmlMessage{Before: msg[:start], Contact: strings.TrimRight(msg[start:end], "\r\n"), After: msg[start+len(strings.TrimRight(msg[start:end], "\r\n")):]}
		}
		if strings.TrimSpace(line) == "" {
			break // the body
		}
		start = end
	}
	return htmlMessage{Before: msg}
}

type htmlHop struct {
	Host, In, Out, Resolves string
	Leads                   bool
}

type htmlCall struct {
	judge.CallFacts
	HopRows []htmlHop
}

type htmlPage struct {
	Name, File, Summary, Lesson string
	Passed                      bool
	Headline                    Headline
	Error                       string
	Note                        string
	Cols                        []htmlCol
	Width, Height               int
	Gutter                      int
	Rows                        []htmlRow
	Retransmissions             int
	Calls                       []htmlCall
	Expectations                []judge.ExpectationResult
	ProxyWarnings               map[string][]string // by real proxy host
}

// WriteHTML writes one self-contained HTML page for one run (res nil when
// the run could not start): a column per host and NAT with its address, an
// arrow per datagram (click or hover for the full SIP message), NAT
// translations and drops, the Contact of every 200 OK with the rewritten ones
// highlighted, then the facts, the diagnosis and the lesson.
func WriteHTML(w io.Writer, s *scenario.Scenario, res *harness.Result, runErr error) error {
	p := htmlPage{Name: s.Name, File: s.File, Summary: s.Summary, Lesson: strings.TrimSpace(s.Lesson), Headline: NewHeadline(s, res, runErr)}
	if runErr != nil {
		p.Error = runErr.Error()
	}
	if res != nil {
		p.Passed = res.Passed && runErr == nil
		p.Expectations = res.Expectations
		p.ProxyWarnings = res.ProxyWarnings()
		buildLadder(&p, res)
		for _, c := range res.Calls {
			hc := htmlCall{CallFacts: c}
			for _, h := range c.Hops {
				hc.HopRows = append(hc.HopRows, htmlHop{Host: h.Host, In: h.In, Out: h.Out, Resolves: h.Resolves, Leads: h.Leads})
			}
			p.Calls = append(p.Calls, hc)
		}
	}
	return pageTemplate.Execute(w, p)
}

// buildLadder lays the ladder of res out on the page: a column per host and NAT, an
// arrow per datagram row, a mark and a line of words per note row.
func buildLadder(p *htmlPage, res *harness.Result) {
	l := NewLadder(res)
	colX := func(i int) int {
		if i < 0 {
			return 0
		}
		return htmlGutter + htmlColW*i + htmlColW/2
	}
	for i, c := range l.Columns {
		p.Cols = append(p.Cols, htmlCol{X: colX(i), Name: c.Name, Addr: c.Addr.String(), NAT: c.IsNAT, Private: c.Private})
	}
	p.Gutter = htmlGutter
	p.Width = htmlGutter + htmlColW*max(len(l.Columns), 1) + 20
	y := htmlTop
	retrans := map[int]bool{} // datagrams that are retransmissions
	for _, lr := range l.Rows {
		t := fmt.Sprintf("%.3f", lr.At.Seconds())
		top := y
		if lr.IsNote() {
			// The host's mark on the first line, the words across the ladder below.
			y += htmlRowH + 18
			p.Rows = append(p.Rows, htmlRow{Note: true, ID: lr.Note.Datagram, Top: top, H: y - top, Y: top + htmlRowH, Time: t, X1: colX(lr.From), LabelX: htmlGutter,
				Label: lr.NoteText(), Class: "note", RetransmitOf: noteOfRetransmission(retrans, lr.Note.Datagram)})
			continue
		}
		d := lr.D
		msg := string(d.Payload())
		if d.Message() != nil {
			msg = d.Message().String()
		}
		r := htmlRow{ID: d.ID, Time: t, X1: colX(lr.From), Label: lr.Label, Class: lr.Class, Message: htmlMessage{Before: msg}, RetransmitOf: lr.RetransmitOf}
		if r.RetransmitOf != 0 {
			retrans[d.ID] = true
			p.Retransmissions++
		}
		if lr.To >= 0 && lr.To != lr.From {
			r.X2 = colX(lr.To)
		} else {
			// Dropped by the sender's own routing: a short arrow towards the
			// destination's column, or the next column.
			r.X2 = r.X1 + lr.Toward*htmlColW/2
		}
		if r.Dropped = lr.Dropped; r.Dropped {
			r.DropX, r.DropText = r.X2, lr.DropText()
		}
		r.Y = y + htmlRowH
		y += htmlRowH
		marks := []int{r.X1, r.X2}
		algAfter := ""
		for _, x := range lr.Xlat {
			text := fmt.Sprintf("%s: %s -> %s becomes %s -> %s (%s)", x.Hop, x.Src, x.Dst, x.XSrc(), x.XDst(), x.Reason)
			if lr.IsALG(x) {
				text += "\n" + strings.Join(algLines(d), "\n")
				r.ALG = true
				// The message as sent, then as the ALG passed it on.
				algAfter = fmt.Sprintf("\n\n--- after %s's SIP ALG ---\n%s", x.Hop, d.ReceivedPayload())
			}
			r.Xlats = append(r.Xlats, htmlXlat{X: colX(l.Column(x.Hop)), Y: r.Y, Text: text})
			marks = append(marks, colX(l.Column(x.Hop)))
		}
		r.LabelX = widestGap(marks)
		sent := d.Sent()
		r.Title = fmt.Sprintf("%s  %s -> %s", firstLine(msg), sent.Src, sent.Dst)
		to := "nowhere"
		if lr.To >= 0 {
			to = l.Columns[lr.To].Name
		}
		r.Aria = fmt.Sprintf("datagram %d at %s s: %s from %s to %s", d.ID, t, lr.Label, l.Columns[lr.From].Name, to)
		if r.RetransmitOf != 0 {
			r.Aria += fmt.Sprintf(", a retransmission of datagram %d", r.RetransmitOf)
		}
		if r.Dropped {
			r.Aria += ", " + r.DropText
		}
		if lr.Class == "ok" {
			y += htmlOKRowH - htmlRowH
			r.Contact = lr.Contact
			r.Rewritten, r.RewrittenFrom = lr.RewrittenFrom != "", lr.RewrittenFrom
			r.ContactW = contactBoxWidth(r.Contact, r.Rewritten)
			r.Message = splitContact(msg)
			r.Message.Rewritten, r.Message.Was = r.Rewritten, r.RewrittenFrom
		}
		r.Message.After += algAfter
		if r.Dropped {
			r.DropY = y + 14
			y += 18
		}
		if r.ALG {
			r.ALGY = y + 14
			y += 18
		}
		r.Top, r.H = top, y-top
		p.Rows = append(p.Rows, r)
	}
	p.Height = y + 30
	if len(res.Calls) > 1 {
		p.Note = fmt.Sprintf("%d calls: the ladder shows every datagram of all of them.", len(res.Calls))
	}
}

// widestGap is the middle of the widest stretch between the marks on an arrow (its
// ends and the NATs it crosses), where its label sits clear of them.
func widestGap(marks []int) int {
	slices.Sort(marks)
	at, widest := marks[0], -1
	for i := 1; i < len(marks); i++ {
		if gap := marks[i] - marks[i-1]; gap > widest {
			at, widest = (marks[i]+marks[i-1])/2, gap
		}
	}
	return at
}

// noteOfRetransmission is the datagram a note is about when that datagram is a
// retransmission (so the note folds away with it), else 0.
func noteOfRetransmission(retrans map[int]bool, datagram int) int {
	if retrans[datagram] {
		return datagram
	}
	return 0
}

// htmlCharW is the advance of one character of the Contact boxes' 11 px monospace
// font (0.6 em, DejaVu Sans Mono's; the page also fits the boxes to the text as
// measured once it is shown).
const htmlCharW = 6.7

// contactBoxWidth is the width of the box around a Contact's label.
func contactBoxWidth(contact string, rewritten bool) int {
	n := len("Contact: ") + utf8.RuneCountInString(contact)
	if rewritten {
		n += len(" (rewritten)")
	}
	return int(float64(n)*htmlCharW) + 12
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"add":  func(a, b int) int { return a + b },
	"sub":  func(a, b int) int { return a - b },
	"half": func(a int) int { return a / 2 },
	"yes":  yesNo,
	"none": orNone,
	"ms":   ms,
	"secs": func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) },
}).Parse(pageHTML + headlineHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sipnatlab: {{.Name}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1d1d1f; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { margin: 0 0 8px; color: #444; }
.verdict { display: inline-block; padding: 2px 8px; border-radius: 4px; font-weight: bold; color: #fff; }
.pass { background: #2e7d32; } .fail { background: #c62828; }
.layout { display: flex; gap: 16px; align-items: flex-start; }
.ladder { flex: none; border: 1px solid #ddd; border-radius: 6px; background: #fcfcfc; }
#panel { position: sticky; top: 8px; flex: 1; min-width: 280px; max-width: 560px; }
#panel pre { white-space: pre-wrap; word-break: break-all; background: #f4f4f4; padding: 8px; border-radius: 4px; font-size: 12px; max-height: 80vh; overflow: auto; }
svg text { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.colname { font-weight: bold; font-size: 13px; }
.coladdr { fill: #555; }
.lifeline { stroke: #bbb; stroke-width: 1; }
.nat .lifeline { stroke: #8e24aa; stroke-dasharray: 4 3; }
.nat .colname { fill: #8e24aa; }
.time { fill: #777; }
.arrow { cursor: pointer; }
.arrow line { stroke: #333; stroke-width: 1.6; }
.arrow:hover line, .arrow.sel line { stroke-width: 3.5; }
.arrow .lbl { fill: #111; }
.invite line { stroke: #1565c0; } .ok line { stroke: #2e7d32; } .ack line { stroke: #ef6c00; }
.bye line { stroke: #6d4c41; } .register line { stroke: #777; } .response line { stroke: #555; }
.dropped line { stroke: #c62828; stroke-dasharray: 6 3; }
line.lg { stroke: #333; stroke-width: 2; } line.lg.invite { stroke: #1565c0; } line.lg.ok { stroke: #2e7d32; } line.lg.ack { stroke: #ef6c00; }
line.lg.bye { stroke: #6d4c41; } line.lg.register { stroke: #777; } line.lg.response { stroke: #555; } line.lg.retrans { stroke-opacity: .45; }
line.lg.dropped { stroke: #c62828; stroke-dasharray: 6 3; }
.dropx { stroke: #c62828; stroke-width: 3; }
.droptext { fill: #c62828; font-size: 11px; paint-order: stroke; stroke: #fcfcfc; stroke-width: 4px; }
.contact rect { fill: #fff59d; }
.contact.rewritten rect { fill: #ffab40; }
.contact text { font-size: 11px; }
.contact.rewritten text { font-weight: bold; }
.xlat { fill: #8e24aa; }
.alg { fill: #8e24aa; font-size: 11px; }
.note text { fill: #c62828; font-weight: bold; paint-order: stroke; stroke: #fcfcfc; stroke-width: 4px; }
.note circle { fill: #c62828; }
table { border-collapse: collapse; margin: 6px 0 12px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; font-size: 13px; }
th { background: #f4f4f4; }
.bad { color: #c62828; } .good { color: #2e7d32; }
code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
.diagnosis { background: #fff3e0; border-left: 4px solid #ef6c00; padding: 6px 10px; max-width: 1100px; }
.lesson { background: #e8f5e9; border-left: 4px solid #2e7d32; padding: 6px 10px; max-width: 1100px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: center; margin: 6px 0 10px; padding: 0; list-style: none; }
.legend li { display: flex; align-items: center; gap: 5px; }
.legend svg text { font-size: 10px; }
.arrow:focus { outline: none; }
.arrow:focus line, .arrow:focus-visible line { stroke-width: 3.5; }
.arrow:focus .lbl { font-weight: bold; text-decoration: underline; }
.retrans line { stroke-opacity: .45; }
.retrans .lbl { fill: #777; }
#msg mark { background: #fff59d; }
#msg mark.rewritten { background: #ffab40; font-weight: bold; }
#msg .was { display: block; margin: 0 0 0 2ch; color: #6d4c41; }
.tools { margin: 0 0 8px; }
button { font: inherit; padding: 2px 10px; }
</style>
</head>
<body>
<h1>{{.Name}} <span class="verdict {{if .Passed}}pass">PASS{{else}}fail">FAIL{{end}}</span></h1>
{{template "headline" .Headline}}
<p class="summary">{{.Summary}} <code>{{.File}}</code></p>
{{if .Error}}<p class="bad">error: {{.Error}}</p>{{end}}
{{if .Note}}<p>{{.Note}}</p>{{end}}
{{range $host, $lines := .ProxyWarnings}}<p>{{$host}} (real proxy) logged these warnings and errors:</p><pre class="bad">{{range $lines}}{{.}}
{{end}}</pre>{{end}}
<ul class="legend" aria-label="legend">
<li data-legend="invite"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg invite"/></svg>INVITE</li>
<li data-legend="ok"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg ok"/></svg>2xx for INVITE</li>
<li data-legend="ack"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg ack"/></svg>ACK</li>
<li data-legend="bye"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg bye"/></svg>BYE</li>
<li data-legend="register"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg register"/></svg>REGISTER</li>
<li data-legend="response"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg response"/></svg>other response</li>
<li data-legend="other"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg other"/></svg>other request, keep-alive</li>
<li data-legend="retrans"><svg width="34" height="10" aria-hidden="true"><line x1="2" y1="5" x2="32" y2="5" class="lg retrans"/></svg>retransmission (faded; can be hidden)</li>
<li data-legend="dropped"><svg width="34" height="14" aria-hidden="true"><line x1="2" y1="7" x2="26" y2="7" class="lg dropped"/><path class="dropx" d="M24,2 l8,8 m0,-8 l-8,8"/></svg>dropped, with where and why</li>
<li data-legend="xlat"><svg width="16" height="16" aria-hidden="true"><path class="xlat" d="M8,1 l7,7 l-7,7 l-7,-7 z"/></svg>NAT translation (hover it)</li>
<li data-legend="contact"><svg width="34" height="14" aria-hidden="true"><rect x="1" y="1" width="32" height="12" rx="3" fill="#fff59d"/></svg>Contact of a 2xx for INVITE</li>
<li data-legend="rewritten"><svg width="34" height="14" aria-hidden="true"><rect x="1" y="1" width="32" height="12" rx="3" fill="#ffab40"/></svg><b>Contact rewritten by the sender</b></li>
<li data-legend="note"><svg width="16" height="16" aria-hidden="true"><circle cx="8" cy="8" r="6" fill="#c62828"/></svg>a host's note: an ACK absorbed with nowhere to forward it, a callee giving up on the ACK</li>
<li data-legend="keys">click, hover or Tab to an arrow for its SIP message; &uarr;&darr; move, Home/End, Esc</li>
</ul>
<p class="tools">{{if .Retransmissions}}<button type="button" id="retrans" aria-pressed="false" data-n="{{.Retransmissions}}">Hide {{.Retransmissions}} retransmissions</button>{{end}}</p>
<div class="layout">
<div class="ladder">
<svg width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="ladder diagram of {{.Name}}">
<defs>
<marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker>
</defs>
<text x="8" y="20" class="time">time s</text>
{{range .Cols}}<g class="col{{if .NAT}} nat{{end}}">
<text x="{{.X}}" y="20" text-anchor="middle" class="colname">{{.Name}}</text>
<text x="{{.X}}" y="36" text-anchor="middle" class="coladdr">{{.Addr}}{{if .Private}} (private){{end}}</text>
<line x1="{{.X}}" y1="44" x2="{{.X}}" y2="{{$.Height}}" class="lifeline"/>
</g>
{{end}}
{{range .Rows}}{{if .Note}}<g class="row note{{if .RetransmitOf}} retrans{{end}}" data-top="{{.Top}}" data-h="{{.H}}"{{if .ID}} data-datagram="{{.ID}}"{{end}}>
<text x="8" y="{{.Y}}" class="time">{{.Time}}</text>
<circle cx="{{.X1}}" cy="{{sub .Y 4}}" r="6"/>
<text x="{{.LabelX}}" y="{{add .Y 16}}">{{.Label}}</text>
</g>
{{else}}<g class="row arrow {{.Class}}{{if .Dropped}} dropped{{end}}{{if .RetransmitOf}} retrans{{end}}" data-datagram="{{.ID}}"{{if .RetransmitOf}} data-retransmits="{{.RetransmitOf}}"{{end}} data-top="{{.Top}}" data-h="{{.H}}" id="dg{{.ID}}" tabindex="0" role="button" aria-label="{{.Aria}}">
<title>{{.Title}}{{if .RetransmitOf}}
retransmission of datagram {{.RetransmitOf}}{{end}}{{if .DropText}}
{{.DropText}}{{end}}{{range .Xlats}}
{{.Text}}{{end}}</title>
<text x="8" y="{{.Y}}" class="time">{{.Time}}</text>
<line x1="{{.X1}}" y1="{{.Y}}" x2="{{.X2}}" y2="{{.Y}}"{{if not .Dropped}} marker-end="url(#head)"{{end}}/>
<line x1="{{.X1}}" y1="{{.Y}}" x2="{{.X2}}" y2="{{.Y}}" stroke="transparent" stroke-width="12" style="stroke:transparent"/>
<text x="{{.LabelX}}" y="{{sub .Y 5}}" text-anchor="middle" class="lbl">{{.Label}}</text>
{{range .Xlats}}<path class="xlat" d="M{{.X}},{{sub .Y 7}} l7,7 l-7,7 l-7,-7 z"><title>{{.Text}}</title></path>{{end}}
{{if .ALG}}<text x="{{$.Gutter}}" y="{{.ALGY}}" class="alg">&#9670; the payload was rewritten by a NAT's SIP ALG: click the arrow for the message before and after</text>{{end}}
{{if .Dropped}}<path class="dropx" d="M{{sub .DropX 6}},{{sub .Y 6}} l12,12 m0,-12 l-12,12"/>
<text x="{{$.Gutter}}" y="{{.DropY}}" class="droptext">{{.DropText}}</text>{{end}}
{{if .Contact}}<g class="contact{{if .Rewritten}} rewritten{{end}}">
<rect x="{{sub .LabelX (half .ContactW)}}" y="{{add .Y 3}}" width="{{.ContactW}}" height="15" rx="3"/>
<text x="{{.LabelX}}" y="{{add .Y 14}}" text-anchor="middle">Contact: {{.Contact}}{{if .Rewritten}} (rewritten){{end}}</text>
{{if .Rewritten}}<title>rewritten by the sender from {{.RewrittenFrom}}</title>{{end}}
</g>{{end}}
</g>
{{end}}{{end}}</svg>
</div>
<div id="panel">
<p><b>SIP message</b> <span id="which">(click an arrow)</span></p>
<pre id="msg"></pre>
</div>
</div>

{{range .Calls}}
<h2>Call {{.From}} &rarr; {{.To}}</h2>
<table>
<tr><th>hop</th><th>Contact received</th><th>Contact sent</th><th>where it leads</th></tr>
{{range .HopRows}}<tr><td>{{.Host}}</td><td><code>{{.In}}</code></td><td><code>{{.Out}}</code>{{if and .In (ne .In .Out)}} <b>(rewritten)</b>{{end}}</td><td class="{{if .Leads}}good{{else}}bad{{end}}">{{.Resolves}}</td></tr>
{{end}}</table>
<table>
<tr><th>answered</th><td>{{yes .Answered}}</td><th>ACK at callee</th><td class="{{if .ACKAtCallee}}good{{else}}bad{{end}}">{{yes .ACKAtCallee}}{{if .ACKDelay}} ({{ms .ACKDelay}}){{end}}</td></tr>
<tr><th>200 OK retransmissions</th><td>{{.OKRetransmissions}}</td><th>callee BYE</th><td>{{yes .CalleeBYE}}{{if .CalleeBYEAfter}} (after {{ms .CalleeBYEAfter}}){{end}}</td></tr>
<tr><th>Contact at caller</th><td><code>{{.ContactAtCaller}}</code></td><th>class</th><td>{{.Class}}</td></tr>
<tr><th>ACK lost at</th><td class="bad">{{none .ACKLostAt}}</td><th>blame</th><td class="bad">{{none .Blame}}</td></tr>
{{if .FinalResponse}}<tr><th>final response</th><td class="bad">{{.FinalResponse}}</td><th>sent by</th><td class="bad">{{none .FinalFrom}}</td></tr>
{{end}}{{range .HopChanges}}<tr><th>{{.Hop}} changed the Contact</th><td colspan="3">from {{secs .After}}: <code>{{.Was}}</code> &rarr; <code>{{.Now}}</code></td></tr>
{{end}}{{range .Withheld}}<tr><th>{{.Hop}} withheld 200 OKs</th><td colspan="3">{{.Dropped}} dropped, none passed on after {{secs .LastSent}}</td></tr>
{{end}}{{range .ContactChanges}}<tr><th>Contact at caller changed</th><td colspan="3">after {{secs .After}}: <code>{{.Was}}</code> &rarr; <code>{{.Now}}</code>{{if .Hop}} ({{.Hop}} sent <code>{{.HopSent}}</code>){{end}}</td></tr>
{{end}}</table>
<p class="diagnosis"><b>Diagnosis.</b> {{.Diagnosis}}</p>
{{end}}
{{if .Expectations}}<h2>Expectations</h2>
<table><tr><th>key</th><th>want</th><th>got</th><th></th></tr>
{{range .Expectations}}<tr><td>{{.Key}}</td><td>{{.Want}}</td><td>{{.Got}}</td><td class="{{if .OK}}good">ok{{else}}bad">FAIL{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Lesson}}<h2>Lesson</h2><p class="lesson">{{.Lesson}}</p>{{end}}

<div hidden id="messages">
{{range .Rows}}{{if not .Note}}{{$id := .ID}}{{with .Message}}<pre id="m{{$id}}">{{.Before}}{{if .Contact}}<mark class="contact-line{{if .Rewritten}} rewritten{{end}}">{{.Contact}}</mark>{{if .Was}}<span class="was">&#8630; rewritten by the sender; it received: {{.Was}}</span>{{end}}{{.After}}{{end}}</pre>{{end}}
{{end}}{{end}}</div>
<script>
(function () {
  var svg = document.querySelector(".ladder svg");
  var fullHeight = +svg.getAttribute("height");
  var rows = Array.prototype.slice.call(svg.querySelectorAll(".row"));
  var arrows = rows.filter(function (g) { return g.classList.contains("arrow"); });
  function visible() { return arrows.filter(function (g) { return g.style.display !== "none"; }); }
  function show(g) {
    var m = document.getElementById("m" + g.dataset.datagram);
    var msg = document.getElementById("msg");
    msg.replaceChildren();
    if (m) { Array.prototype.forEach.call(m.childNodes, function (n) { msg.appendChild(n.cloneNode(true)); }); }
    document.getElementById("which").textContent = "datagram " + g.dataset.datagram + ": " + g.querySelector("title").textContent;
  }
  function select(g) {
    arrows.forEach(function (o) { o.classList.remove("sel"); o.removeAttribute("aria-pressed"); });
    g.classList.add("sel");
    g.setAttribute("aria-pressed", "true");
    g.focus();
    show(g);
  }
  arrows.forEach(function (g) {
    g.addEventListener("mouseenter", function () { show(g); });
    g.addEventListener("focus", function () { show(g); });
    g.addEventListener("click", function () { select(g); });
    g.addEventListener("keydown", function (e) {
      var v = visible(), i = v.indexOf(g), to = null;
      switch (e.key) {
        case "Enter": case " ": select(g); break;
        case "ArrowDown": case "j": to = v[Math.min(i + 1, v.length - 1)]; break;
        case "ArrowUp": case "k": to = v[Math.max(i - 1, 0)]; break;
        case "Home": to = v[0]; break;
        case "End": to = v[v.length - 1]; break;
        case "Escape": g.blur(); return;
        default: return;
      }
      e.preventDefault();
      if (to) { to.focus(); to.scrollIntoView({block: "nearest"}); }
    });
  });
  // Fit each Contact's box to its label as the browser draws it.
  svg.querySelectorAll(".contact").forEach(function (c) {
    var t = c.querySelector("text"), r = c.querySelector("rect");
    var w = Math.ceil(t.getComputedTextLength()) + 12;
    r.setAttribute("width", w);
    r.setAttribute("x", +t.getAttribute("x") - w / 2);
  });
  // Fold the retransmissions (and the notes about them) away, closing the gaps.
  var btn = document.getElementById("retrans");
  function layout(hide) {
    var off = 0;
    rows.forEach(function (g) {
      if (hide && g.classList.contains("retrans")) {
        g.style.display = "none";
        off += +g.dataset.h;
        return;
      }
      g.style.display = "";
      if (off) { g.setAttribute("transform", "translate(0," + (-off) + ")"); } else { g.removeAttribute("transform"); }
    });
    svg.setAttribute("height", fullHeight - off);
    svg.setAttribute("viewBox", "0 0 " + svg.getAttribute("width") + " " + (fullHeight - off));
  }
  if (btn) {
    btn.addEventListener("click", function () {
      var hide = btn.getAttribute("aria-pressed") !== "true";
      btn.setAttribute("aria-pressed", String(hide));
      btn.textContent = (hide ? "Show " : "Hide ") + btn.dataset.n + " retransmissions";
      layout(hide);
    });
  }
})();
</script>
</body>
</html>
`

// IndexEntry is one scenario on the index page of a run of several: the scenario
// (never nil), its run (Result nil when it could not start, Err the run's error) and
// the file name of its page, relative to the index.
type IndexEntry struct {
	Scenario *scenario.Scenario
	Result   *harness.Result
	Err      error
	Page     string
}

type indexRow struct {
	Name, Summary, Page, File string
	Passed                    bool
	Word, Judgement, Fix      string
}

// WriteHTMLIndex writes the page that lists the pages of a run of several scenarios
// (`sipnatlab run DIR --html FILE`): a row per scenario with its verdict headline (what
// became of its call against the expectations, and the fix) and a link to its page.
func WriteHTMLIndex(w io.Writer, entries []IndexEntry) error {
	var rows []indexRow
	passed := 0
	for _, e := range entries {
		h := NewHeadline(e.Scenario, e.Result, e.Err)
		rows = append(rows, indexRow{Name: e.Scenario.Name, Summary: e.Scenario.Summary, Page: e.Page, File: e.Scenario.File,
			Passed: h.Passed, Word: h.Word(), Judgement: h.Judgement(), Fix: h.Fix})
		if h.Passed {
			passed++
		}
	}
	return indexTemplate.Execute(w, struct {
		Rows           []indexRow
		Passed, Failed int
	}{rows, passed, len(rows) - passed})
}

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sipnatlab: {{len .Rows}} scenarios</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1d1d1f; background: #fff; }
h1 { font-size: 20px; margin: 0 0 8px; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.verdict { display: inline-block; padding: 1px 6px; border-radius: 4px; font-weight: bold; color: #fff; }
.pass { background: #2e7d32; } .fail { background: #c62828; }
a:focus { outline: 3px solid #1565c0; outline-offset: 2px; }
.summary { color: #444; }
code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
</style>
</head>
<body>
<h1>sipnatlab: {{len .Rows}} scenarios, {{.Passed}} passed, {{.Failed}} failed</h1>
<table>
<tr><th scope="col">scenario</th><th scope="col">verdict</th><th scope="col">what became of the call</th><th scope="col">what it shows</th></tr>
{{range .Rows}}<tr class="scenario"><td><a href="{{.Page}}">{{.Name}}</a><br><code>{{.File}}</code></td><td><span class="verdict {{if .Passed}}pass{{else}}fail{{end}}">{{.Word}}</span></td><td>{{.Judgement}}{{if .Fix}}<br><b>Fix:</b> {{.Fix}}{{end}}</td><td class="summary">{{.Summary}}</td></tr>
{{end}}</table>
</body>
</html>
`))
