package trace

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Edit is one line of a SIP message that a NAT's ALG changed: the line before and
// after, in order of the message. Header is its header name ("" for a body line).
type Edit struct {
	Header        string
	Before, After string
}

// ALGEdits lists the lines the NAT's ALG changed in d's payload, and, when the
// Content-Length of the payload after no longer matches its body, says so ("" when it
// matches). It returns nothing for a datagram no ALG rewrote.
func ALGEdits(d *Datagram) (edits []Edit, stale string) {
	if d.alg < 0 || d.sent < 0 {
		return nil, ""
	}
	bh, bb, _ := bytes.Cut(d.t.log.At(int(d.sent)).Data, []byte("\r\n\r\n"))
	ah, ab, _ := bytes.Cut(d.ReceivedPayload(), []byte("\r\n\r\n"))
	diff := func(before, after []byte, header bool) {
		bl, al := strings.Split(string(before), "\r\n"), strings.Split(string(after), "\r\n")
		for i := range min(len(bl), len(al)) {
			if bl[i] == al[i] {
				continue
			}
			name := ""
			if header {
				name, _, _ = strings.Cut(al[i], ":")
				name = strings.TrimSpace(name)
			}
			edits = append(edits, Edit{Header: name, Before: bl[i], After: al[i]})
		}
	}
	diff(bh, ah, true)
	diff(bb, ab, false)
	for _, l := range strings.Split(string(ah), "\r\n") {
		name, v, ok := strings.Cut(l, ":")
		if n := strings.ToLower(strings.TrimSpace(name)); ok && (n == "content-length" || n == "l") {
			if cl, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && cl != len(ab) {
				stale = fmt.Sprintf("Content-Length: %d left as it was, but the body is now %d bytes", cl, len(ab))
			}
		}
	}
	return edits, stale
}
