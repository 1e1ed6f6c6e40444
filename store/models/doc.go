// Package models keeps trained models: their weights, what they are, where
// they came from, and how good they are. It is the model module of the
// TensorLayer paper (section 2.2) over a MongoDB wire-protocol server.
//
// # Saving
//
// Save takes the weights as a stream (safetensors bytes, written by the
// caller's codec) and a Spec: the model's name, its architecture as JSON,
// hyper-parameters, metrics, and lineage (dataset, task, run, parent
// model). The weights go first, into the GridFS bucket "model_weights"
// (see package blob), hashed with SHA-256 on the way. Only once they are
// whole is the model document written, under the next version of the name.
// A save that fails, or a process killed in the middle, therefore leaves no
// half model that a reader could find; GC later removes the stray chunks.
//
// # Versions without transactions
//
// FerretDB v1 has no transactions, so versions come from a counter document
// per name, incremented with findAndModify, and the model document's _id is
// made of (project, name, version). Two writers handed the same number
// cannot both insert it: the loser takes the next number. Versions are
// never reused, even after a delete, so "v7" names one set of weights
// forever. Aliases ("best", "production") are mutable pointers to versions.
//
// # Finding
//
// Get takes a Ref: a name and a version, a name and an alias, or a name
// alone for the latest version. Top is the paper's find_top_model: the k
// best versions by a metric, among those matching a filter on params,
// lineage or name. List and Names enumerate.
//
// # Loading
//
// Load returns the model document with its weights in memory; OpenWeights
// streams them. Either way the bytes are checked against the saved size and
// SHA-256 before they are trusted (ErrChecksum), missing or misshapen
// chunks are reported as ErrCorrupt, and a damaged document is ErrCorrupt
// naming its _id. Nothing is repaired or deleted behind the caller's back.
// With Options.CacheDir, weights are kept on local disk under their
// checksum: a second Load of the same weights (by any name or version)
// reads the disk, and a damaged cache file is noticed and fetched again.
// Options.CacheMaxBytes bounds the cache, least recently used files first.
//
// # Checkpoints
//
// A training task's checkpoint (SaveCheckpoint, LoadCheckpoint) is one
// document per task key in "model_checkpoints": the position (step, epoch,
// batches done), the epoch's running metrics, the events run and the
// caller's meta, pointing to a state blob (every variable of the graph) in
// the weights bucket. The blob is written whole before the document is
// replaced, and the previous blob removed only after, so a writer killed
// at any point leaves the previous checkpoint readable; damage is
// ErrCorrupt or ErrChecksum naming the task. ByTask finds the version a task
// saved, so that a task runs to one version however often it is delivered.
// GC keeps the blobs checkpoints point to; GCCheckpoints removes the
// checkpoints of tasks that are over, as the caller (the master) says.
//
// This package stores and returns the architecture JSON as given; package
// netstore below it saves a layers network and rebuilds it from the store.
//
// Every record carries the project of the store.DB it was made from;
// queries never cross projects.
package models
