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

// FuzzDiagnose feeds arbitrary bytes as a capture file: the reader and the analysis
// must end with a diagnosis or an error, never a panic.
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
	})
}
