package dist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
)

// Collections of the store that hold a run's coordination: its state (the
// players' stop flag) and each player's count of trajectories published.
const (
	RunsCollection    = "rl_runs"
	PlayersCollection = "rl_players"
)

// Run states in RunsCollection.
const (
	stateRunning  = "running"
	stateStopping = "stopping" // players stop at their next refresh
	stateDone     = "done"
)

// Alias is the model alias the trainer moves to each version it saves and
// the players follow.
const Alias = "latest"

// runDoc is a run's document.
type runDoc struct {
	ID      string    `bson:"_id"`
	Project string    `bson:"project"`
	Run     string    `bson:"run"`
	State   string    `bson:"state"`
	Updated time.Time `bson:"updated"`
}

// playerDoc is a player's document: Next is the sequence number of its next
// trajectory, so the count it has published; a restarted player goes on from
// it.
type playerDoc struct {
	ID      string    `bson:"_id"`
	Project string    `bson:"project"`
	Run     string    `bson:"run"`
	Player  string    `bson:"player"`
	Next    int64     `bson:"next"`
	Stopped bool      `bson:"stopped"`
	Updated time.Time `bson:"updated"`
}

func runID(db *store.DB, run string) string { return db.Project() + "/" + run }

func playerID(db *store.DB, run, player string) string {
	return db.Project() + "/" + run + "/" + player
}

func runState(ctx context.Context, db *store.DB, run string) (string, error) {
	var d runDoc
	err := db.Collection(RunsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: runID(db, run)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("rl/dist: reading the state of run %s: %w", run, err)
	}
	return d.State, nil
}

func setRunState(ctx context.Context, db *store.DB, run, state string) error {
	_, err := db.Collection(RunsCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: runID(db, run)}},
		runDoc{ID: runID(db, run), Project: db.Project(), Run: run, State: state, Updated: time.Now().UTC()},
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("rl/dist: setting run %s %s: %w", run, state, err)
	}
	return nil
}

func readPlayer(ctx context.Context, db *store.DB, run, player string) (playerDoc, error) {
	var d playerDoc
	err := db.Collection(PlayersCollection).FindOne(ctx, bson.D{{Key: "_id", Value: playerID(db, run, player)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return playerDoc{ID: playerID(db, run, player), Project: db.Project(), Run: run, Player: player}, nil
	}
	if err != nil {
		return d, fmt.Errorf("rl/dist: reading player %s of run %s: %w", player, run, err)
	}
	return d, nil
}

func writePlayer(ctx context.Context, db *store.DB, d playerDoc) error {
	d.Updated = time.Now().UTC()
	_, err := db.Collection(PlayersCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("rl/dist: recording player %s of run %s at %d trajectories: %w", d.Player, d.Run, d.Next, err)
	}
	return nil
}

// players lists the run's players.
func players(ctx context.Context, db *store.DB, run string) ([]playerDoc, error) {
	// Filtered on the _id prefix client-side: an _id equality is what the
	// embedded store pushes down, and a run has few players.
	cur, err := db.Collection(PlayersCollection).Find(ctx, bson.D{{Key: "project", Value: db.Project()}, {Key: "run", Value: run}})
	if err != nil {
		return nil, fmt.Errorf("rl/dist: listing the players of run %s: %w", run, err)
	}
	var ds []playerDoc
	if err := cur.All(ctx, &ds); err != nil {
		return nil, fmt.Errorf("rl/dist: listing the players of run %s: %w", run, err)
	}
	out := ds[:0]
	for _, d := range ds {
		if strings.HasPrefix(d.ID, runID(db, run)+"/") {
			out = append(out, d)
		}
	}
	return out, nil
}

// trainerState is what a saved version records of the trainer beside the
// weights (params rl_state, JSON): enough for a trainer killed after it to
// resume exactly.
type trainerState struct {
	Env     string `json:"env"`
	Unroll  int    `json:"unroll"`
	Learner int64  `json:"learner_version"` // updates applied
	// Next is, per player, the sequence number of the next trajectory to
	// train on: everything below is in this version, nothing above.
	Next     map[string]int64 `json:"next"`
	Trained  int64            `json:"trained"`
	Rejected int64            `json:"rejected"`
	Repeats  int64            `json:"repeats"`
	Gaps     int64            `json:"gaps"`
	Episodes int64            `json:"episodes"`
	// Returns are the last 100 episode returns.
	Returns []float64 `json:"returns"`
}

func (s *trainerState) encode() string {
	b, _ := json.Marshal(s) // plain types only
	return string(b)
}

func decodeState(params map[string]any) (*trainerState, error) {
	raw, ok := params["rl_state"].(string)
	if !ok {
		return nil, errors.New("no rl_state string in the version's params")
	}
	s := &trainerState{}
	if err := json.Unmarshal([]byte(raw), s); err != nil {
		return nil, fmt.Errorf("params rl_state: %w", err)
	}
	if s.Next == nil {
		s.Next = map[string]int64{}
	}
	return s, nil
}
