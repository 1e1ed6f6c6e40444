// Package safetensors reads and writes the safetensors format, the weights
// format of PyTorch and Hugging Face, with a codec of its own.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON, and the raw
// little-endian data of every tensor:
//
//	{"__metadata__":{"format":"pt"},
//	 "dense/W":{"dtype":"F32","shape":[784,256],"data_offsets":[0,802816]}, ...}
//
// # Writing
//
// Encode writes what the reference writer (the safetensors Rust crate behind the
// Python package) writes for the same tensors: tensors sorted by descending
// dtype, then by name; a compact header with __metadata__ first; the header padded
// with spaces to a multiple of 8 bytes so that the data is aligned. WriteFile
// goes through a temporary file, fsync and rename, so an interrupted save never
// replaces a good file with half of one.
//
// # Reading
//
// Decode checks everything the format promises before handing out a tensor: the
// header length against the file, UTF-8 JSON with known dtypes, no duplicate
// names, shapes whose size matches their byte ranges, ranges that cover the data
// exactly (no holes, no overlaps, nothing past the end). A broken file is an
// *Error (wrapping ErrFormat, and io.ErrUnexpectedEOF when it is cut short) with
// the byte offset; nothing panics, which FuzzLoad checks. Tensors decode to
// float32 from F32, F16, BF16 and F64, so half-precision checkpoints from
// elsewhere load too.
package safetensors
