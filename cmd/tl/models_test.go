package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

func TestStoreCommandsHelp(t *testing.T) {
	_, out, _ := runTL("--help")
	for _, cmd := range []string{"models", "runs", "curve"} {
		if !strings.Contains(out, "\n  "+cmd+" ") {
			t.Errorf("tl --help does not list %s:\n%s", cmd, out)
		}
		code, help, _ := runTL(cmd, "--help")
		if code != 0 || !strings.Contains(help, "Usage:\n  tl "+cmd) || !strings.Contains(help, "Flags:") || !strings.Contains(help, "--mongo") || !strings.Contains(help, "--home") {
			t.Errorf("tl %s --help: exit %d, %q", cmd, code, help)
		}
	}
	if code, _, errOut := runTL("runs"); code != 2 || !strings.Contains(errOut, "expected 1 argument") {
		t.Errorf("tl runs without a model: %d %q", code, errOut)
	}
	if code, _, errOut := runTL("curve", "a", "b"); code != 2 || !strings.Contains(errOut, "expected 1 argument") {
		t.Errorf("tl curve with two models: %d %q", code, errOut)
	}
}

// storeFixture saves two versions of "cnn" (v2 aliased prod, v1 staging,
// v2 fine-tuned from v1), one of "mlp", and two training runs of cnn, in
// project "vision"; it returns the flags that reach that store.
func storeFixture(t *testing.T, b storetest.Backend) (*store.DB, []string) {
	t.Helper()
	db, conn := isolatedStore(t, b, "vision")
	ctx := storetest.Context(t)
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	save := func(name string, size int, metrics map[string]float64, lin models.Lineage) *models.Model {
		m, err := ms.Save(ctx, models.Spec{Name: name, Metrics: metrics, Lineage: lin}, bytes.NewReader(make([]byte, size)))
		if err != nil {
			t.Fatalf("save %s: %v", name, err)
		}
		return m
	}
	v1 := save("cnn", 1500, map[string]float64{"accuracy": 0.875, "loss": 0.41}, models.Lineage{Run: "run-a"})
	save("cnn", 3<<20, map[string]float64{"accuracy": 0.9125, "loss": 0.27}, models.Lineage{Run: "run-b", Parent: v1.ID})
	save("mlp", 10, map[string]float64{"accuracy": 0.8}, models.Lineage{})
	if err := ms.Alias(ctx, "cnn", "prod", 2); err != nil {
		t.Fatal(err)
	}
	if err := ms.Alias(ctx, "cnn", "staging", 1); err != nil {
		t.Fatal(err)
	}

	for _, r := range []struct {
		run   string
		steps int64
	}{{"run-a", 20}, {"run-b", 5}} {
		w, err := events.NewWriter(db, events.Options{Model: "cnn", Run: r.run})
		if err != nil {
			t.Fatal(err)
		}
		for step := int64(1); step <= r.steps; step++ {
			w.Step(step, map[string]float64{"loss": 2 / float64(step), "accuracy": 1 - 1/float64(step+1)})
			if step%5 == 0 {
				w.Log(events.Event{Phase: events.Validation, Step: step, Values: map[string]float64{"loss": 2.5 / float64(step)}})
			}
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return db, conn
}

func TestStoreCommands(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db, conn := storeFixture(t, b)
		tl := tlWith(t, conn)

		t.Run("models", func(t *testing.T) {
			code, out, errOut := tl("models")
			if code != 0 {
				t.Fatalf("tl models: exit %d: %s", code, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "MODEL ") {
				t.Fatalf("tl models: want a header and 2 models:\n%s", out)
			}
			for _, f := range [][]string{{"cnn", "v2", "2", "prod=v2", "staging=v1", "accuracy=0.9125", "loss=0.27"}, {"mlp", "v1", "1", "accuracy=0.8"}} {
				line := lines[1]
				if f[0] == "mlp" {
					line = lines[2]
				}
				for _, want := range f {
					if !strings.Contains(" "+line+" ", " "+want+" ") {
						t.Errorf("tl models: line %q lacks %q", line, want)
					}
				}
			}
			// The columns line up: each starts at the same offset on every line.
			if i := strings.Index(lines[0], "LATEST"); lines[1][i:i+2] != "v2" || lines[2][i:i+2] != "v1" {
				t.Errorf("tl models: columns not aligned:\n%s", out)
			}

			code, out, errOut = tl("models", "cnn")
			if code != 0 {
				t.Fatalf("tl models cnn: exit %d: %s", code, errOut)
			}
			lines = strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.Contains(lines[0], "ACCURACY") || !strings.Contains(lines[0], "LOSS") {
				t.Fatalf("tl models cnn: want a header with metric columns and 2 versions:\n%s", out)
			}
			for i, want := range [][]string{
				{"v1", "1.5 KiB", "0.875", "0.41", "staging", "run run-a"},
				{"v2", "3.0 MiB", "0.9125", "0.27", "prod", "parent 6:vision:cnn:v1, run run-b"}} {
				for _, w := range want {
					if !strings.Contains(lines[i+1], w) {
						t.Errorf("tl models cnn: line %q lacks %q", lines[i+1], w)
					}
				}
			}

			code, out, errOut = tl("models", "cnn", "--json")
			var js struct {
				Name     string
				Versions []struct {
					Version int64
					Size    int64
					Metrics map[string]float64
					Aliases []string
					Lineage struct{ Run, Parent string }
				}
			}
			if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil {
				t.Fatalf("tl models cnn --json: exit %d, %v: %s%s", code, err, out, errOut)
			}
			if js.Name != "cnn" || len(js.Versions) != 2 || js.Versions[1].Metrics["accuracy"] != 0.9125 ||
				js.Versions[1].Size != 3<<20 || len(js.Versions[1].Aliases) != 1 || js.Versions[1].Aliases[0] != "prod" ||
				js.Versions[1].Lineage.Run != "run-b" || js.Versions[1].Lineage.Parent == "" {
				t.Errorf("tl models cnn --json: %+v\n%s", js, out)
			}
			code, out, _ = tl("models", "--json")
			var list struct {
				Models []struct {
					Name     string
					Latest   int64
					Versions int
					Aliases  map[string]int64
				}
			}
			if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Models) != 2 ||
				list.Models[0].Name != "cnn" || list.Models[0].Latest != 2 || list.Models[0].Versions != 2 || list.Models[0].Aliases["prod"] != 2 {
				t.Errorf("tl models --json: exit %d, %v, %+v\n%s", code, err, list, out)
			}

			code, _, errOut = tl("models", "resnet")
			if code != 1 || !strings.Contains(errOut, `"resnet"`) || !strings.Contains(errOut, "cnn, mlp") {
				t.Errorf("tl models resnet: exit %d, %q; want exit 1 naming resnet and listing cnn, mlp", code, errOut)
			}
			code, _, errOut = runTL("models", "resnet", "--mongo", dbURL(db), "--project", "empty")
			if code != 1 || !strings.Contains(errOut, `"resnet"`) || !strings.Contains(errOut, "no models") {
				t.Errorf("tl models resnet in an empty project: exit %d, %q", code, errOut)
			}
			code, out, _ = runTL("models", "--mongo", dbURL(db), "--project", "empty")
			if code != 0 || !strings.Contains(out, `no models in project "empty"`) {
				t.Errorf("tl models in an empty project: exit %d, %q", code, out)
			}
		})

		t.Run("runs", func(t *testing.T) {
			code, out, errOut := tl("runs", "cnn")
			if code != 0 {
				t.Fatalf("tl runs cnn: exit %d: %s", code, errOut)
			}
			for _, want := range []string{"RUN", "run-a", "run-b", " 24 ", " 6 ", "1-20", "1-5", "train,validation", "validation/loss=0.125", "loss=0.1 "} {
				if !strings.Contains(out+" ", want) {
					t.Errorf("tl runs cnn: lacks %q:\n%s", want, out)
				}
			}
			code, out, _ = tl("runs", "cnn", "--json")
			var js struct {
				Runs []struct {
					Run       string
					Events    int
					FirstStep int64 `json:"first_step"`
					LastStep  int64 `json:"last_step"`
					Last      map[string]float64
				}
			}
			if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || len(js.Runs) != 2 {
				t.Fatalf("tl runs cnn --json: exit %d, %v\n%s", code, err, out)
			}
			for _, r := range js.Runs {
				if r.Run == "run-a" && (r.Events != 24 || r.FirstStep != 1 || r.LastStep != 20 || r.Last["loss"] != 0.1 || r.Last["validation/loss"] != 0.125) {
					t.Errorf("tl runs cnn --json: run-a is %+v", r)
				}
			}
			code, _, errOut = tl("runs", "mlp")
			if code != 1 || !strings.Contains(errOut, `"mlp"`) || !strings.Contains(errOut, "models with events: cnn") {
				t.Errorf("tl runs mlp (no events): exit %d, %q", code, errOut)
			}
		})

		t.Run("curve", func(t *testing.T) {
			dir := t.TempDir()
			pngPath, csvPath := filepath.Join(dir, "c.png"), filepath.Join(dir, "c.csv")
			code, out, errOut := tl("curve", "cnn", "--run", "run-a", "--keys", "loss,accuracy", "-o", pngPath, "--csv", csvPath)
			if code != 0 || !strings.Contains(out, pngPath) {
				t.Fatalf("tl curve: exit %d, %q %s", code, out, errOut)
			}
			b, err := os.ReadFile(pngPath)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil || len(b) < 5000 {
				t.Fatalf("tl curve: %s is %d bytes, decodes with %v", pngPath, len(b), err)
			}
			if s := img.Bounds().Size(); s.X < 500 || s.Y < s.X*9/10 {
				t.Errorf("tl curve: image is %v, want two panels of 16x8cm", s)
			}
			f, err := os.Open(csvPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			// run-a: 20 train steps with loss and accuracy, 4 validation losses.
			if len(rows) != 1+40+4 || strings.Join(rows[0], ",") != "step,run,phase,key,value" {
				t.Fatalf("tl curve --csv: %d rows, header %v", len(rows), rows[0])
			}
			if got := strings.Join(rows[1], ","); got != "1,run-a,train,loss,2" {
				t.Errorf("tl curve --csv: first row %q", got)
			}
			if got := strings.Join(rows[len(rows)-1], ","); got != "20,run-a,validation,loss,0.125" {
				t.Errorf("tl curve --csv: last row %q", got)
			}

			// Defaults: every run, the file named after the model in the working directory.
			t.Chdir(dir)
			code, out, errOut = tl("curve", "cnn")
			if code != 0 || strings.TrimSpace(out) != "cnn-curve.png" {
				t.Fatalf("tl curve cnn: exit %d, %q %s", code, out, errOut)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "cnn-curve.png")); err != nil || len(b) < 5000 {
				t.Errorf("tl curve cnn: default file: %d bytes, %v", len(b), err)
			}
			// --csv - alone: the CSV on stdout, no PNG.
			code, out, _ = tl("curve", "cnn", "--run", "run-b", "--keys", "accuracy", "--csv", "-")
			if code != 0 || strings.Count(out, "\n") != 1+5 || !strings.HasPrefix(out, "step,run,phase,key,value\n1,run-b,train,accuracy,0.5\n") {
				t.Errorf("tl curve --csv -: exit %d\n%s", code, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "cnn-run-b-curve.png")); err == nil {
				t.Error("tl curve --csv without -o wrote a PNG")
			}

			code, _, errOut = tl("curve", "mlp")
			if code != 1 || !strings.Contains(errOut, "no training events") || !strings.Contains(errOut, `"mlp"`) {
				t.Errorf("tl curve mlp (no events): exit %d, %q", code, errOut)
			}
			code, _, errOut = tl("curve", "cnn", "--keys", "speed", "-o", filepath.Join(dir, "s.png"))
			if code != 1 || !strings.Contains(errOut, `"speed"`) {
				t.Errorf("tl curve --keys speed: exit %d, %q", code, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "s.png")); err == nil {
				t.Error("a failed tl curve left a PNG behind")
			}
		})
	})
}

// dbURL is the store's URL naming its database (each test has its own).
// isolatedStore opens a store of project on b for a test of tl: no stray
// endpoints file or environment may choose another. It returns the store
// and the flags that reach it.
func isolatedStore(t *testing.T, b storetest.Backend, project string) (*store.DB, []string) {
	t.Helper()
	t.Setenv("TL_HOME", t.TempDir())
	t.Setenv("TL_MONGO_URL", "")
	t.Setenv("TL_PROJECT", "")
	db := b.OpenConfig(t, store.Config{Project: project})
	return db, []string{"--mongo", dbURL(db), "--project", project}
}

// tlWith runs tl with flags after the arguments, as users type them.
func tlWith(t *testing.T, flags []string) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		t.Helper()
		return runTL(append(args, flags...)...)
	}
}

func dbURL(db *store.DB) string {
	return strings.TrimSuffix(db.URL(), "/") + "/" + db.Database().Name()
}
