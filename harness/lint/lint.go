// Package lint reads a Kamailio or OpenSIPS routing script and flags the two
// NAT pitfalls behind most "callee hangs up after 32 s" reports: replies from
// NATed callees whose Contact is never fixed, and reply Contacts fixed
// unconditionally, which breaks replies relayed by another proxy. It also
// flags two pitfalls of requests from phones behind NAT (requests.go): no
// force_rport(), and a registrar that saves a private Contact.
//
// It is a static check of the script text: no proxy is started. Routes called
// with route(NAME) and reply routes armed with t_on_reply("NAME") are
// followed, so a fix buried in a helper route, or a reply route armed only
// for NATed branches, is judged where it runs.
package lint

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// Unknown is the Report.Dialect of a script whose text shows neither engine; it is not
// an engine scenario.ParseEngine accepts.
const Unknown scenario.Engine = "unknown"

// Rule names one pitfall.
type Rule string

// Rules.
const (
	// MissingReplyFix: the script handles NAT on requests or registrations
	// but no reply route ever fixes a reply's Contact, so a NATed callee's
	// 200 OK keeps its private Contact and the ACK for it is lost
	// (RFC 3261 §13.2.2.4: the ACK for a 2xx goes to that Contact).
	MissingReplyFix Rule = "missing-reply-contact-fix"
	// UnconditionalReplyFix: a reply route fixes the Contact of every reply,
	// including replies relayed by another proxy, whose Contact it replaces
	// with that proxy's address.
	UnconditionalReplyFix Rule = "unconditional-reply-contact-fix"
	// NATTestReplyFix: a reply route fixes the Contact under no guard but a
	// NAT test of the reply itself (nat_uac_test(), client_nat_test()).
	// That test is true for a reply relayed by another proxy whose Contact is
	// still private, so a proxy that is not next to the phone rewrites it to
	// the relaying proxy's address. A branch flag set at registration
	// (isbflagset) tells a NATed end-point from a relaying proxy.
	NATTestReplyFix Rule = "nat-test-reply-contact-fix"
	// LegacyOpenSIPS: OpenSIPS 1.x/2.x syntax or settings that OpenSIPS 3.x
	// refuses to parse or start with (uri == myself, children=, no socket=).
	LegacyOpenSIPS Rule = "opensips-3x-rejects"
	// MissingForceRport: a script that serves phones behind NAT (it handles
	// NAT, or it is a registrar) never calls force_rport(), so a request whose
	// Via asks for no rport is answered at the Via's port and the reply dies at
	// the phone's NAT (RFC 3581).
	MissingForceRport Rule = "missing-force-rport"
	// UnfixedRegister: a registrar's save() with nothing that stores where a
	// NATed contact can be reached (fix_nated_register(), add_rcv_param(), a
	// Contact alias or rewrite), so the INVITE goes to a private Contact.
	UnfixedRegister Rule = "register-not-fixed"
	// EngineCheck: the engine's own config check (kamailio -c, opensips -c)
	// rejected the script; sipnatlab lint --engine-check runs it in a
	// container.
	EngineCheck Rule = "engine-check"
)

// Finding is one pitfall at one line.
type Finding struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Rule    Rule   `json:"rule"`
	Message string `json:"message"`
}

// String formats f as FILE:LINE: RULE: MESSAGE, as compilers do.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Rule, f.Message)
}

// Report is what Check found in one script.
type Report struct {
	File     string          `json:"file"`
	Dialect  scenario.Engine `json:"dialect"`  // the engine the script was written for, as far as its text shows; Unknown otherwise
	Findings []Finding       `json:"findings"` // in line order; empty when clean
}

// contactFixers rewrite a message's Contact to its source address.
var contactFixers = map[string]bool{
	"fix_nated_contact": true,
	"set_contact_alias": true, // Kamailio: the alias flavour of the same rewrite
}

// natHandlers show that a script deals with NAT on requests or registrations.
var natHandlers = map[string]bool{
	"nat_uac_test":       true,
	"client_nat_test":    true,
	"fix_nated_register": true,
	"fix_nated_contact":  true,
	"add_rcv_param":      true,
	"set_contact_alias":  true,
	"add_contact_alias":  true,
}

// guard is how much an if condition on the way to a Contact fix restricts
// it; along several ways, the weakest counts.
type guard int

const (
	unguarded guard = iota
	// natTested: only a NAT test of the message itself, true also for a
	// relayed reply whose Contact is still private.
	natTested
	// guarded: a flag set at registration, a source address check ...
	guarded
)

// natTestWords test the message for signs of NAT (natTested).
var natTestWords = map[string]bool{"nat_uac_test": true, "client_nat_test": true}

