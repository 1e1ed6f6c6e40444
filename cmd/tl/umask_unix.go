//go:build unix

package main

import "syscall"

// privateUmask makes every file and folder this process creates from now on
// its user's only: the master's servers (FerretDB's SQLite files, JetStream's
// files) create theirs with modes this program does not choose.
func privateUmask() { syscall.Umask(0o077) }
