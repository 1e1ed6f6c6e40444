package layers

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/tlgo/tl/tensor"
)

// Init is an initializer held in a layer config. In JSON it is the
// initializer's String() ("glorot_uniform", "truncated_normal(0, 0.1)",
// "constant(0)"); the initializers of package tensor are read back, and others
// are resolved by name with WithInit when the network is rebuilt.
type Init struct{ tensor.Initializer }

// MarshalJSON writes the initializer's name; a nil initializer is null.
func (i Init) MarshalJSON() ([]byte, error) {
	if i.Initializer == nil {
		return []byte("null"), nil
	}
	return json.Marshal(i.Initializer.String())
}

// UnmarshalJSON reads an initializer name. Unknown names are kept and resolved
// when the layer is built (see WithInit).
func (i *Init) UnmarshalJSON(data []byte) error {
	var s *string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("layers: an initializer is a string: %w", err)
	}
	if s == nil {
		i.Initializer = nil
		return nil
	}
	if in, ok := parseInit(*s); ok {
		i.Initializer = in
		return nil
	}
	i.Initializer = unresolved(*s)
	return nil
}

// resolve returns the initializer to use, looking names read from JSON up in
// the load options.
func (i Init) resolve(load *loadOpts) (tensor.Initializer, error) {
	u, ok := i.Initializer.(unresolved)
	if !ok {
		return i.Initializer, nil
	}
	if load != nil {
		if in, ok := load.inits[string(u)]; ok {
			return in, nil
		}
	}
	return nil, fmt.Errorf("%w: unknown initializer %q (pass it to FromJSON with WithInit)", ErrBadConfig, string(u))
}

// unresolved is an initializer name read from JSON that package tensor does not
// know.
type unresolved string

func (u unresolved) Init(*tensor.Tensor, *rand.Rand) {
	panic("layers: initializer " + string(u) + " was never resolved")
}
func (u unresolved) String() string { return string(u) }

// parseInit reads the String() forms of package tensor's initializers.
func parseInit(s string) (tensor.Initializer, bool) {
	switch s {
	case "glorot_uniform":
		return tensor.GlorotUniform(), true
	case "glorot_normal":
		return tensor.GlorotNormal(), true
	case "he_normal":
		return tensor.HeNormal(), true
	case "he_uniform":
		return tensor.HeUniform(), true
	}
	name, args, ok := strings.Cut(s, "(")
	if !ok || !strings.HasSuffix(args, ")") {
		return nil, false
	}
	var a, b float64
	switch name {
	case "constant":
		if _, err := fmt.Sscanf(args, "%g)", &a); err != nil {
			return nil, false
		}
		return tensor.Constant(float32(a)), true
	case "uniform", "normal", "truncated_normal":
		if _, err := fmt.Sscanf(args, "%g, %g)", &a, &b); err != nil {
			return nil, false
		}
		switch name {
		case "uniform":
			return tensor.Uniform(a, b), true
		case "normal":
			return tensor.Normal(a, b), true
		}
		return tensor.TruncatedNormal(a, b), true
	}
	return nil, false
}

// orDefault returns i, or def when i is unset.
func orDefault(i tensor.Initializer, def tensor.Initializer) Init {
	if i == nil {
		return Init{def}
	}
	return Init{i}
}
