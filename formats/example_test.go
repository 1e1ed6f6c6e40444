package formats_test

import (
	"fmt"

	"github.com/tlgo/tl/formats"
)

// A vocabulary keeps the most frequent words; the rest map to UNK (id 0).
func ExampleNewVocab() {
	text := []byte("the cat and the dog and the bird")
	v := formats.NewVocab(formats.CountWords(text, ""), 3, formats.UNK)
	ids, _ := v.Encode([]string{"the", "bird", "and"})
	fmt.Println(v.Words, v.Counts, ids)
	// Output: [UNK the and] [3 3 2] [1 0 2]
}
