#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests
# need (npm packages for the real-client tests), then vets and runs the Go
# tests with the race detector, replaying the fuzz corpora and the recorded
# protocol fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== npm packages for the real-client tests"
npm ci --prefix e2e/node --no-audit --no-fund --loglevel=error

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/node/*'))
if [ -n "$unformatted" ]; then
	echo "not gofmt-ed:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
