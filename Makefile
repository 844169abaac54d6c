# Shortcuts; the commands they run are the documented ones.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 60s

.PHONY: run build test vet lint gobench bench soak fuzz docker clean

run: ## run the server (set AUTH_TOKEN, or a random token is logged)
	go run -ldflags "-X main.version=$(VERSION)" .

build: ## static binary ./notification-server
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o notification-server .

test: ## every test, as CI runs them
	./scripts/test.sh

vet: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-ed: $$out"; exit 1; fi
	go vet ./...

lint: ## staticcheck (fetched through the Go module proxy; a tool, not a dependency)
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

gobench: ## Go micro-benchmarks of the hot paths
	go test -run '^$$' -bench . -benchmem ./...

bench: ## side-by-side benchmark against the Node.js reference
	./scripts/bench.sh

soak: ## bounded soak test (a few minutes)
	./scripts/soak.sh

fuzz: ## every fuzz target for FUZZTIME each
	@for pkg in $$(go list ./...); do \
		for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

docker:
	docker build --build-arg VERSION=$(VERSION) -t notification-server .

clean:
	rm -f notification-server
