package stream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
)

// rulesCollection holds the rules, one document per project and name.
const rulesCollection = "stream_rules"

// MaxRuleName bounds a rule's name so that its plan ids (name, '-', 16 hex
// digits) stay within the master's 64 characters.
const MaxRuleName = 40

// DefaultRescan is how often Rules.Run re-reads the rules.
const DefaultRescan = 3 * time.Second

// Placeholders of a rule's plan template, replaced in every string of the
// plan when an event submits it.
const (
	// PlaceholderNew is the name of a dataset defined for the event: the
	// rule's view restricted to the new samples' sequence range
	// ("VIEW@FIRST-LAST"). Only for a rule that watches one view.
	PlaceholderNew = "${new}"
	// PlaceholderView is the (first) view the rule watches.
	PlaceholderView = "${view}"
	// PlaceholderRule is the rule's name.
	PlaceholderRule = "${rule}"
	// PlaceholderEvent is the event's ID.
	PlaceholderEvent = "${event}"
)

// Errors of the rules.
var (
	ErrInvalidRule  = errors.New("invalid stream rule")
	ErrRuleExists   = errors.New("stream rule exists")
	ErrRuleNotFound = errors.New("no such stream rule")
)

// Rule says when new samples of a view start a plan: "when 5,000 new samples
// match view V, fine-tune model M". It is stored per project in the
// "stream_rules" collection; the leading master runs a Controller for every
// rule that is not paused (Rules.Run).
type Rule struct {
	ID      string `bson:"_id" json:"-"`
	Project string `bson:"project" json:"project"`
	Name    string `bson:"name" json:"name"`
	// UID is drawn when the rule is defined: a rule deleted and defined
	// again under its name gets new positions and new plan ids.
	UID string `bson:"uid" json:"uid"`
	// Views are the datasets (of the default sample collection) watched.
	Views []string `bson:"views" json:"views"`
	// MinCount new samples (all views together) start a plan; 0 with
	// MaxWait: time alone decides.
	MinCount int64 `bson:"min_count" json:"min_count"`
	// MaxWait, if positive, also starts a plan when the oldest new sample
	// has waited this long.
	MaxWait time.Duration `bson:"max_wait" json:"max_wait"`
	Paused  bool          `bson:"paused" json:"paused"`
	// Plan is the plan template as JSON (a plan file's fields), with the
	// Placeholder strings.
	Plan    string    `bson:"plan" json:"plan"`
	Created time.Time `bson:"created" json:"created"`
	Updated time.Time `bson:"updated" json:"updated"`

	// What the rule last submitted (written by the runner).
	LastPlan      string    `bson:"last_plan,omitempty" json:"last_plan,omitempty"`
	LastSubmitted time.Time `bson:"last_submitted,omitempty" json:"last_submitted,omitzero"`
	// Submitted counts submissions, repeats after a crash included (the
	// master runs those once).
	Submitted int64 `bson:"submitted" json:"submitted"`
}

// controllerName names the rule's Controller, and so its stored position.
func (r *Rule) controllerName() string { return "rule-" + r.Name + "-" + r.UID }

// PlanID is the id under which the rule submits the plan for ev: the same
// for a repeat of the event (at-least-once delivery), so the master runs it
// once; different for another rule, or the same name defined again.
func (r *Rule) PlanID(ev Event) string {
	h := sha256.Sum256([]byte(r.Project + "\x00" + r.Name + "\x00" + r.UID + "\x00" + ev.ID))
	return r.Name + "-" + hex.EncodeToString(h[:8])
}

// Rules is the store of a project's rules.
type Rules struct {
	db   *store.DB
	coll *mongo.Collection
	pos  *mongo.Collection
}

// OpenRules returns the rules of db's project.
func OpenRules(ctx context.Context, db *store.DB) (*Rules, error) {
	// Rules and positions are read by _id; see store.DB.IndexIDs.
	if err := db.IndexIDs(ctx, rulesCollection, positionsCollection); err != nil {
		return nil, fmt.Errorf("stream: open rules: %w", err)
	}
	return &Rules{db: db, coll: db.Database().Collection(rulesCollection), pos: db.Database().Collection(positionsCollection)}, nil
}

