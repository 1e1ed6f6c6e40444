package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/store/storetest"
)

// writeTinyIDX writes 10 4x4 images (pixel = 16i+j) and labels (i%3) in IDX
// format, as dataset's own tests do, and returns the two paths.
func writeTinyIDX(t *testing.T, dir string) (images, labels string) {
	t.Helper()
	const n = 10
	px := make([]byte, n*16)
	for i := range px {
		px[i] = byte(i)
	}
	ls := make([]byte, n)
	for i := range ls {
		ls[i] = byte(i % 3)
	}
	images, labels = filepath.Join(dir, "tiny-images-idx3-ubyte"), filepath.Join(dir, "tiny-labels-idx1-ubyte")
	for _, f := range []struct {
		path string
		idx  *formats.IDX
	}{
		{images, &formats.IDX{Type: formats.IDXUint8, Dims: []int{n, 4, 4}, Data: px}},
		{labels, &formats.IDX{Type: formats.IDXUint8, Dims: []int{n}, Data: ls}},
	} {
		var b bytes.Buffer
		if err := formats.EncodeIDX(&b, f.idx); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return images, labels
}

// writePNG writes a 2x2 PNG of one colour.
func writePNG(t *testing.T, path string, c color.Gray) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	for i := range img.Pix {
		img.Pix[i] = c.Y
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDatasetCommandsUsage(t *testing.T) {
	for _, args := range [][]string{{"import", "idx", "--help"}, {"import", "folder", "--help"}, {"export", "idx", "--help"}} {
		name := strings.Join(args[:2], " ")
		code, out, _ := runTL(args...)
		if code != 0 || !strings.Contains(out, "Usage:\n  tl "+name) || !strings.Contains(out, "--mongo") || !strings.Contains(out, "--collection") || !strings.Contains(out, "--home") {
			t.Errorf("tl %s --help: exit %d, %q", name, code, out)
		}
	}
	if _, out, _ := runTL("import", "idx", "--help"); !strings.Contains(out, "--classes") || !strings.Contains(out, "--define") {
		t.Errorf("tl import idx --help lacks --classes or --define: %q", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "expected idx, folder, cifar, ptb, text8 or jsonl"},
		{[]string{"import", "csv", "x"}, `got "csv"`},
		{[]string{"import", "idx", "a"}, "expected 2 argument"},
		{[]string{"import", "folder"}, "expected 1 argument"},
		{[]string{"import", "idx", "a", "b", "--define", "x"}, "--define needs --tags or --prefix"},
		{[]string{"export"}, "expected idx"},
		{[]string{"export", "idx", "tiny", "a"}, "expected 3 argument"},
		{[]string{"datasets", "a", "b"}, "expected 0 to 1 arguments"},
	} {
		if code, _, errOut := runTL(c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("tl %s: exit %d, %q; want exit 2 and %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}

func TestDatasetCommands(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db, conn := isolatedStore(t, b, "vision")
		tl := tlWith(t, conn)
		dir := t.TempDir()
		images, labels := writeTinyIDX(t, dir)

		code, out, errOut := tl("import", "idx", images, labels, "--tags", "train", "--classes", "fashion-mnist", "--define", "tiny")
		if code != 0 {
			t.Fatalf("tl import idx: exit %d: %s%s", code, out, errOut)
		}
		for _, want := range []string{`inserted 10, skipped 0 in `, `into collection "samples" of project "vision"`, "defined dataset tiny: tags=train (10 samples)"} {
			if !strings.Contains(out, want) {
				t.Errorf("tl import idx: output lacks %q:\n%s", want, out)
			}
		}
		if !strings.Contains(errOut, "import tiny-images-idx3-ubyte [") || !strings.Contains(errOut, "10/10 100%") {
			t.Errorf("tl import idx: no progress line on stderr: %q", errOut)
		}

		t.Run("list", func(t *testing.T) {
			code, out, errOut := tl("datasets")
			if code != 0 {
				t.Fatalf("tl datasets: exit %d: %s", code, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "DATASET ") ||
				strings.Join(strings.Fields(lines[1]), " ") != "tiny 10 tags=train" ||
				!strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), "(all) 10 every sample") {
				t.Errorf("tl datasets: want a header, tiny and (all) with 10 samples:\n%s", out)
			}
			code, out, _ = tl("datasets", "--json")
			var js struct {
				Project  string
				Datasets []struct {
					Name    string
					Samples int64
					Query   struct{ Tags []string }
				}
				All int64
			}
			if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || js.Project != "vision" || js.All != 10 ||
				len(js.Datasets) != 1 || js.Datasets[0].Name != "tiny" || js.Datasets[0].Samples != 10 ||
				len(js.Datasets[0].Query.Tags) != 1 || js.Datasets[0].Query.Tags[0] != "train" {
				t.Errorf("tl datasets --json: exit %d, %v, %+v\n%s", code, err, js, out)
			}
		})

		t.Run("show", func(t *testing.T) {
			code, out, errOut := tl("datasets", "tiny")
			if code != 0 {
				t.Fatalf("tl datasets tiny: exit %d: %s", code, errOut)
			}
			// Labels i%3 of 10: 0 four times, 1 and 2 three times each.
			var got []string
			for l := range strings.SplitSeq(out, "\n") {
				got = append(got, strings.Join(strings.Fields(l), " "))
			}
			norm := strings.Join(got, "\n")
			for _, want := range []string{"query: tags=train", "samples: 10", "first keys: 0, 1, 2, 3, 4",
				"LABEL NAME SAMPLES\n0 T-shirt/top 4\n1 Trouser 3\n2 Pullover 3\n", "TAG SAMPLES\ntrain 10"} {
				if !strings.Contains(norm, want) {
					t.Errorf("tl datasets tiny: lacks %q:\n%s", want, out)
				}
			}
			code, out, _ = tl("datasets", "tiny", "--json")
			var js struct {
				Name    string
				Samples int64
				Labels  []struct {
					Label int
					Name  string
					Count int64
				}
				Tags      []struct{ Tag string }
				FirstKeys []string `json:"first_keys"`
			}
			if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || js.Name != "tiny" || js.Samples != 10 ||
				len(js.Labels) != 3 || js.Labels[0].Count != 4 || js.Labels[1].Name != "Trouser" ||
				len(js.Tags) != 1 || len(js.FirstKeys) != 5 || js.FirstKeys[4] != "4" {
				t.Errorf("tl datasets tiny --json: exit %d, %v, %+v\n%s", code, err, js, out)
			}

			code, _, errOut = tl("datasets", "tinny")
			if code != 1 || !strings.Contains(errOut, `"tinny"`) || !strings.Contains(errOut, "its datasets: tiny") {
				t.Errorf("tl datasets tinny: exit %d, %q; want exit 1 naming tinny and listing tiny", code, errOut)
			}
			code, _, errOut = runTL("datasets", "tiny", "--mongo", dbURL(db), "--project", "empty")
			if code != 1 || !strings.Contains(errOut, "no datasets") {
				t.Errorf("tl datasets tiny in an empty project: exit %d, %q", code, errOut)
			}
		})

		t.Run("export", func(t *testing.T) {
			out := t.TempDir()
			img, lab := filepath.Join(out, "img"), filepath.Join(out, "lab")
			code, stdout, errOut := tl("export", "idx", "tiny", img, lab)
			if code != 0 || !strings.Contains(stdout, "exported 10 samples of dataset tiny") {
				t.Fatalf("tl export idx: exit %d: %s%s", code, stdout, errOut)
			}
			for _, p := range [][2]string{{images, img}, {labels, lab}} {
				want, _ := os.ReadFile(p[0])
				got, err := os.ReadFile(p[1])
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("tl export idx: %s differs from the imported %s (%v)", p[1], p[0], err)
				}
			}
			code, _, errOut = tl("export", "idx", "tinny", img, lab)
			if code != 1 || !strings.Contains(errOut, "its datasets: tiny") {
				t.Errorf("tl export idx tinny: exit %d, %q", code, errOut)
			}
		})

		t.Run("reimport", func(t *testing.T) {
			// The same files again: every key exists, so nothing is inserted.
			code, out, errOut := tl("import", "idx", images, labels, "--tags", "train", "--quiet")
			if code != 0 || !strings.Contains(out, "inserted 0, skipped 10") || !strings.Contains(errOut, "10 samples skipped") {
				t.Errorf("tl import idx again: exit %d, %q, %q", code, out, errOut)
			}
			if strings.Contains(errOut, "10/10") {
				t.Errorf("tl import idx --quiet drew progress: %q", errOut)
			}
			code, _, errOut = tl("import", "idx", images, labels, "--skip-existing=false", "--quiet")
			if code != 1 || !strings.Contains(errOut, "duplicate sample key") || !strings.Contains(errOut, images) {
				t.Errorf("tl import idx --skip-existing=false: exit %d, %q", code, errOut)
			}
			// Under another prefix the same files are new samples.
			code, out, errOut = tl("import", "idx", images, labels, "--prefix", "test-", "--tags", "test", "--define", "test", "--quiet")
			if code != 0 || !strings.Contains(out, "inserted 10, skipped 0") || !strings.Contains(out, "defined dataset test: tags=test prefix=test- (10 samples)") {
				t.Errorf("tl import idx --prefix test-: exit %d, %q, %q", code, out, errOut)
			}
			code, out, _ = tl("datasets")
			norm := strings.Join(strings.Fields(out), " ")
			if code != 0 || !strings.Contains(norm, "test 10 tags=test prefix=test- tiny 10 tags=train (all) 20") {
				t.Errorf("tl datasets after the second import: exit %d\n%s", code, out)
			}
		})

		t.Run("folder", func(t *testing.T) {
			root := t.TempDir()
			writePNG(t, filepath.Join(root, "cat", "a.png"), color.Gray{Y: 10})
			writePNG(t, filepath.Join(root, "dog", "b.png"), color.Gray{Y: 200})
			code, out, errOut := tl("import", "folder", root, "--tags", "pets", "--define", "pets")
			if code != 0 || !strings.Contains(out, "classes: 0=cat 1=dog") || !strings.Contains(out, "inserted 2, skipped 0") ||
				!strings.Contains(out, "defined dataset pets: tags=pets (2 samples)") || !strings.Contains(errOut, "2/2 100%") {
				t.Fatalf("tl import folder: exit %d, %q, %q", code, out, errOut)
			}
			code, out, _ = tl("datasets", "pets")
			norm := strings.Join(strings.Fields(out), " ")
			if code != 0 || !strings.Contains(norm, "0 cat 1 1 dog 1") || !strings.Contains(norm, "first keys: cat/a.png, dog/b.png") {
				t.Errorf("tl datasets pets: exit %d\n%s", code, out)
			}
			code, out, _ = tl("import", "folder", root, "--tags", "pets", "--quiet")
			if code != 0 || !strings.Contains(out, "inserted 0, skipped 2") {
				t.Errorf("tl import folder again: exit %d, %q", code, out)
			}
			// Encoded images are not tensors: IDX cannot hold them.
			code, _, errOut = tl("export", "idx", "pets", filepath.Join(root, "i"), filepath.Join(root, "l"))
			if code != 1 || !strings.Contains(errOut, "not a uint8 tensor") {
				t.Errorf("tl export idx pets: exit %d, %q", code, errOut)
			}
		})
	})
}
