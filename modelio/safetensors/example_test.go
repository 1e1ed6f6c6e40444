package safetensors_test

import (
	"bytes"
	"fmt"

	"github.com/tlgo/tl/modelio/safetensors"
)

// The bytes of a file: the header length, the JSON header padded to 8 bytes, the
// data.
func ExampleEncode() {
	var buf bytes.Buffer
	safetensors.Encode(&buf, []safetensors.Tensor{safetensors.FromFloat32("w", []int{2}, []float32{1, 2})}, nil)
	b := buf.Bytes()
	fmt.Println(b[:8])
	fmt.Printf("%q\n", b[8:len(b)-8])
	fmt.Println(b[len(b)-8:])
	// Output:
	// [56 0 0 0 0 0 0 0]
	// "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  "
	// [0 0 128 63 0 0 0 64]
}

// A damaged file is an error with the offset, never a panic.
func ExampleDecode() {
	var buf bytes.Buffer
	safetensors.Encode(&buf, []safetensors.Tensor{safetensors.FromFloat32("w", []int{2}, []float32{1, 2})}, nil)
	_, err := safetensors.Decode(buf.Bytes()[:buf.Len()-1])
	fmt.Println(err)
	// Output: safetensors: offset 9: tensor "w": data_offsets [0 8] run past the end of the data (7 bytes): not a valid safetensors file: unexpected EOF
}
