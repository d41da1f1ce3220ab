package field_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sipnatlab/sipnatlab/harness/field"
)

// FuzzDiagnose feeds arbitrary bytes as a capture file: the reader and the analysis,
// keeping every call or streaming them out as JSON, must end with a diagnosis or an
// error, never a panic.
func FuzzDiagnose(f *testing.F) {
	for _, name := range []string{"sim-no-nat-handling-plain.pcap", "sim-excessive-nat-handling.pcapng", "kamailio-correct-nat-handling-bridge.pcap"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name := filepath.Join(t.TempDir(), "c.pcap")
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if r, err := field.Open(name, 0); err == nil {
			for {
				if _, err := r.Next(); err != nil {
					if !errors.Is(err, io.EOF) && err.Error() == "" {
						t.Fatal("an error with no words")
					}
					break
				}
			}
			_ = r.Close()
		}
		_, _ = field.Diagnose(context.Background(), []string{name}, field.Options{})
		// The streaming path too: every call out as JSON while it is judged.
		js, err := field.NewJSONStream(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		d, err := field.Diagnose(context.Background(), []string{name}, field.Options{Keep: 1, OnCall: js.Call})
		if err != nil {
			js.Discard()
			return
		}
		if err := js.Finish(d); err != nil {
			t.Fatal(err)
		}
	})
}