// guardWords in an if condition make what it guards conditional on NAT:
// flag tests (a NAT branch flag set at registration) and source address
// checks. Status-code or method checks are not guards.
var guardWords = map[string]bool{
	"is_rfc1918": true,
	"isbflagset": true, "isflagset": true, "issflagset": true, "is_bflag_set": true, "is_flag_set": true,
	"$bf": true, "$mf": true, "$bflags": true, "$flags": true,
	"$si": true, "$sp": true, "src_ip": true, "src_port": true, "$Ri": true,
	"check_route_param": true, "ds_is_from_list": true, "allow_source_address": true,
	"is_from_gw": true, "ipops.is_in_subnet": true, "is_in_subnet": true,
}

// MaxFileSize is the most CheckFile reads of a script: 4 MiB, about a hundred times
// Kamailio's stock kamailio.cfg. Anything longer is no routing script, and an endless
// input (/dev/zero) must not fill the memory.
const MaxFileSize = 4 << 20

// CheckFile reads path and checks it. The error wraps ErrBadScript (or an
// I/O error) when the file cannot be read as a routing script. A pipe is read
// as a file is (lint <(ssh host cat kamailio.cfg)), up to MaxFileSize.
func CheckFile(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lint %q: %w", path, err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("lint %q: %w", path, err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("lint %q: %w: longer than %d MiB; a routing script is tens of kilobytes", path, ErrBadScript, MaxFileSize>>20)
	}
	return Check(path, src)
}

// Check checks the script src; file names it in findings and errors.
func Check(file string, src []byte) (*Report, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, fmt.Errorf("lint %q: %w", file, err)
	}
	blocks, globals, err := parseScript(toks)
	if err != nil {
		return nil, fmt.Errorf("lint %q: %w", file, err)
	}
	s := &script{file: file, routes: map[string]*block{}}
	for i := range blocks {
		b := &blocks[i]
		s.blocks = append(s.blocks, b)
		switch b.kind {
		case "route":
			if b.name != "" && b.name != "0" {
				s.routes[b.name] = b
			}
		case "onreply_route":
			if b.name != "" {
				s.namedReply = append(s.namedReply, b)
			}
		}
	}
	r := &Report{File: file, Dialect: dialect(src, blocks), Findings: []Finding{}}
	r.Findings = append(r.Findings, s.check(globals)...)
	if r.Dialect == scenario.EngineOpenSIPS {
		r.Findings = append(r.Findings, s.legacyOpenSIPS(globals)...)
		sortFindings(r.Findings)
	}
	return r, nil
}

type script struct {
	file       string
	blocks     []*block
	routes     map[string]*block // route[NAME]
	namedReply []*block          // onreply_route[NAME]
}

// site is one place a function is reached from a root block, with the
// weakest guard of every way there.
type site struct {
	call  call
	guard guard
	root  *block
}

// walk visits body under guard g, following route(NAME) into route blocks,
// and calls visit for every function call reached.
func (s *script) walk(root *block, body []node, g guard, seen map[string]bool, visit func(site)) {
	for _, n := range body {
		for _, c := range n.calls {
			visit(site{call: c, guard: g, root: root})
			if c.name == "route" && c.arg != "" {
				if rb, ok := s.routes[c.arg]; ok {
					key := fmt.Sprintf("%s/%d", c.arg, g)
					if !seen[key] {
						seen[key] = true
						s.walk(root, rb.body, g, seen, visit)
					}
				}
			}
		}
		if n.cond != nil {
			inner := max(g, guardOf(n.cond))
			s.walk(root, n.then, inner, seen, visit)
			s.walk(root, n.els, inner, seen, visit)
		} else {
			s.walk(root, n.then, g, seen, visit)
		}
		// "if (!NAT test) { exit; }" (or return, drop) guards what follows.
		if n.cond != nil && endsRoute(n.then) {
			g = max(g, guardOf(n.cond))
		}
	}
}

// endsRoute reports whether body always leaves the route (exit/return/drop).
func endsRoute(body []node) bool {
	return len(body) > 0 && body[len(body)-1].exit
}

// guardOf is the guard an if condition gives what it guards.
func guardOf(cond []token) guard {
	g := unguarded
	for _, t := range cond {
		switch {
		case t.str:
		case guardWords[t.text]:
			return guarded
		case natTestWords[t.text]:
			g = natTested
		}
	}
	return g
}

