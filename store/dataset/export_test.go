package dataset

// Fills is the number of cache fills c has begun.
func Fills(c *Collection) int64 { return c.fills.Load() }
