package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"
	_ "modernc.org/sqlite" // the driver FerretDB itself uses, for IndexIDs
)

// IndexIDs makes lookups by _id in the named collections use an index, on
// the embedded SQLite server; elsewhere it only creates the collections.
//
// Why: FerretDB v1 over SQLite indexes _id as `_ferretdb_sjson->"_id"` but
// queries it as `_ferretdb_sjson->'$._id'`, so SQLite never uses that index
// and every lookup by _id scans the table, parsing each document, until it
// finds a match: 0.7 s for the 32nd chunk of a blob, against 20 ms with an
// index on the expression the queries use. This adds that index directly in
// the SQLite file (FerretDB's metadata does not know it; dropping the
// collection drops it). It relies on FerretDB v1's table layout, which v1.24
// (the last v1 release) freezes; a test checks SQLite's query plan.
func (d *DB) IndexIDs(ctx context.Context, collections ...string) error {
	for _, c := range collections {
		err := d.db.CreateCollection(ctx, c)
		var ce mongo.CommandError
		if err != nil && !(errors.As(err, &ce) && ce.Code == 48) { // 48: NamespaceExists
			return fmt.Errorf("store: create collection %s: %w", c, err)
		}
	}
	if d.embedded == nil || d.embedded.dataDir == "" {
		return nil
	}
	sq, err := d.embedded.sqlite(d.db.Name())
	if err != nil {
		return err
	}
	for _, c := range collections {
		var table string
		err := sq.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, c).Scan(&table)
		if err != nil {
			return fmt.Errorf("store: find SQLite table of collection %s: %w", c, err)
		}
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`,
			quoteIdent(table+"__tl_id_path"), quoteIdent(table))
		if _, err := sq.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: index _id of collection %s (table %s): %w", c, table, err)
		}
	}
	return nil
}

// sqlite returns a connection pool to the SQLite file of database name,
// opened once and closed with the server.
func (e *embedded) sqlite(name string) (*sql.DB, error) {
	e.sqlMu.Lock()
	defer e.sqlMu.Unlock()
	if db, ok := e.sqlDBs[name]; ok {
		return db, nil
	}
	u := url.URL{Scheme: "file", Path: filepath.Join(e.dataDir, name+".sqlite"), OmitHost: true,
		RawQuery: "_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite file of database %s: %w", name, err)
	}
	db.SetMaxOpenConns(1)
	if e.sqlDBs == nil {
		e.sqlDBs = map[string]*sql.DB{}
	}
	e.sqlDBs[name] = db
	return db, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
