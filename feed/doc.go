// Package feed is the input pipeline: examples held in memory, visited in a
// seeded random order, cut into batches that are reused from step to step, and
// prepared on a goroutine of their own while the network computes.
//
// # Sources, loaders, batches
//
// A Source is anything with Len examples that can copy example i into tensors
// (FromTensors over rows of tensors; FromImages over a formats.Images, which keeps
// pixels as bytes and scales them to [0, 1] as it copies). A Loader cuts a source
// into batches:
//
//	src, _ := feed.FromImages(train)             // image (28, 28, 1), label ()
//	l, _ := feed.NewLoader(src, 128, feed.Shuffle(seed))
//	for e := range epochs {
//		it := l.Epoch(ctx, e)
//		for it.Next() {
//			b := it.Batch() // b.Tensors[0]: (128, 28, 28, 1); b.Tensors[1]: (128,)
//			...
//		}
//		if err := it.Err(); err != nil { ... }
//	}
//
// For recurrent language models, NewLanguageModel cuts a text's word ids into
// (batch, steps) windows in the order of TensorFlow's ptb_producer, so that a
// loader without shuffling hands an LSTM consecutive windows of each row.
//
// # Reuse and prefetch
//
// The loader allocates Prefetch()+2 full batches and, without DropRemainder, one
// short batch for the end of an epoch, when it is made. Epoch starts a goroutine
// that takes a free batch, fills it, and hands it over; Next gives the previous
// batch back. So in steady state an epoch allocates a few objects when it starts
// and nothing per batch, and filling (copying, augmenting) overlaps with the
// training step. A batch is valid until the next Next: copy what you keep. The
// batch tensors keep their shapes, so one compiled plan serves every full batch
// and one more the short last batch.
//
// The order of epoch e is a permutation drawn from a generator seeded by the
// Shuffle seed and e alone: runs repeat exactly, and a resumed run sees the same
// order as the run it resumes.
//
// # Augmentation
//
// Augment applies ImageOps to component 0 of every example, in order:
// RandomCrop, CenterCrop, RandomFlip, RandomBrightness, RandomContrast and
// Standardize are the operations of TensorFlow's CIFAR-10 tutorial, and
// TutorialAugment and TutorialEval chain them as it does (random 24×24 crops,
// flips and colour changes for training; a centre crop for evaluation; both
// standardised per image). Ops run on the loader's goroutine with scratch memory
// allocated once, and draw from a generator seeded like the shuffle.
//
// # Cancellation
//
// Cancelling the context given to Epoch stops the goroutine; Next returns false
// and Err reports the cancellation. Close stops an epoch early without an error.
// Starting an epoch closes the loader's previous one, whose batches it reuses.
package feed
