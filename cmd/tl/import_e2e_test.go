package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/tensor"
)

// writeMarkovPTB writes a corpus in PTB's format whose words follow a
// Markov chain: each of 30 words is followed by one of two successors, lines
// end after about 12 words (an <eos>), and one word in fifty is <unk>.
func writeMarkovPTB(t *testing.T, dir string) {
	t.Helper()
	rng := tensor.NewRand(5)
	text := func(words int) string {
		var b strings.Builder
		w, n := rng.IntN(30), 0
		for range words {
			if rng.IntN(50) == 0 {
				b.WriteString(" <unk>")
			} else {
				fmt.Fprintf(&b, " w%02d", w)
			}
			if rng.IntN(2) == 0 {
				w = (w + 1) % 30
			} else {
				w = (7*w + 3) % 30
			}
			if n++; n == 12 {
				b.WriteString(" \n")
				n = 0
			}
		}
		return b.String() + " \n"
	}
	for _, f := range []struct {
		name  string
		words int
	}{{"ptb.train.txt", 16000}, {"ptb.valid.txt", 3000}, {"ptb.test.txt", 3000}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(text(f.words)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The paper's three Table 1 models from the store, end to end with the real
// binaries: a generated PTB-format corpus imported with tl import ptb, a
// train-lm plan run by tl-agent under tl master, and the validation
// perplexity the saved version records far below the unigram perplexity of
// that corpus; then the example plans of the CIFAR-10 CNN and of word2vec on
// generated files in CIFAR-10's binary format and text8's.
func TestTable1EndToEnd(t *testing.T) {
	tl, agentBin := buildBinaries(t)
	home := t.TempDir()
	env := append(os.Environ(), "TL_HOME="+home, "TL_NATS_URL=", "TL_MONGO_URL=", "TL_PROJECT=")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tl, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	master := startLogged(t, env, tl, "master", "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0", "--tick", "500ms")
	waitEndpoints(t, home, master)

	corpus := t.TempDir()
	writeMarkovPTB(t, corpus)
	out := run("import", "ptb", corpus, "--window", "500", "--define", "gen", "--quiet")
	if !strings.Contains(out, "defined dataset gen-train") || !strings.Contains(out, "defined dataset gen-valid") {
		t.Fatalf("tl import ptb:\n%s", out)
	}

	startLogged(t, env, agentBin, "--ack-wait", "10s", "--grace", "1s", "--id", "lm-1")

	planFile := filepath.Join(t.TempDir(), "lm.yaml")
	if err := os.WriteFile(planFile, []byte(`name: gen-lm
tasks:
  - id: train
    kind: train-lm
    input: gen-train
    model: gen-lm
    params: {layers: 1, hidden: 32, steps: 10, batch: 10, epochs: 4, decay_after: 3, validation: gen-valid}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run("submit", "--wait", planFile)
	if !strings.Contains(out, "succeeded") {
		t.Fatalf("tl submit --wait:\n%s", out)
	}
	var m struct {
		Versions []struct {
			Metrics map[string]float64
			Params  map[string]any
		}
	}
	js := run("models", "gen-lm", "--json")
	if err := json.Unmarshal([]byte(js), &m); err != nil || len(m.Versions) != 1 {
		t.Fatalf("tl models gen-lm --json: %v\n%s", err, js)
	}

	// The unigram perplexity: the validation text under the training text's
	// word frequencies, the best a model blind to the context does.
	ptb, err := formats.ReadPTB(context.Background(), corpus)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]float64, ptb.Vocab.Len())
	for _, id := range ptb.Train {
		counts[id]++
	}
	var nll float64
	for _, id := range ptb.Valid {
		nll -= math.Log(counts[id] / float64(len(ptb.Train)))
	}
	unigram := math.Exp(nll / float64(len(ptb.Valid)))
	val := m.Versions[0].Metrics["val_perplexity"]
	t.Logf("validation perplexity %.3f, unigram perplexity %.3f", val, unigram)
	if !(val > 0 && val < unigram/3) {
		t.Fatalf("validation perplexity %v, want well below the unigram perplexity %v (metrics %v)", val, unigram, m.Versions[0].Metrics)
	}
	if m.Versions[0].Params["vocab"] != "ptb/vocab" {
		t.Errorf("the version does not name its vocabulary: params %v", m.Versions[0].Params)
	}
	runs := run("runs", "gen-lm")
	if !strings.Contains(runs, "val_perplexity") && !strings.Contains(runs, "perplexity") {
		t.Errorf("tl runs gen-lm shows no perplexity:\n%s", runs)
	}

	// The same agent trains the CNN of examples/plans/cifar10-cnn.yaml on
	// generated batches in CIFAR-10's binary format, imported with tl import
	// cifar, and evaluates it on the test batch.
	t.Run("cifar", func(t *testing.T) {
		dir := t.TempDir()
		writeBandCIFAR(t, filepath.Join(dir, "data_batch_1.bin"), 400, 1)
		writeBandCIFAR(t, filepath.Join(dir, "data_batch_3.bin"), 400, 2)
		writeBandCIFAR(t, filepath.Join(dir, "test_batch.bin"), 200, 3)
		out := run("import", "cifar", dir, "--define", "gc", "--quiet")
		if !strings.Contains(out, "defined dataset gc-train: tags=train prefix=cifar10/ (800 samples)") {
			t.Fatalf("tl import cifar:\n%s", out)
		}
		plan, err := os.ReadFile("../../examples/plans/cifar10-cnn.yaml")
		if err != nil {
			t.Fatal(err)
		}
		// The example plan as written, on this dataset and for 2 epochs.
		text := strings.NewReplacer("cifar10-train", "gc-train", "cifar10-test", "gc-test", "epochs: 20", "epochs: 2").Replace(string(plan))
		if err := os.WriteFile(planFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out = run("submit", "--wait", planFile)
		if !strings.Contains(out, "succeeded") {
			t.Fatalf("tl submit --wait:\n%s", out)
		}
		js := run("models", "cifar10-cnn", "--json")
		var m struct {
			Versions []struct{ Metrics map[string]float64 }
		}
		if err := json.Unmarshal([]byte(js), &m); err != nil || len(m.Versions) != 1 {
			t.Fatalf("tl models cifar10-cnn --json: %v\n%s", err, js)
		}
		acc := m.Versions[0].Metrics["gc-test_accuracy"]
		t.Logf("test accuracy %.3f (metrics %v)", acc, m.Versions[0].Metrics)
		if acc < 0.9 {
			t.Fatalf("test accuracy %v after 2 epochs on bands a CNN tells apart at once, want at least 0.9", acc)
		}
	})

	// word2vec: the example plan, on a generated text8-format file whose
	// words co-occur in groups of four, for 60,000 steps.
	t.Run("text8", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "text8")
		writeGroupsText8(t, path, 400000)
		out := run("import", "text8", path, "--vocab", "0", "--define", "g8", "--quiet")
		if !strings.Contains(out, "vocabulary of 400 words") || !strings.Contains(out, "defined dataset g8-train") {
			t.Fatalf("tl import text8:\n%s", out)
		}
		plan, err := os.ReadFile("../../examples/plans/text8-word2vec.yaml")
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("text8-train", "g8-train", "steps: 100001", "steps: 60000",
			"probe: [one, three, his, was, would, american, war, city]", "probe: [g00a, g07c]").Replace(string(plan))
		if err := os.WriteFile(planFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out = run("submit", "--wait", planFile)
		if !strings.Contains(out, "succeeded") {
			t.Fatalf("tl submit --wait:\n%s", out)
		}
		id := strings.Fields(strings.SplitN(out, "submitted plan ", 2)[1])[0]
		st := run("status", id, "--json")
		for word, group := range map[string]string{"g00a": "g00", "g07c": "g07"} {
			i := strings.Index(st, `\"`+word+`\":[`)
			if i < 0 {
				i = strings.Index(st, `"`+word+`":[`)
			}
			if i < 0 {
				t.Fatalf("tl status %s --json has no neighbours of %s:\n%s", id, word, st)
			}
			// The output is JSON inside JSON: drop the quotes, escaped or not.
			near := strings.NewReplacer(`\"`, "", `"`, "").Replace(st[i : i+strings.Index(st[i:], "]")])
			ws := strings.Split(near[strings.Index(near, "[")+1:], ",")
			t.Logf("neighbours of %s: %v", word, ws)
			if len(ws) != 8 || !strings.HasPrefix(ws[0], group) || !strings.HasPrefix(ws[1], group) || !strings.HasPrefix(ws[2], group) {
				t.Errorf("neighbours of %s: %v, want 8, the 3 others of group %s first", word, ws, group)
			}
		}
	})
}

// writeGroupsText8 writes a text8-like file (one line of words) of clauses
// of 8 words, each clause from one of 100 groups of 4 words (g00a ... g99d):
// words co-occur only with their group's.
func writeGroupsText8(t *testing.T, path string, words int) {
	t.Helper()
	rng := tensor.NewRand(9)
	var b strings.Builder
	for n := 0; n < words; n += 8 {
		g := rng.IntN(100)
		for range 8 {
			fmt.Fprintf(&b, " g%02d%c", g, 'a'+rng.IntN(4))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeBandCIFAR writes n records of CIFAR-10's binary format whose class k
// lights rows 3k..3k+2 of channel k mod 3 over noise.
func writeBandCIFAR(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	rng := tensor.NewRand(seed)
	im := &formats.Images{N: n, H: 32, W: 32, C: 3, Pixels: make([]uint8, n*32*32*3), Labels: make([]int32, n)}
	for i := range n {
		k := rng.IntN(10)
		im.Labels[i] = int32(k)
		px := im.Image(i)
		for p := range px {
			px[p] = uint8(rng.IntN(80))
		}
		for r := 3 * k; r < 3*k+3; r++ {
			for c := 2; c < 30; c++ {
				px[(r*32+c)*3+k%3] = 180 + uint8(rng.IntN(70))
			}
		}
	}
	var b bytes.Buffer
	if err := formats.EncodeCIFAR10(&b, im); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
