// Package ui is the web dashboard of `tl ui`: the store and the workflow at a
// glance, in a browser.
//
// A Server serves HTML pages rendered with html/template, a stream of
// server-sent events and a few JSON endpoints that keep them live, and its
// assets (CSS, one script, the vendored uPlot chart library), all embedded
// with go:embed: nothing is built with Node and nothing is fetched from
// elsewhere. The pages are
//
//	/models                 models: latest version, versions, aliases, metrics
//	/models/NAME            its versions: size, metrics, aliases, lineage
//	/models/NAME/compare    versions side by side (?v=1&v=2...)
//	/runs                   training runs; check several to overlay their curves
//	/runs/RUN               a run's curves (zoom: drag; reset: double-click)
//	                        and the images it logged (ImageField: a GAN's grids)
//	/datasets               datasets (views): query and count
//	/datasets/NAME          labels histogram, tags, a page of sample thumbnails
//	/plans                  plans and their progress
//	/plans/ID               a plan's tasks as a graph and a sortable table
//	/sweeps                 hyperparameter sweeps (package sweep): state, best
//	/sweeps/NAME            a sweep's trials, sortable by its metric; decisions
//	/agents                 connected agents, their queues and work; the master
//
// and under /api/ the same data as JSON.
//
// # Live pages
//
// Every page keeps its live part current without a reload through a stream
// of server-sent events, GET /events?page=PATH (and run=ID for the runs whose
// curves the page draws): every Config.Refresh the server renders the page's
// live part and pushes it when it changed, and pushes a run's curves when its
// summary changed. When the stream breaks (three errors, or a refusal), the
// page polls the same data instead (the live part with the header X-TL-Live,
// the curves from /api/series).
//
// The run pages read what package events keeps per run, a summary and the
// curves downsampled to events.CurvePoints points each (keeping each
// bucket's minimum and maximum, so spikes stay visible), by lookups by _id;
// never the events themselves, which FerretDB over SQLite could only scan.
// The server downsamples further to Config.MaxPoints per curve, so that a
// curve page stays small.
//
// # Connections
//
// The store and NATS are opened lazily, through Config.Store and Config.NATS,
// and opened again after a failure: a dead store makes the store pages an
// error page (503) that says what failed, and they work again once the
// store is back. Without NATS (Config.NATS nil, or nothing answers) the
// store pages work and the plans and agents pages say why they are empty;
// plans are then read from the store.
//
// # Safety
//
// The server binds to loopback unless told otherwise, and refuses to start on
// any other address without a token. With a token, every request must carry
// it: the ?token= query of a first visit sets an HttpOnly, SameSite=Strict
// cookie (and redirects to drop it from the address bar), or an
// "Authorization: Bearer" header; it is compared in constant time. Without a
// token the Host header must name loopback, so that a web page cannot reach
// the server by DNS rebinding. The pages only read; cancel and retry of a plan
// or a task are POSTs that need the token, a same-origin request (Origin and
// Sec-Fetch-Site) and the form's CSRF token. Responses carry a
// Content-Security-Policy without inline scripts or styles and with
// frame-ancestors 'none', X-Content-Type-Options: nosniff and a same-origin
// referrer policy.
// URLs and errors are passed through package internal/redact before they reach
// a page or the log, so that no password shows.
package ui
