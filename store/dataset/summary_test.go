package dataset_test

import (
	"slices"
	"testing"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

func TestSummary(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		var ss []dataset.Sample
		for i := range 7 {
			s := dataset.Sample{Key: string(rune('a' + i)), Bytes: []byte{byte(i)}, Label: i % 3, Tags: []string{"all"}}
			if i%3 == 1 {
				s.LabelName = "one"
			}
			if i < 2 {
				s.Tags = append(s.Tags, "first")
			}
			ss = append(ss, s)
		}
		if _, err := c.Insert(ctx, ss...); err != nil {
			t.Fatal(err)
		}
		ls, err := c.All().LabelCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []dataset.LabelCount{{Label: 0, Count: 3}, {Label: 1, Name: "one", Count: 2}, {Label: 2, Count: 2}}
		if !slices.Equal(ls, want) {
			t.Errorf("LabelCounts: %+v, want %+v", ls, want)
		}
		ts, err := c.View(dataset.Query{NotTags: []string{"none"}}).TagCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if wantT := []dataset.TagCount{{Tag: "all", Count: 7}, {Tag: "first", Count: 2}}; !slices.Equal(ts, wantT) {
			t.Errorf("TagCounts: %+v, want %+v", ts, wantT)
		}
		keys, err := c.View(dataset.Query{Labels: []int{1, 2}}).Keys(ctx, 3)
		if err != nil || !slices.Equal(keys, []string{"b", "c", "e"}) {
			t.Errorf("Keys: %v, %v; want b c e", keys, err)
		}
		if ls, err := c.View(dataset.Query{Tags: []string{"none"}}).LabelCounts(ctx); err != nil || len(ls) != 0 {
			t.Errorf("LabelCounts of an empty view: %v, %v", ls, err)
		}
	})
}
