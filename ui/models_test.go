package ui

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store/models"
)

// The models page reads the counters and looks the latest versions up: a
// deleted latest version and a save in flight (the counter ahead of the
// versions) still give the latest version there is, and the number of
// versions, first the latest number marked approximate, becomes the count.
func TestModelsByLookups(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ms, err := models.New(ctx, f.db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Delete(ctx, f.model, 3); err != nil {
		t.Fatal(err)
	}
	// A save in flight: its version is numbered, its document not written.
	if _, err := f.db.Collection(models.CountersCollection).UpdateOne(ctx,
		bson.D{{Key: "project", Value: f.db.Project()}, {Key: "name", Value: f.model}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}}}); err != nil {
		t.Fatal(err)
	}
	ts, _ := serve(t, f.db, Config{})
	row := func() modelRow {
		t.Helper()
		r := get(t, ts, "/api/models")
		var rows []modelRow
		if err := json.Unmarshal([]byte(r.body), &rows); r.code != http.StatusOK || err != nil || len(rows) != 2 {
			t.Fatalf("/api/models: %d %v %s", r.code, err, r.body)
		}
		return rows[1]
	}
	r := row()
	if r.Name != f.model || r.Latest != 2 || r.Metrics[1].Value != 0.25 || r.Size != 2000 || len(r.Aliases) != 1 {
		t.Fatalf("%s after deleting v3 with v4 in flight: %+v", f.model, r)
	}
	if r.Approx && r.Versions != 2 {
		t.Errorf("approximate versions %d, want the latest number 2", r.Versions)
	}
	for deadline := time.Now().Add(20 * time.Second); r.Approx; r = row() {
		if time.Now().After(deadline) {
			t.Fatal("the versions are still not counted after 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.Versions != 2 {
		t.Errorf("versions counted: %d, want 2", r.Versions)
	}
	get(t, ts, "/models").must(t, http.StatusOK, "/models", `<td data-sort="2">v2</td>`)
}
