package plan

import (
	"reflect"
	"strings"
	"testing"
)

// The fields that errors list as valid are the fields the decoder knows: a
// field added to Spec or TaskSpec must be added to planFields or taskFields,
// or Parse would call it unknown.
func TestFieldListsMatchTheStructs(t *testing.T) {
	for _, c := range []struct {
		typ    reflect.Type
		fields []field
	}{
		{reflect.TypeFor[Spec](), planFields},
		{reflect.TypeFor[TaskSpec](), taskFields},
	} {
		var tags []string
		for i := range c.typ.NumField() {
			if tag := strings.Split(c.typ.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
				tags = append(tags, tag)
			}
		}
		if got, want := fieldNames(c.fields), strings.Join(tags, ", "); got != want {
			t.Errorf("%v: errors list %s; the struct has %s", c.typ, got, want)
		}
	}
}
