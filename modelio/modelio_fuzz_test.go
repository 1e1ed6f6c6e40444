package modelio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio/safetensors"
)

// Loading a weights file into a network either fills every variable with the
// file's values or changes nothing and says why (a *MismatchError, or the
// format error), whatever the file holds.
func FuzzLoadWeights(f *testing.F) {
	g := graph.New(1)
	in := layers.Input(g, "x", -1, 3)
	net := layers.Dense(layers.Dense(in, "fc1", 2, layers.ReLU), "fc2", 2)
	if err := net.Err(); err != nil {
		f.Fatal(err)
	}
	vars := net.AllParams()
	tensors := func(convert func(safetensors.Tensor) safetensors.Tensor) []byte {
		var ts []safetensors.Tensor
		for i, v := range vars {
			vals := make([]float32, v.Tensor().Size())
			for j := range vals {
				vals[j] = float32(i*10 + j)
			}
			ts = append(ts, convert(safetensors.FromFloat32(v.Name(), v.Tensor().Shape(), vals)))
		}
		var buf bytes.Buffer
		if err := safetensors.Encode(&buf, ts, nil); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	f.Add(tensors(func(t safetensors.Tensor) safetensors.Tensor { return t }))
	f.Add(tensors(func(t safetensors.Tensor) safetensors.Tensor { // as BF16
		b := make([]byte, len(t.Data)/2)
		for i := range b {
			if i%2 == 1 {
				b[i-1], b[i] = t.Data[2*i-1], t.Data[2*i+1]
			}
		}
		return safetensors.Tensor{Name: t.Name, DType: safetensors.BF16, Shape: t.Shape, Data: b}
	}))
	f.Add(tensors(func(t safetensors.Tensor) safetensors.Tensor { // as F64
		b := make([]byte, 2*len(t.Data))
		for i := 0; i < len(t.Data)/4; i++ {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))))
		}
		return safetensors.Tensor{Name: t.Name, DType: safetensors.F64, Shape: t.Shape, Data: b}
	}))
	f.Add(tensors(func(t safetensors.Tensor) safetensors.Tensor { // transposed shapes
		return safetensors.Tensor{Name: t.Name, DType: t.DType, Shape: reversed(t.Shape), Data: t.Data}
	}))
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := safetensors.Decode(b)
		if err != nil {
			return // FuzzLoad in package safetensors covers the format
		}
		before := make([][]float32, len(vars))
		for i, v := range vars {
			before[i] = slices.Clone(v.Tensor().Float32s())
		}
		err = assign("fuzz.safetensors", file, vars, loadConfig{})
		if err != nil {
			var mm *MismatchError
			if !errors.As(err, &mm) || !errors.Is(err, ErrMismatch) {
				t.Fatalf("error %v is not a *MismatchError", err)
			}
			if len(mm.Missing)+len(mm.Unexpected)+len(mm.Shapes)+len(mm.Types) == 0 {
				t.Fatalf("a mismatch that lists nothing: %v", err)
			}
			for i, v := range vars {
				if !slices.Equal(v.Tensor().Float32s(), before[i]) && !hasNaN(before[i]) {
					t.Fatalf("a failed load changed %s", v.Name())
				}
			}
			return
		}
		for _, v := range vars {
			x, ok := file.Tensor(v.Name())
			if !ok {
				t.Fatalf("%s loaded from no tensor", v.Name())
			}
			want := make([]float32, x.Elements())
			if err := x.Float32s(want); err != nil {
				t.Fatal(err)
			}
			got := v.Tensor().Float32s()
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("%s[%d] = %v, file has %v", v.Name(), j, got[j], want[j])
				}
			}
		}
	})
}

func hasNaN(v []float32) bool {
	for _, x := range v {
		if x != x {
			return true
		}
	}
	return false
}

func reversed(s []int) []int {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