func (s *script) check(globals []token) []Finding {
	// Which named reply routes are armed, and whether every arming is guarded.
	armed := map[string]guard{} // name -> the weakest guard it is armed under
	natLine, natName := 0, ""
	for _, b := range s.blocks {
		if !isEntry(b) || isReply(b) {
			continue
		}
		s.walk(b, b.body, unguarded, map[string]bool{}, func(st site) {
			if st.call.name == "t_on_reply" && st.call.arg != "" {
				if g, ok := armed[st.call.arg]; !ok || st.guard < g {
					armed[st.call.arg] = st.guard
				}
			}
			if natHandlers[st.call.name] && (natLine == 0 || st.call.line < natLine) {
				natLine, natName = st.call.line, st.call.name+"()"
			}
		})
	}
	if natLine == 0 {
		// modparam("registrar", "received_avp", ...) also means NAT is handled.
		for i, t := range globals {
			if t.str && t.text == "received_avp" && i > 0 {
				natLine, natName = t.line, `the "received_avp" parameter`
				break
			}
		}
	}

	// Every Contact fix reached from a reply route.
	type fix struct {
		line  int
		guard guard
		root  *block
	}
	fixes := map[int]fix{}
	var replyBlocks []*block
	for _, b := range s.blocks {
		if !isReply(b) {
			continue
		}
		replyBlocks = append(replyBlocks, b)
		start := unguarded
		if b.name != "" {
			start = armed[b.name] // armed only for NATed branches: guarded
		}
		s.walk(b, b.body, start, map[string]bool{}, func(st site) {
			if !contactFixers[st.call.name] {
				return
			}
			f, ok := fixes[st.call.line]
			if !ok {
				f = fix{line: st.call.line, guard: guarded, root: st.root}
			}
			f.guard = min(f.guard, st.guard)
			fixes[st.call.line] = f
		})
	}

	var out []Finding
	for _, f := range fixes {
		if f.guard == guarded {
			continue
		}
		if f.guard == natTested {
			out = append(out, Finding{
				File: s.file, Line: f.line, Rule: NATTestReplyFix,
				Message: fmt.Sprintf("Contact fixed in %s (line %d) whenever a NAT test of the reply "+
					"(nat_uac_test()) is true, and that test is also true for a reply relayed by another "+
					"proxy whose Contact is still private: a proxy that is not next to the phone then "+
					"rewrites it to the relaying proxy's address and the ACK for a 200 OK never reaches "+
					"the callee; guard the fix with a branch flag set on NATed REGISTERs and restored by "+
					"lookup(), e.g. if (isbflagset(NAT_BFLAG)) fix_nated_contact();", blockName(f.root), f.root.line),
			})
			continue
		}
		out = append(out, Finding{
			File: s.file, Line: f.line, Rule: UnconditionalReplyFix,
			Message: fmt.Sprintf("Contact fixed on every reply in %s (line %d): a reply relayed by "+
				"another proxy gets that proxy's address as its Contact and the ACK for a 200 OK "+
				"never reaches the callee; fix only replies from NATed end-points, e.g. "+
				"if (isbflagset(NAT_BFLAG)) fix_nated_contact(); with the flag set on NATed "+
				"REGISTERs and restored by lookup()", blockName(f.root), f.root.line),
		})
	}
	out = append(out, s.checkRequests(globals, natLine, natName)...)
	if len(fixes) == 0 && natLine != 0 {
		line := natLine
		where := "the script has no reply route"
		if len(replyBlocks) > 0 {
			line = replyBlocks[0].line
			names := make([]string, len(replyBlocks))
			for i, b := range replyBlocks {
				names[i] = fmt.Sprintf("%s (line %d)", blockName(b), b.line)
			}
			where = "no reply route fixes a Contact: " + strings.Join(names, ", ")
		}
		out = append(out, Finding{
			File: s.file, Line: line, Rule: MissingReplyFix,
			Message: fmt.Sprintf("NAT is handled on requests (%s at line %d) but %s; a NATed "+
				"callee's 200 OK keeps its private Contact and the ACK for it is lost; call "+
				"fix_nated_contact() in the reply route for replies from NATed end-points",
				natName, natLine, where),
		})
	}
	sortFindings(out)
	return out
}

// sortFindings orders findings by line, keeping the order of one line's.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Line < fs[j].Line })
}

// isReply reports whether b runs for replies.
func isReply(b *block) bool {
	return b.kind == "onreply_route" || b.kind == "reply_route"
}

// isEntry reports whether the proxy runs b by itself (not only through
// route(NAME)): every block but route[NAME].
func isEntry(b *block) bool {
	return b.kind != "route" || b.name == "" || b.name == "0"
}

func blockName(b *block) string {
	if b.name == "" {
		return b.kind
	}
	return b.kind + "[" + b.name + "]"
}

// dialect guesses the proxy from the script's own markers.
func dialect(src []byte, blocks []block) scenario.Engine {
	text := string(src)
	if strings.HasPrefix(text, "#!KAMAILIO") || strings.HasPrefix(text, "#!SER") ||
		strings.Contains(text, "\n#!define") || strings.Contains(text, "\n#!ifdef") ||
		slices.ContainsFunc(blocks, func(b block) bool { return b.kind == "request_route" || b.kind == "reply_route" }) {
		return scenario.EngineKamailio
	}
	if strings.Contains(text, "proto_udp.so") || strings.Contains(text, "signaling.so") ||
		strings.Contains(text, "stderror_enabled") || strings.Contains(text, "udp_workers") ||
		strings.Contains(text, "/opensips/") {
		return scenario.EngineOpenSIPS
	}
	return Unknown
}
