package master

// HoldLease makes m stop renewing and taking the lease while hold is true, as if
// it were cut off from the server.
func HoldLease(m *Master, hold bool) { m.holdLease.Store(hold) }
