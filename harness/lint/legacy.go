package lint

import (
	"fmt"
	"strings"
)

// legacyWords are OpenSIPS 1.x/2.x expression keywords that 3.x no longer
// knows: its parser stops at them with "bare word <uri> found, command calls
// need '()'". Each maps to its 3.x replacement.
var legacyWords = map[string]string{
	"myself":   `is_myself("$rd") (or is_myself("$si"), is_myself("$fd") for the other sides)`,
	"uri":      `$ru, and is_myself("$rd") for "uri == myself"`,
	"method":   `is_method("INVITE") or $rm`,
	"src_ip":   `$si, and is_myself("$si") for "src_ip == myself"`,
	"src_port": "$sp",
	"dst_ip":   "$Ri",
	"dst_port": "$Rp",
	"from_uri": `$fu, and is_myself("$fd") for "from_uri == myself"`,
	"to_uri":   "$tu",
	"status":   "$rs",
	"proto":    "$proto",
	"af":       "$af",
}

// legacyGlobals are OpenSIPS 1.x/2.x global parameters 3.x rejects, with
// their replacement.
var legacyGlobals = map[string]string{
	"children":     "udp_workers",
	"tcp_children": "tcp_workers",
	"debug":        "log_level (and debug_mode=yes for development)",
	"fork":         "nothing: the -F command-line option keeps OpenSIPS in the foreground",
	"disable_tcp":  `nothing: TCP is off unless proto_tcp.so is loaded and a socket=tcp:... is given`,
	"disable_tls":  `nothing: TLS is off unless proto_tls.so is loaded and a socket=tls:... is given`,
	"port":         "the port in each socket= line (socket=udp:ADDR:5060)",
}

// statementKeywords may stand alone as a statement.
var statementKeywords = map[string]bool{
	"exit": true, "drop": true, "return": true, "break": true,
}

// legacyOpenSIPS finds what an OpenSIPS 3.x parser rejects in a script
// written for 1.x/2.x, and a script with no listening socket, which 3.x
// refuses to start.
func (s *script) legacyOpenSIPS(globals []token) []Finding {
	var out []Finding
	add := func(line int, rule Rule, format string, args ...any) {
		out = append(out, Finding{File: s.file, Line: line, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	socket := false
	for i, t := range globals {
		if t.str {
			continue
		}
		if t.text == "socket" || t.text == "listen" {
			socket = true
		}
		// NAME = at the start of a line: a global parameter.
		if repl, ok := legacyGlobals[t.text]; ok && i+1 < len(globals) && globals[i+1].text == "=" && !globals[i+1].str &&
			(i == 0 || globals[i-1].line < t.line) {
			add(t.line, LegacyOpenSIPS, "%q is an OpenSIPS 1.x/2.x global parameter that OpenSIPS 3.x rejects; use %s", t.text, repl)
		}
	}
	if !socket {
		line := 1
		if len(globals) > 0 {
			line = globals[0].line
		}
		add(line, LegacyOpenSIPS, "no socket= (or listen=) line: OpenSIPS 3.x then has no listener and refuses to start "+
			"(\"no transport protocol loaded\"); add socket=udp:ADDR:5060 with the address (or interface name, e.g. eth0) "+
			"the other hosts reach")
	}
	for _, b := range s.blocks {
		s.legacyIn(b.body, add)
	}
	return out
}

func (s *script) legacyIn(body []node, add func(int, Rule, string, ...any)) {
	for _, n := range body {
		for i, t := range n.toks {
			if t.str || inTransformation(n.toks, i) {
				continue
			}
			next := i+1 < len(n.toks) && !n.toks[i+1].str && n.toks[i+1].text == "("
			prev := i > 0 && !n.toks[i-1].str && (n.toks[i-1].text == "$" || n.toks[i-1].text == ":" || n.toks[i-1].text == ".")
			if repl, ok := legacyWords[t.text]; ok && !next && !prev {
				add(t.line, LegacyOpenSIPS, "bare word %q is OpenSIPS 1.x/2.x syntax; OpenSIPS 3.x rejects it "+
					"(\"bare word <%s> found, command calls need '()'\"): use %s", t.text, t.text, repl)
			}
		}
		if n.cond == nil && len(n.toks) == 1 && !n.toks[0].str && isName(n.toks[0].text) &&
			!statementKeywords[n.toks[0].text] && legacyWords[n.toks[0].text] == "" {
			add(n.line, LegacyOpenSIPS, "%s; calls a function without parentheses, which OpenSIPS 3.x rejects "+
				"(\"command calls need '()'\"): write %s();", n.toks[0].text, n.toks[0].text)
		}
		s.legacyIn(n.then, add)
		s.legacyIn(n.els, add)
	}
}

// inTransformation reports whether toks[i] is inside $(...) or {...}
// (a pseudo-variable's name or a transformation such as {uri.user}), where
// words are names, not expressions.
func inTransformation(toks []token, i int) bool {
	depth := 0
	for j := i - 1; j >= 0; j-- {
		t := toks[j]
		if t.str {
			continue
		}
		switch t.text {
		case ")", "}":
			depth++
		case "(":
			if depth == 0 {
				return j > 0 && !toks[j-1].str && (strings.HasPrefix(toks[j-1].text, "$") || toks[j-1].text == "$")
			}
			depth--
		case "{":
			if depth == 0 {
				return true
			}
			depth--
		}
	}
	return false
}
