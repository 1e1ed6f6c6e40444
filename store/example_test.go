package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
)

// Open with no URL starts an embedded server whose data lives in DataDir.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tl-store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := store.Open(ctx, store.Config{DataDir: dir, Project: "mnist"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)

	notes := db.Collection("notes")
	if _, err := notes.InsertOne(ctx, bson.D{{Key: "project", Value: db.Project()}, {Key: "text", Value: "hello"}}); err != nil {
		log.Fatal(err)
	}
	n, err := notes.CountDocuments(ctx, db.Scope(nil))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(db.Embedded(), n)
	// Output: true 1
}
