package layers

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Word2vecConfig is the config of a Word2vecEmbedding layer.
type Word2vecConfig struct {
	Vocab      int  `json:"vocab"`
	Dim        int  `json:"dim"`
	NumSampled int  `json:"num_sampled"`
	Init       Init `json:"init"`
	NCEInit    Init `json:"nce_init"`
	// Unique draws distinct negative ids (TensorFlow's default); false draws
	// with replacement.
	Unique bool `json:"unique,omitempty"`
}

type uniqueOpt struct{}

// UniqueSampling makes a Word2vecEmbedding draw its negative samples without
// repeats, with the matching expected counts, as TensorFlow's nce_loss does by
// default (graph.LogUniformSamplerUnique, graph.NCELossUnique).
func UniqueSampling() Option        { return uniqueOpt{} }
func (uniqueOpt) key() string       { return "unique_sampling" }
func (uniqueOpt) apply(s *settings) { s.unique = true }

// Kind implements Config.
func (*Word2vecConfig) Kind() string { return "Word2vecEmbedding" }

func (c *Word2vecConfig) build(b *builder) (*graph.Node, error) {
	if c.Vocab <= 0 || c.Dim <= 0 || c.NumSampled <= 0 {
		return nil, fmt.Errorf("%w: vocab %d, dim %d and num_sampled %d must be positive", ErrBadConfig, c.Vocab, c.Dim, c.NumSampled)
	}
	if len(b.ins) != 2 {
		return nil, fmt.Errorf("%w: a Word2vecEmbedding reads two inputs (ids and labels), got %d", ErrBadConfig, len(b.ins))
	}
	ids, labels := b.ins[0], b.ins[1]
	if ids.Value().DType != tensor.Int32 || len(ids.Shape()) != 1 {
		return nil, fmt.Errorf("%w: ids %q are %v, want int32 (batch,)", ErrBadConfig, b.layers[0].name, ids.Value())
	}
	if labels.Value().DType != tensor.Int32 {
		return nil, fmt.Errorf("%w: labels %q are %v, want int32 (batch,) or (batch, 1)", ErrBadConfig, b.layers[1].name, labels.Value())
	}
	emb, err := b.param("embeddings", c.Init, c.Vocab, c.Dim)
	if err != nil {
		return nil, err
	}
	w, err := b.param("nce_W", c.NCEInit, c.Vocab, c.Dim)
	if err != nil {
		return nil, err
	}
	bias, err := b.param("nce_b", Init{tensor.Zeros()}, c.Vocab)
	if err != nil {
		return nil, err
	}
	x := graph.Gather(emb, ids)
	if c.Unique {
		if c.NumSampled > c.Vocab {
			return nil, fmt.Errorf("%w: %d distinct negative samples from a vocabulary of %d", ErrBadConfig, c.NumSampled, c.Vocab)
		}
		sampled, tries := graph.LogUniformSamplerUnique(b.g, c.NumSampled, c.Vocab)
		b.aux = map[string]*graph.Node{"nce_loss": graph.NCELossUnique(w, bias, x, labels, sampled, tries), "sampled": sampled, "tries": tries}
		return x, nil
	}
	sampled := graph.LogUniformSampler(b.g, c.NumSampled, c.Vocab)
	b.aux = map[string]*graph.Node{"nce_loss": graph.NCELoss(w, bias, x, labels, sampled), "sampled": sampled}
	return x, nil
}

// Word2vecEmbedding is the skip-gram input layer of word2vec (Mikolov et al.
// 2013) as TensorLayer's Word2vecEmbeddingInputlayer: it looks the int32 ids
// (batch,) up in an embedding table, outputting (batch, dim), and builds the
// noise-contrastive estimation loss of predicting labels (the context words,
// (batch,) or (batch, 1)) from them against numSampled ids drawn at every step
// from the log-uniform distribution (ids sorted by decreasing frequency).
// Minimise l.Aux("nce_loss"); l.Aux("sampled") holds the ids drawn.
// Parameters "<name>/embeddings" (vocab, dim), "<name>/nce_W" (vocab, dim),
// "<name>/nce_b" (vocab); their gradients are sparse. Options: WInit for the
// embeddings (default uniform(-1, 1)), UniqueSampling (distinct negatives, as
// TensorFlow's default; l.Aux("tries") then counts the draws).
func Word2vecEmbedding(ids, labels *Layer, name string, vocab, dim, numSampled int, opts ...Option) *Layer {
	c := &Word2vecConfig{Vocab: vocab, Dim: dim, NumSampled: numSampled}
	return newLayer(name, c, opts, []string{"w_init", "unique_sampling"}, func(s *settings) error {
		c.Unique = s.unique
		c.Init = orDefault(s.wInit, tensor.Uniform(-1, 1))
		c.NCEInit = Init{tensor.TruncatedNormal(0, 1/math.Sqrt(float64(max(dim, 1))))}
		return nil
	}, ids, labels)
}
