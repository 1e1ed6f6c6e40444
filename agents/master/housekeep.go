package master

import (
	"context"
	"time"
)

// housekeep runs the leader's periodic chores beside the scheduling loop, until
// ctx ends: Config.GC (orphaned weight chunks) every GCEvery, the first time
// one GCEvery after the term starts. It touches none of the loop's state.
func (m *Master) housekeep(ctx context.Context) {
	if m.cfg.GC == nil {
		return
	}
	t := time.NewTicker(m.cfg.GCEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		n, err := m.cfg.GC(ctx, m.cfg.GCGrace)
		switch {
		case err != nil && ctx.Err() == nil:
			m.log.Warn("garbage collection of the store failed; tried again later", "every", m.cfg.GCEvery, "err", err)
		case n > 0:
			m.log.Info("garbage collection removed orphaned weights", "blobs", n, "grace", m.cfg.GCGrace, "took", time.Since(start).Round(time.Millisecond))
		default:
			m.log.Debug("garbage collection: nothing to remove", "grace", m.cfg.GCGrace)
		}
	}
}
