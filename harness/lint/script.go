package lint

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrBadScript is wrapped by every error about input that is not a routing
// script this package can read (unbalanced braces, an unterminated string, no
// route block at all).
var ErrBadScript = errors.New("not a readable Kamailio or OpenSIPS routing script")

// token is one lexical unit of a routing script, comments removed.
type token struct {
	text string
	line int
	str  bool // a quoted string; text is its content without quotes
}

// tokenize splits src into tokens. It drops comments (# to end of line,
// // to end of line, /* ... */) and pre-processor lines (#!define, !!ifdef
// ...), keeps strings whole and reports where a string or comment never ends.
func tokenize(src []byte) ([]token, error) {
	if bytes.IndexByte(src, 0) >= 0 {
		return nil, fmt.Errorf("%w: binary data (NUL byte)", ErrBadScript)
	}
	var toks []token
	line := 1
	i := 0
	n := len(src)
	atLineStart := true
	for i < n {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
			atLineStart = true
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			i++
			continue
		case c == '#' || (c == '!' && atLineStart && i+1 < n && src[i+1] == '!'):
			// A comment, or a pre-processor directive (#!define, !!ifdef):
			// neither holds routing logic; both run to the end of the line.
			for i < n && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < n && src[i+1] == '/':
			for i < n && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < n && src[i+1] == '*':
			start := line
			i += 2
			for i < n && !(src[i] == '*' && i+1 < n && src[i+1] == '/') {
				if src[i] == '\n' {
					line++
				}
				i++
			}
			if i >= n {
				return nil, fmt.Errorf("%w: line %d: comment /* never closed", ErrBadScript, start)
			}
			i += 2
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			i++
			for i < n && src[i] != c {
				if src[i] == '\\' && i+1 < n {
					b.WriteByte(src[i])
					i++
				}
				if src[i] == '\n' {
					line++
				}
				b.WriteByte(src[i])
				i++
			}
			if i >= n {
				return nil, fmt.Errorf("%w: line %d: string never closed", ErrBadScript, start)
			}
			i++
			toks = append(toks, token{text: b.String(), line: start, str: true})
		case isWord(c):
			j := i
			for j < n && isWord(src[j]) {
				j++
			}
			toks = append(toks, token{text: string(src[i:j]), line: line})
			i = j
		default:
			toks = append(toks, token{text: string(c), line: line})
			i++
		}
		atLineStart = false
	}
	return toks, nil
}

// isWord reports whether c belongs to a name, a number or a pseudo-variable
// ($avp, $rU, FLB_NATB, 5060, 10.0.0.1).
func isWord(c byte) bool {
	return c == '_' || c == '$' || c == '.' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// node is one statement of a route block.
type node struct {
	line  int
	calls []call  // function calls in a plain statement, or in an if/while condition
	cond  []token // if/while condition, nil for other statements
	toks  []token // the condition, or the whole plain statement
	then  []node  // if/while body, or the statements of a block or switch
	els   []node  // else branch
	exit  bool    // a plain statement that ends the route: exit, return, drop
}

// call is one function call in a statement: fix_nated_contact(), route(RELAY).
type call struct {
	name string
	arg  string // the first argument when it is a single word or string
	line int
}

// block is one top-level route block: request_route, route[NAME],
// onreply_route[NAME] ...
type block struct {
	kind string // the keyword: route, request_route, onreply_route ...
	name string // the name in brackets, "" for a default block
	line int
	body []node
}

// routeKeywords are the top-level block keywords of Kamailio and OpenSIPS.
var routeKeywords = map[string]bool{
	"route": true, "request_route": true, "reply_route": true, "onreply_route": true,
	"failure_route": true, "branch_route": true, "local_route": true, "startup_route": true,
	"timer_route": true, "event_route": true, "error_route": true, "onsend_route": true,
}

// parser reads the token stream of one script.
type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.pos], true
}

func (p *parser) is(text string) bool {
	t, ok := p.peek()
	return ok && !t.str && t.text == text
}

func (p *parser) lastLine() int {
	if len(p.toks) == 0 {
		return 1
	}
	return p.toks[len(p.toks)-1].line
}

