// A FerretDB server (MongoDB wire protocol on SQLite) for the project's tests, built from
// FerretDB's embeddable package: `go install .../cmd/ferretdb` panics at start (FerretDB#2982).
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := os.Getenv("FERRETDB_LISTEN")
	sqliteURL := os.Getenv("FERRETDB_SQLITE_URL")
	if listen == "" || sqliteURL == "" {
		log.Fatal("FERRETDB_LISTEN (host:port) and FERRETDB_SQLITE_URL (file:<dir>/) are required")
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f.Run(ctx)
}
