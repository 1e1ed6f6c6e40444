package idx_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/dataset/idx"
)

func TestRoundTripPlainAndGzip(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3*2*4)
	for i := range data {
		data[i] = byte(i)
	}
	f := &idx.File{Type: idx.Uint8, Dims: []int{3, 2, 4}, Data: data}
	for _, name := range []string{"a-idx3-ubyte", "a-idx3-ubyte.gz"} {
		p := filepath.Join(dir, name)
		if err := idx.WriteFile(p, f); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(p)
		if gz := strings.HasSuffix(name, ".gz"); gz != (raw[0] == 0x1f) {
			t.Fatalf("%s: gzip = %v, first byte %x", name, gz, raw[0])
		}
		g, err := idx.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if g.Type != idx.Uint8 || g.Items() != 3 || len(g.ItemShape()) != 2 || !bytes.Equal(g.Item(2), data[16:24]) {
			t.Fatalf("%s: read back %v %v", name, g.Type, g.Dims)
		}
	}
}

func TestFloat32sDecodesBigEndian(t *testing.T) {
	var b bytes.Buffer
	// Two int16 values, big-endian: 1 and -2.
	f := &idx.File{Type: idx.Int16, Dims: []int{2}, Data: []byte{0, 1, 0xff, 0xfe}}
	if err := idx.Write(&b, f); err != nil {
		t.Fatal(err)
	}
	g, err := idx.Read(&b, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if v := g.Float32s(); v[0] != 1 || v[1] != -2 {
		t.Fatalf("Float32s = %v, want [1 -2]", v)
	}
}

func TestBadFilesGiveClearErrors(t *testing.T) {
	good := []byte{0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"bad magic", []byte{1, 2, 3, 4}, "magic"},
		{"unknown type", []byte{0, 0, 0x42, 1, 0, 0, 0, 1, 0}, "type code"},
		{"short header", []byte{0, 0}, "header"},
		{"truncated data", good[:10], "need 3 bytes of data, read 2"},
		{"trailing data", append(append([]byte{}, good...), 1), "longer than"},
		{"huge dims", []byte{0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "exceed"},
	} {
		_, err := idx.Read(bytes.NewReader(tc.data), "f.idx")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "f.idx") {
			t.Errorf("%s: %v; want an error naming the file and %q", tc.name, err, tc.want)
		}
	}
	if _, err := idx.Read(bytes.NewReader(good), "ok"); err != nil {
		t.Fatal(err)
	}
}