// parseScript finds every route block; everything between blocks (globals,
// loadmodule, modparam) is returned as plain tokens for the caller to scan.
func parseScript(toks []token) ([]block, []token, error) {
	p := &parser{toks: toks}
	var blocks []block
	var globals []token
	for {
		t, ok := p.peek()
		if !ok {
			break
		}
		if !t.str && routeKeywords[t.text] && p.startsBlock() {
			b, err := p.parseBlockHeader()
			if err != nil {
				return nil, nil, err
			}
			blocks = append(blocks, b)
			continue
		}
		if !t.str && (t.text == "{" || t.text == "}") {
			return nil, nil, fmt.Errorf("%w: line %d: %q outside any route block", ErrBadScript, t.line, t.text)
		}
		globals = append(globals, t)
		p.pos++
	}
	if len(blocks) == 0 {
		return nil, nil, fmt.Errorf("%w: no route block (request_route, route, onreply_route ...)", ErrBadScript)
	}
	return blocks, globals, nil
}

// startsBlock reports whether the keyword at p.pos opens a block:
// KEYWORD '{' or KEYWORD '[' NAME ']' '{'. A keyword used as a function
// (route(RELAY)) does not.
func (p *parser) startsBlock() bool {
	i := p.pos + 1
	if i < len(p.toks) && p.toks[i].text == "[" && !p.toks[i].str {
		for i < len(p.toks) && !(p.toks[i].text == "]" && !p.toks[i].str) {
			i++
		}
		i++
	}
	return i < len(p.toks) && p.toks[i].text == "{" && !p.toks[i].str
}

func (p *parser) parseBlockHeader() (block, error) {
	kw := p.toks[p.pos]
	p.pos++
	b := block{kind: kw.text, line: kw.line}
	if p.is("[") {
		p.pos++
		var name strings.Builder
		for !p.is("]") {
			t, _ := p.peek()
			name.WriteString(t.text)
			p.pos++
		}
		p.pos++
		b.name = name.String()
	}
	p.pos++ // '{'
	body, err := p.parseStatements(kw.line)
	if err != nil {
		return block{}, err
	}
	b.body = body
	return b, nil
}

// parseStatements reads statements up to and including the '}' that closes
// the block opened at line open.
func (p *parser) parseStatements(open int) ([]node, error) {
	var out []node
	for {
		t, ok := p.peek()
		if !ok {
			return nil, fmt.Errorf("%w: line %d: block opened here is never closed (end of file at line %d)", ErrBadScript, open, p.lastLine())
		}
		if !t.str && t.text == "}" {
			p.pos++
			return out, nil
		}
		n, err := p.parseStatement()
		if err != nil {
			return nil, err
		}
		if n != nil {
			out = append(out, *n)
		}
	}
}