func (rs *Rules) ruleID(name string) string { return rs.db.Project() + "/" + name }

// samples opens the default sample collection, where the views are defined.
func (rs *Rules) samples(ctx context.Context) (*dataset.Collection, error) {
	c, err := dataset.Open(ctx, rs.db, dataset.Options{})
	if err != nil {
		return nil, fmt.Errorf("stream: rules: %w", err)
	}
	return c, nil
}

// views opens the rule's views.
func (rs *Rules) views(ctx context.Context, c *dataset.Collection, r *Rule) ([]*dataset.Dataset, error) {
	var out []*dataset.Dataset
	for _, v := range r.Views {
		d, err := c.Dataset(ctx, v)
		if errors.Is(err, dataset.ErrNotFound) {
			hint := "there are none"
			if have, lerr := c.Datasets(ctx); lerr == nil && len(have) > 0 {
				hint = "the datasets there: " + strings.Join(have, ", ")
			}
			return nil, fmt.Errorf("stream: rule %q: view %q is not a dataset of project %q (%s): %w", r.Name, v, rs.db.Project(), hint, err)
		}
		if err != nil {
			return nil, fmt.Errorf("stream: rule %q: view %q: %w", r.Name, v, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Validate checks what a rule says by itself: its name, views, thresholds
// and plan template (rendered with sample values and parsed as a plan).
func (r *Rule) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("stream: rule %q: %s: %w", r.Name, fmt.Sprintf(format, a...), ErrInvalidRule)
	}
	if !task.ValidName(r.Name) || len(r.Name) > MaxRuleName {
		return bad("expected a name of 1 to %d letters, digits, '-' and '_'", MaxRuleName)
	}
	if len(r.Views) == 0 {
		return bad("no view: name the dataset to watch")
	}
	for i, v := range r.Views {
		if v == "" || strings.ContainsAny(v, ".$\x00") {
			return bad("view %q: expected a dataset name without '.' or '$'", v)
		}
		if slices.Contains(r.Views[:i], v) {
			return bad("view %q is named twice", v)
		}
	}
	if r.MinCount < 0 || r.MaxWait < 0 {
		return bad("min_count %d and max_wait %v: expected neither negative", r.MinCount, r.MaxWait)
	}
	if r.MinCount == 0 && r.MaxWait == 0 {
		return bad("min_count 0 and no max_wait: expected a count of new samples, a longest wait, or both")
	}
	if strings.TrimSpace(r.Plan) == "" {
		return bad("no plan template")
	}
	if len(r.Views) > 1 && strings.Contains(r.Plan, PlaceholderNew) {
		return bad("%s names the new samples of one view, and the rule watches %d: use %s or a plan of its own", PlaceholderNew, len(r.Views), PlaceholderView)
	}
	ev := Event{ID: "check", Changes: []Change{{Source: r.Views[0], After: 0, UpTo: 1}}}
	if _, err := r.render(ev); err != nil {
		return fmt.Errorf("stream: rule %q: plan template: %w: %w", r.Name, err, ErrInvalidRule)
	}
	return nil
}

// newView is the name of the dataset of ch's new samples.
func newView(ch Change) string { return fmt.Sprintf("%s@%d-%d", ch.Source, ch.After+1, ch.UpTo) }

// render is the plan for ev: the template with its placeholders replaced.
func (r *Rule) render(ev Event) (*plan.Spec, error) {
	quote := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b[1 : len(b)-1])
	}
	subst := []string{PlaceholderView, quote(r.Views[0]), PlaceholderRule, quote(r.Name), PlaceholderEvent, quote(ev.ID)}
	if len(ev.Changes) > 0 {
		subst = append(subst, PlaceholderNew, quote(newView(ev.Changes[0])))
	}
	text := strings.NewReplacer(subst...).Replace(r.Plan)
	spec, err := plan.Parse([]byte(text), "the plan of rule "+r.Name)
	if err != nil {
		return nil, err
	}
	return spec, nil
}

