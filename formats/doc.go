// Package formats reads the real file formats of the classic benchmark data
// sets into memory: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary batches, the Penn
// Treebank text files and text8.
//
// # Images
//
// Image sets come back as an Images value: pixels as bytes in NHWC order (the
// engine's layout) and labels as int32. Bytes keep memory low (CIFAR-10's 50,000
// training images are 150 MB as bytes, 600 MB as float32); package feed turns
// them into float32 batches as it feeds a network.
//
//	train, err := formats.FashionMNIST(ctx, formats.FashionMNISTDir, formats.Train)
//	// train.N == 60000, train.H == 28, train.W == 28, train.C == 1
//
// IDX files may be gzipped (Debian's dataset-fashion-mnist installs
// train-images-idx3-ubyte.gz and friends under /usr/share/datasets/fashion-mnist);
// the reader looks at the first two bytes, not at the name. CIFAR-10 records are a
// label byte and 3072 bytes of planar (CHW) pixels; the reader turns them into HWC.
//
// # Text
//
// PTB files are words separated by spaces, one sentence a line; each line ends
// with an "<eos>" token, as in TensorFlow's language-model tutorial, and the
// vocabulary is built from the training file, most frequent words first. text8
// is a single line of 17 million words; its vocabulary keeps the n-1 most common
// words and maps the rest to "UNK", which takes id 0 (as in word2vec_basic).
//
// # Errors
//
// Real files get cut short by a failed download and corrupted by a wrong
// decompression. Every reader checks sizes against what the format promises and
// reports the file, the byte offset and what was expected, as a *FormatError
// (wrapping io.ErrUnexpectedEOF when the file is cut short):
//
//	datasets: cifar/data_batch_1.bin: offset 30730: want record 10 to be 3073 bytes,
//	the file ends after 12 (a 30742-byte file is not a whole number of records):
//	unexpected EOF
//
// A header cannot make a reader allocate more than the file actually holds: a
// header that claims more data than a plain file has, or than a gzip file can
// expand to (1032 times its size, deflate's limit), fails before anything is
// allocated; a file that holds what it claims is read into one allocation of
// that size; a stream of unknown size is read as it comes. A gzip stream is
// never decompressed past the size its header declares. Nothing here panics on
// bad input; the Fuzz targets in the tests check it.
package formats