// parseStatement reads one statement: a block, if/else, while, switch, or a
// plain statement up to ';'.
func (p *parser) parseStatement() (*node, error) {
	t, _ := p.peek()
	switch {
	case t.str:
	case t.text == ";":
		p.pos++
		return nil, nil
	case t.text == "{":
		p.pos++
		body, err := p.parseStatements(t.line)
		if err != nil {
			return nil, err
		}
		return &node{line: t.line, then: body}, nil
	case t.text == "if" || t.text == "while":
		p.pos++
		cond, err := p.parseParens(t.line)
		if err != nil {
			return nil, err
		}
		n := &node{line: t.line, cond: cond, toks: cond, calls: callsIn(cond)}
		then, err := p.parseBody(t.line)
		if err != nil {
			return nil, err
		}
		n.then = then
		if t.text == "if" && p.is("else") {
			p.pos++
			els, err := p.parseBody(t.line)
			if err != nil {
				return nil, err
			}
			n.els = els
		}
		return n, nil
	case t.text == "switch":
		p.pos++
		expr, err := p.parseParens(t.line)
		if err != nil {
			return nil, err
		}
		if !p.is("{") {
			return nil, fmt.Errorf("%w: line %d: switch without a block", ErrBadScript, t.line)
		}
		p.pos++
		body, err := p.parseStatements(t.line)
		if err != nil {
			return nil, err
		}
		return &node{line: t.line, toks: expr, then: body}, nil
	case t.text == "case" || t.text == "default":
		// A switch label: skip to its ':'.
		for {
			u, ok := p.peek()
			if !ok {
				return nil, fmt.Errorf("%w: line %d: %s label without ':'", ErrBadScript, t.line, t.text)
			}
			p.pos++
			if !u.str && u.text == ":" {
				return nil, nil
			}
		}
	}
	// A plain statement, up to ';' at parenthesis depth 0, or up to the '}'
	// of the enclosing block when the last ';' is missing.
	start := p.pos
	depth := 0
	for {
		u, ok := p.peek()
		if !ok {
			break
		}
		if !u.str {
			if u.text == "(" {
				depth++
			} else if u.text == ")" {
				depth--
			} else if depth == 0 && u.text == ";" {
				break
			} else if depth == 0 && (u.text == "}" || u.text == "{") {
				break
			}
		}
		p.pos++
	}
	stmt := p.toks[start:p.pos]
	if p.is(";") {
		p.pos++
	}
	if depth != 0 {
		return nil, fmt.Errorf("%w: line %d: unbalanced parentheses", ErrBadScript, t.line)
	}
	if len(stmt) == 0 {
		if p.is("{") {
			// A '{' where a statement's end was expected: let the block parser take it.
			return p.parseStatement()
		}
		return nil, nil
	}
	n := &node{line: stmt[0].line, toks: stmt, calls: callsIn(stmt)}
	if first := stmt[0]; !first.str && (first.text == "exit" || first.text == "return" || first.text == "drop") {
		n.exit = true
	}
	return n, nil
}

// parseBody reads the statement or block after if (...) / else / while (...).
func (p *parser) parseBody(line int) ([]node, error) {
	if _, ok := p.peek(); !ok {
		return nil, fmt.Errorf("%w: line %d: if/while without a body", ErrBadScript, line)
	}
	if p.is("{") {
		t, _ := p.peek()
		p.pos++
		return p.parseStatements(t.line)
	}
	n, err := p.parseStatement()
	if err != nil || n == nil {
		return nil, err
	}
	return []node{*n}, nil
}

// parseParens reads '(' ... ')' and returns the tokens between.
func (p *parser) parseParens(line int) ([]token, error) {
	if !p.is("(") {
		return nil, fmt.Errorf("%w: line %d: expected '(' after if/while/switch", ErrBadScript, line)
	}
	p.pos++
	start := p.pos
	depth := 1
	pvars := 0 // open "$(" of a pseudo-variable with transformations: $(ru{uri.user})
	var opened []bool
	for {
		t, ok := p.peek()
		if !ok {
			return nil, fmt.Errorf("%w: line %d: '(' never closed", ErrBadScript, line)
		}
		if !t.str {
			switch t.text {
			case "(":
				depth++
				pv := p.pos > 0 && !p.toks[p.pos-1].str && p.toks[p.pos-1].text == "$"
				opened = append(opened, pv)
				if pv {
					pvars++
				}
			case ")":
				depth--
				if n := len(opened); n > 0 {
					if opened[n-1] {
						pvars--
					}
					opened = opened[:n-1]
				}
			case "{", "}":
				if pvars == 0 {
					return nil, fmt.Errorf("%w: line %d: '(' never closed before %q at line %d", ErrBadScript, line, t.text, t.line)
				}
			}
		}
		p.pos++
		if depth == 0 {
			return p.toks[start : p.pos-1], nil
		}
	}
}

// callsIn lists every NAME( in toks with its first argument when simple.
func callsIn(toks []token) []call {
	var out []call
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if t.str || !isName(t.text) || toks[i+1].str || toks[i+1].text != "(" {
			continue
		}
		c := call{name: t.text, line: t.line}
		if i+3 < len(toks) && (toks[i+3].text == ")" || toks[i+3].text == ",") && !toks[i+3].str {
			c.arg = toks[i+2].text
		}
		out = append(out, c)
	}
	return out
}

func isName(s string) bool {
	if s == "" || s[0] == '$' || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	return !strings.Contains(s, ".")
}