// Define validates r and stores it. Unless fromStart, only samples inserted
// after now count as new (its position starts at the views' current
// sequence numbers); with fromStart the samples already there count too. A
// bad rule (an unknown view, no threshold, a template that is not a plan)
// is refused with an error wrapping ErrInvalidRule or dataset.ErrNotFound,
// and nothing is written. A name in use is ErrRuleExists.
func (rs *Rules) Define(ctx context.Context, r Rule, fromStart bool) (*Rule, error) {
	now := time.Now().UTC()
	r.Project, r.ID = rs.db.Project(), rs.ruleID(r.Name)
	r.Created, r.Updated = now, now
	r.LastPlan, r.LastSubmitted, r.Submitted = "", time.Time{}, 0
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c, err := rs.samples(ctx)
	if err != nil {
		return nil, err
	}
	views, err := rs.views(ctx, c, &r)
	if err != nil {
		return nil, err
	}
	if _, err := rs.Get(ctx, r.Name); err == nil {
		return nil, fmt.Errorf("stream: rule %q in project %q: %w (delete it first: tl stream delete %s)", r.Name, r.Project, ErrRuleExists, r.Name)
	} else if !errors.Is(err, ErrRuleNotFound) {
		return nil, err
	}
	uid := make([]byte, 6)
	rand.Read(uid)
	r.UID = hex.EncodeToString(uid)
	// The position first: the runner never sees a rule without one.
	positions := map[string]int64{}
	if !fromStart {
		for i, d := range views {
			k, err := d.Collection().Counter(ctx)
			if err != nil {
				return nil, fmt.Errorf("stream: rule %q: view %q: %w", r.Name, r.Views[i], err)
			}
			positions[r.Views[i]] = k.Seq
		}
	}
	pd := positionDoc{ID: r.Project + "/" + r.controllerName(), Project: r.Project, Name: r.controllerName(), Positions: positions, Updated: now}
	if _, err := rs.pos.InsertOne(ctx, pd); err != nil {
		return nil, fmt.Errorf("stream: rule %q: store its position: %w", r.Name, err)
	}
	if _, err := rs.coll.InsertOne(ctx, r); err != nil {
		_, _ = rs.pos.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: pd.ID}})
		if mongo.IsDuplicateKeyError(err) {
			return nil, fmt.Errorf("stream: rule %q in project %q: %w", r.Name, r.Project, ErrRuleExists)
		}
		return nil, fmt.Errorf("stream: rule %q: store it: %w", r.Name, err)
	}
	return &r, nil
}

// Get returns the rule name, or an error wrapping ErrRuleNotFound.
func (rs *Rules) Get(ctx context.Context, name string) (*Rule, error) {
	var r Rule
	err := rs.coll.FindOne(ctx, bson.D{{Key: "_id", Value: rs.ruleID(name)}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("stream: rule %q in project %q: %w", name, rs.db.Project(), ErrRuleNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("stream: read rule %q: %w", name, err)
	}
	return &r, nil
}

// List returns the project's rules by name.
func (rs *Rules) List(ctx context.Context) ([]*Rule, error) {
	cur, err := rs.coll.Find(ctx, bson.D{{Key: "project", Value: rs.db.Project()}}, options.Find().SetSort(bson.D{{Key: "name", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("stream: list rules of project %q: %w", rs.db.Project(), err)
	}
	var out []*Rule
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("stream: list rules of project %q: %w", rs.db.Project(), err)
	}
	return out, nil
}

// SetPaused pauses or resumes a rule. A paused rule submits nothing; its new
// samples wait, and after a resume they start one plan (if enough).
func (rs *Rules) SetPaused(ctx context.Context, name string, paused bool) error {
	res, err := rs.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: rs.ruleID(name)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "paused", Value: paused}, {Key: "updated", Value: time.Now().UTC()}}}})
	if err != nil {
		return fmt.Errorf("stream: pause rule %q: %w", name, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("stream: rule %q in project %q: %w", name, rs.db.Project(), ErrRuleNotFound)
	}
	return nil
}

