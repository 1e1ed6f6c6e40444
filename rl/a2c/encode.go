package a2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The wire format of a trajectory (little-endian): the magic "TLT1", the policy
// version (int64), T and the values per observation (uint32 each), then
// (T+1)·obsSize observation values (float32), T actions (int32), T rewards
// (float32), T done flags (one byte each, 0 or 1), T log-probabilities
// (float32), and the number of episode returns (uint32) followed by them
// (float32). It is what a player publishes on a stream; decoding checks the
// lengths, and Validate the values.
var magic = [4]byte{'T', 'L', 'T', '1'}

// ErrBadTrajectory is wrapped by the errors of UnmarshalBinary.
var ErrBadTrajectory = errors.New("a2c: malformed trajectory message")

// MarshalBinary encodes the trajectory in the wire format.
func (t *Trajectory) MarshalBinary() ([]byte, error) {
	T := len(t.Actions)
	if T == 0 || len(t.Obs)%(T+1) != 0 || len(t.Rewards) != T || len(t.Dones) != T || len(t.LogProbs) != T {
		return nil, fmt.Errorf("a2c: encoding a trajectory of %d actions, %d rewards, %d done flags, %d log-probabilities and %d observation values: inconsistent lengths",
			T, len(t.Rewards), len(t.Dones), len(t.LogProbs), len(t.Obs))
	}
	osz := len(t.Obs) / (T + 1)
	if len(t.Returns) > T {
		return nil, fmt.Errorf("a2c: encoding a trajectory of %d steps with %d episode returns", T, len(t.Returns))
	}
	b := make([]byte, 0, 24+4*len(t.Obs)+13*T+4*len(t.Returns))
	b = append(b, magic[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(t.Version))
	b = binary.LittleEndian.AppendUint32(b, uint32(T))
	b = binary.LittleEndian.AppendUint32(b, uint32(osz))
	for _, v := range t.Obs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	for _, a := range t.Actions {
		b = binary.LittleEndian.AppendUint32(b, uint32(a))
	}
	for _, r := range t.Rewards {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(r))
	}
	for _, d := range t.Dones {
		if d {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	for _, lp := range t.LogProbs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(lp))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Returns)))
	for _, r := range t.Returns {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(r))
	}
	return b, nil
}

// maxWire bounds a decoded trajectory (values), against a hostile length.
const maxWire = 1 << 28

// UnmarshalBinary decodes the wire format; a message of the wrong size or
// magic is an error wrapping ErrBadTrajectory.
func (t *Trajectory) UnmarshalBinary(b []byte) error {
	if len(b) < 20 || [4]byte(b[:4]) != magic {
		return fmt.Errorf("%w: %d bytes without the TLT1 header", ErrBadTrajectory, len(b))
	}
	version := int64(binary.LittleEndian.Uint64(b[4:]))
	T := int(binary.LittleEndian.Uint32(b[12:]))
	osz := int(binary.LittleEndian.Uint32(b[16:]))
	if T == 0 || osz == 0 || T > maxWire || osz > maxWire || (T+1)*osz > maxWire {
		return fmt.Errorf("%w: T %d and %d values per observation", ErrBadTrajectory, T, osz)
	}
	nObs := (T + 1) * osz
	fixed := 20 + 4*nObs + 13*T
	if len(b) < fixed+4 {
		return fmt.Errorf("%w: %d bytes, want at least %d for T %d and %d values per observation", ErrBadTrajectory, len(b), fixed+4, T, osz)
	}
	nRet := int(binary.LittleEndian.Uint32(b[fixed:]))
	if nRet > T || len(b) != fixed+4+4*nRet {
		return fmt.Errorf("%w: %d bytes with %d episode returns, want %d for T %d and %d values per observation", ErrBadTrajectory, len(b), nRet, fixed+4+4*min(nRet, T), T, osz)
	}
	p := b[20:]
	f32 := func(dst []float32) {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(p))
			p = p[4:]
		}
	}
	*t = Trajectory{Version: version, Obs: make([]float32, nObs), Actions: make([]int32, T), Rewards: make([]float32, T),
		Dones: make([]bool, T), LogProbs: make([]float32, T)}
	f32(t.Obs)
	for i := range t.Actions {
		t.Actions[i] = int32(binary.LittleEndian.Uint32(p))
		p = p[4:]
	}
	f32(t.Rewards)
	for i := range t.Dones {
		switch p[i] {
		case 0:
		case 1:
			t.Dones[i] = true
		default:
			return fmt.Errorf("%w: done flag %d at step %d", ErrBadTrajectory, p[i], i)
		}
	}
	p = p[T:]
	f32(t.LogProbs)
	if nRet > 0 {
		p = p[4:]
		t.Returns = make([]float32, nRet)
		f32(t.Returns)
	}
	return nil
}
