// Package modelio saves and loads models: weights as safetensors (the format of
// PyTorch and Hugging Face, through package safetensors below this one) and a
// network's architecture as JSON, so that a model can be rebuilt from its files
// alone and its weights can move to and from other libraries.
//
// # Model folders
//
// Save writes a network (the last layer of a layers network) into a folder:
//
//	model/
//	  architecture.json   layers' MarshalJSON: every layer's kind, name, config, inputs
//	  model.safetensors   every parameter, named as in the graph: "fc1/W", "fc1/b", ...
//
// Load reads both into a fresh graph: layers.FromJSON rebuilds the layers (with
// the same parameter names), then LoadWeights fills the parameters. Both files
// are written through a temporary file and a rename, so a crash during a save
// leaves the previous model whole.
//
// # Weights alone
//
// SaveWeights and LoadWeights work on any list of graph variables: a network's
// AllParams, or a whole graph's Variables (optimizer slots and the learning
// rate included) for a checkpoint to resume from. Names are the graph's, so a
// PyTorch state dict saved with matching names loads directly, F16, BF16 and
// F64 tensors converted to float32 on the way in. WriteWeights and
// ReadWeights (DecodeWeights for bytes in memory) do the same through an
// io.Writer and io.Reader: a model store's GridFS stream takes and gives them
// with no file in between.
//
// # Mismatches
//
// LoadWeights matches every variable with a tensor of the file before it copies
// anything. If any variable is missing, any tensor of the file is unused (unless
// AllowUnused), or any shape or type differs, it returns a *MismatchError that
// lists every difference, wraps ErrMismatch, and leaves all variables as they
// were. A truncated or corrupt file is a *safetensors.Error naming the file and
// the offset.
package modelio