// Delete removes a rule and its position. The plans it submitted stay.
func (rs *Rules) Delete(ctx context.Context, name string) error {
	r, err := rs.Get(ctx, name)
	if err != nil {
		return err
	}
	if _, err := rs.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: r.ID}}); err != nil {
		return fmt.Errorf("stream: delete rule %q: %w", name, err)
	}
	if _, err := rs.pos.DeleteOne(ctx, bson.D{{Key: "_id", Value: r.Project + "/" + r.controllerName()}}); err != nil {
		return fmt.Errorf("stream: delete the position of rule %q: %w", name, err)
	}
	return nil
}

// RuleState is where a rule stands: its position per view, the samples of
// its views after it, and the event decided and not yet confirmed, if any.
type RuleState struct {
	Positions map[string]int64 `json:"positions"`
	Pending   int64            `json:"pending"`
	// Event is the ID of an event being triggered (or retried).
	Event string `json:"event,omitempty"`
}

// State reads where r stands.
func (rs *Rules) State(ctx context.Context, r *Rule) (*RuleState, error) {
	var d positionDoc
	err := rs.pos.FindOne(ctx, bson.D{{Key: "_id", Value: r.Project + "/" + r.controllerName()}}).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("stream: position of rule %q: %w", r.Name, err)
	}
	st := &RuleState{Positions: d.Positions}
	if st.Positions == nil {
		st.Positions = map[string]int64{}
	}
	if d.Pending != nil {
		st.Event = d.Pending.ID
	}
	c, err := rs.samples(ctx)
	if err != nil {
		return nil, err
	}
	views, err := rs.views(ctx, c, r)
	if err != nil {
		return nil, err
	}
	for i, v := range views {
		k, err := v.Collection().Counter(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream: rule %q: %w", r.Name, err)
		}
		n, _, err := v.CountRange(ctx, st.Positions[r.Views[i]], k.Seq)
		if err != nil {
			return nil, fmt.Errorf("stream: rule %q: %w", r.Name, err)
		}
		st.Pending += n
	}
	return st, nil
}

// RunConfig configures Rules.Run.
type RunConfig struct {
	// Submit sends a plan under a chosen id (master.SubmitAs); the master
	// runs an id once, which makes a repeated event harmless. Required.
	Submit func(ctx context.Context, id string, spec *plan.Spec) error
	// Poll is each controller's Config.Poll; default DefaultPoll.
	Poll time.Duration
	// Rescan is how often the rules are re-read, so that new, paused,
	// resumed and deleted rules take effect; default DefaultRescan.
	Rescan time.Duration
	// Logger; nil: the store's.
	Logger *slog.Logger
}

