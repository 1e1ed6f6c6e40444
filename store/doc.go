// Package store connects the library to a MongoDB wire-protocol server and
// keeps that server behind one small door, so that it can be swapped.
//
// # Two ways to open
//
// With no URL, Open starts FerretDB v1 (pure Go, Apache-2.0) inside the
// process, on a free loopback port, keeping its data as SQLite files under
// Config.DataDir. Nothing has to be installed. DB.URL gives the server's
// mongodb:// address, so agents and tools on the same machine can connect to
// it while the process that opened it runs. One process owns a data
// directory at a time: a lock file (flock, released by the kernel if the
// process dies) turns a second Open into ErrLocked instead of two servers
// corrupting each other's files.
//
// With Config.URL set to a mongodb:// URL, Open uses that server: a MongoDB
// cluster, or FerretDB over PostgreSQL. Config.PostgreSQLURL is a third way:
// the embedded FerretDB, but keeping its data in PostgreSQL.
//
// All of it goes through the official driver, go.mongodb.org/mongo-driver/v2:
// DB.Database and DB.Client return the driver's types and the packages above
// (models, events, datasets, queues) speak the driver's API.
//
// # Projects
//
// Several projects share one database. Every record carries a "project"
// field; DB.Scope adds it to a filter, DB.WithProject gives a view of the
// same connection under another project name.
//
// # Living with FerretDB v1
//
// FerretDB v1 has no transactions, change streams, TTL, partial or text
// indexes, $sample, $lookup or $facet; reply batches are counted in
// documents (read large documents in small batches); with SQLite every
// filter but one on _id scans the collection. Code above this package is
// written for that subset, which real MongoDB also serves.
//
// FerretDB v1 over SQLite indexes _id under one expression and queries it
// under another, so even lookups by _id scan the table; DB.IndexIDs adds
// the index its queries can use (see there). Packages that look documents
// up by _id (models, blob) call it for their collections.
//
// Two traps are handled here. FerretDB logs every error reply it sends at
// WARN, so its logger passes only ERROR records on, unless
// Config.ServerLogLevel says otherwise. And the driver turns a context
// deadline into maxTimeMS, which FerretDB's distinct rejects: Open sets no
// client-wide timeout, and Detach strips a deadline while keeping the
// cancellation, for the commands that need it.
package store
