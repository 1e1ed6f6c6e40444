package a2c

import (
	"errors"
	"reflect"
	"testing"
)

func TestWireRoundTrip(t *testing.T) {
	in := &Trajectory{Version: 7, Obs: []float32{1, -2, 3.5, 0, 0.25, -1}, Actions: []int32{1, 0},
		Rewards: []float32{0, -1}, Dones: []bool{false, true}, LogProbs: []float32{-0.1, -2}, Returns: []float32{-3}}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out Trajectory
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip: %+v, want %+v", out, *in)
	}
	if err := out.Validate(2, 2, 2); err != nil {
		t.Fatal(err)
	}
	// Malformed messages are refused with ErrBadTrajectory.
	bad := [][]byte{nil, []byte("TLT1"), b[:len(b)-1], append(append([]byte{}, b...), 0), append([]byte("XXXX"), b[4:]...)}
	flag := append([]byte{}, b...)
	flag[20+4*6+4*2+4*2] = 2 // the first done flag
	bad = append(bad, flag)
	for i, m := range bad {
		if err := new(Trajectory).UnmarshalBinary(m); !errors.Is(err, ErrBadTrajectory) {
			t.Errorf("message %d: %v, want ErrBadTrajectory", i, err)
		}
	}
	if _, err := (&Trajectory{Actions: []int32{0}}).MarshalBinary(); err == nil {
		t.Error("an inconsistent trajectory encoded")
	}
}

func FuzzUnmarshal(f *testing.F) {
	in := &Trajectory{Version: 1, Obs: []float32{1, 2, 3, 4}, Actions: []int32{0}, Rewards: []float32{1}, Dones: []bool{true}, LogProbs: []float32{-1}}
	b, _ := in.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var tj Trajectory
		if err := tj.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := tj.MarshalBinary()
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("decoded message does not re-encode to itself: %v", err)
		}
	})
}
