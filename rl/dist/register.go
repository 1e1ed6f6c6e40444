package dist

import "github.com/tlgo/tl/agents/task"

// Kinds of task this package registers.
const (
	PlayerKind  = "rl-player"
	TrainerKind = "rl-trainer"
)

// Register adds the kinds rl-player and rl-trainer to r, with their params
// types.
func Register(r *task.Registry) error {
	if err := r.RegisterWithParams(PlayerKind, Player, PlayerParams{}); err != nil {
		return err
	}
	return r.RegisterWithParams(TrainerKind, Trainer, TrainerParams{})
}