// Run runs a Controller for every rule that is not paused, until ctx ends,
// re-reading the rules every Rescan. A controller that fails (a view
// deleted, the store away) is logged and started again after a pause. Run
// returns ctx's error.
func (rs *Rules) Run(ctx context.Context, cfg RunConfig) error {
	if cfg.Submit == nil {
		return errors.New("stream: rules: no Submit")
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = DefaultRescan
	}
	log := cfg.Logger
	if log == nil {
		log = rs.db.Logger()
	}
	type running struct {
		name string
		stop context.CancelFunc
		done chan struct{}
	}
	active := map[string]*running{} // by rule UID
	defer func() {
		for _, r := range active {
			r.stop()
		}
		for _, r := range active {
			<-r.done
		}
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		t.Reset(cfg.Rescan)
		rules, err := rs.List(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err.Error() != lastErr {
				log.Warn("stream: reading the rules failed; the running ones go on", "err", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		want := map[string]*Rule{}
		for _, r := range rules {
			if !r.Paused {
				want[r.UID] = r
			}
		}
		for uid, r := range active {
			if want[uid] == nil {
				r.stop()
				<-r.done
				delete(active, uid)
				log.Info("stream: rule paused or deleted; stopped", "rule", r.name)
			}
		}
		for uid, r := range want {
			if active[uid] != nil {
				continue
			}
			rctx, stop := context.WithCancel(ctx)
			run := &running{name: r.Name, stop: stop, done: make(chan struct{})}
			active[uid] = run
			go func() {
				defer close(run.done)
				rs.runRule(rctx, r, cfg, log.With("rule", r.Name))
			}()
		}
	}
}

// runRule runs r's controller until ctx ends, starting it again after an
// error (pauses doubling from a second up to a minute).
func (rs *Rules) runRule(ctx context.Context, r *Rule, cfg RunConfig, log *slog.Logger) {
	pause := time.Second
	log.Info("stream: rule running", "views", strings.Join(r.Views, ","), "min_count", r.MinCount, "max_wait", r.MaxWait)
	for ctx.Err() == nil {
		err := rs.runOnce(ctx, r, cfg, log)
		if ctx.Err() != nil {
			return
		}
		log.Warn("stream: rule stopped; starting it again", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Minute)
	}
}

func (rs *Rules) runOnce(ctx context.Context, r *Rule, cfg RunConfig, log *slog.Logger) error {
	c, err := rs.samples(ctx)
	if err != nil {
		return err
	}
	views, err := rs.views(ctx, c, r)
	if err != nil {
		return err
	}
	var sources []Source
	for i, d := range views {
		sources = append(sources, Source{Name: r.Views[i], Dataset: d})
	}
	minCount := r.MinCount
	if minCount == 0 {
		minCount = 1 << 62 // time alone decides
	}
	ctl, err := New(ctx, rs.db, Config{Name: r.controllerName(), Sources: sources, MinCount: minCount, MaxWait: r.MaxWait,
		Poll: cfg.Poll, Logger: log, Trigger: TriggerFunc(func(ctx context.Context, ev Event) error {
			return rs.submit(ctx, r, ev, views, cfg, log)
		})})
	if err != nil {
		return err
	}
	return ctl.Run(ctx)
}

// submit is a rule's trigger: it defines the dataset of the new samples,
// renders the plan and submits it under the event's plan id.
func (rs *Rules) submit(ctx context.Context, r *Rule, ev Event, views []*dataset.Dataset, cfg RunConfig, log *slog.Logger) error {
	if len(views) == 1 && len(ev.Changes) > 0 && strings.Contains(r.Plan, PlaceholderNew) {
		ch := ev.Changes[0]
		q := views[0].Query()
		q.MinSeq = max(q.MinSeq, ch.After+1)
		if q.MaxSeq == 0 || q.MaxSeq > ch.UpTo {
			q.MaxSeq = ch.UpTo
		}
		// Define replaces: a repeat of the event defines the same dataset.
		if _, err := views[0].Collection().Define(ctx, newView(ch), q); err != nil {
			return fmt.Errorf("stream: rule %q: define the dataset of event %s: %w", r.Name, ev.ID, err)
		}
	}
	spec, err := r.render(ev)
	if err != nil {
		return fmt.Errorf("stream: rule %q: plan of event %s: %w", r.Name, ev.ID, err)
	}
	id := r.PlanID(ev)
	if err := cfg.Submit(ctx, id, spec); err != nil {
		return fmt.Errorf("stream: rule %q: submit plan %s: %w", r.Name, id, err)
	}
	log.Info("stream: plan submitted", "plan", id, "event", ev.ID, "samples", ev.Total, "reason", ev.Reason, "attempt", ev.Attempt)
	_, err = rs.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: r.ID}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "last_plan", Value: id}, {Key: "last_submitted", Value: time.Now().UTC()}}},
		{Key: "$inc", Value: bson.D{{Key: "submitted", Value: int64(1)}}}})
	if err != nil {
		// Only the listing's record: the plan is submitted.
		log.Warn("stream: could not record the submitted plan on the rule", "plan", id, "err", err)
	}
	return nil
}
