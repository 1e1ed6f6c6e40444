// Package sweep runs hyper-parameter searches (random, grid, asynchronous
// successive halving) and k-fold cross-validations as plans of the workflow
// module: the model-group jobs of section 3 of the TensorLayer paper. It
// imports nothing of the engine: a trial is a train task, and the package
// speaks to it through the plan it submits and the output it reads back, so
// whatever agents serve the task's queue run the trials, each saving a
// version of one model with its parameters and metrics (tl models and
// models.Store.Top rank them).
//
// # Sweeps
//
// A Spec names a base train task (input view, validation view, model, params)
// and a space (choice, uniform, log-uniform, integer ranges). Submit checks
// it before anything is stored, each problem naming its field: empty or
// inverted ranges, a metric no train task reports (val_ needs a validation
// view), parameters the sweep sets itself (epochs, init, alias), a parameter
// name the kind's agents did not announce (queue.ListAgents, the roster the
// master checks plans against), views that do not exist or are empty. Trial
// n's values depend only on (seed, n) (Spec.Point), or, for a grid, on n's
// place in the grid, so two sweeps with one seed and space try the same
// points.
//
// ASHA (Li et al. 2018, as Ray Tune's ASHAScheduler): rung k trains a trial
// to MinEpochs·Eta^k epochs (at most MaxEpochs). A trial whose rung is done
// is promoted as soon as it is in the top 1/Eta of the results done at that
// rung; otherwise a free slot starts a new trial; a trial never promoted is
// stopped when nothing more can start. A promoted trial fine-tunes its
// previous rung's version (params.init: {model, version}) for the epochs the
// rung adds, when the kind announces init; otherwise it trains from scratch
// for the rung's total (Sweep.Init, decided at submit). Random and grid are
// the one-rung case. Parallel bounds the tasks running at once, Budget the
// epochs of every task decided.
//
// # Decisions and recovery
//
// The sweep's record (collection "sweeps": the spec, the trials with a Rung
// per task, the decision log) is the controller's only state. Each pass of
// the Controller, on the leading master (Master gives the
// master.Controller), acts on the decisions not yet acted on, records the
// rungs whose plans ended (agents/status: the plan's task output, its
// "metrics", else the version's metrics in the model store), decides, saves
// the record (revision-checked) and only then acts: submits the rung's plan
// under PlanID(sweep, trial, rung) with master.SubmitAs, cancels on a stop,
// points the alias at the best version, ends the sweep. Deciding is a
// function of the record, and acting is idempotent (the master runs a plan id
// once; an alias is set to a value), so a master killed anywhere is
// replaced by one that repeats the unacted actions and decides as the dead one
// would have from the same record. A task whose agent dies is redelivered by
// the queue and its rung counted once (the train kind saves one version per
// task). The sweep's state turns finished only when its last decision (the
// alias) is acted on.
//
// # Cross-validation
//
// SubmitCV partitions a view into K folds on the server
// (dataset.Dataset.Folds: by key hash, stratified by label if asked) as 2K
// views, cv-NAME-<i>-train and cv-NAME-<i>-test, so each fold's train task
// just names a view and the train kind needs nothing new; one plan, cv-NAME,
// runs the K train-and-evaluate pairs in parallel. CVStatus reads the
// evaluate tasks' outputs and, once the plan ends, stores each fold's metric
// and their mean and (population) standard deviation. A sweep does not yet
// use cross-validated scores as its objective.
package sweep
