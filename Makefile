# zkafka: `make run` starts ZooKeeper and one broker on localhost:9092; `make test` runs every test.
GO       ?= go
BIN      := bin/zkafka
ZK_JAR   := /usr/share/java/zookeeper.jar
GOFILES  := $(shell find . -name '*.go' -not -path './bin/*')
TEST_TIMEOUT ?= 14m

.PHONY: all build run test test-integration test-faults bench verify deps clean

all: build

# deps installs what the project needs from Debian's packages: ZooKeeper (with a JVM) and kcat.
deps:
	@missing=""; \
	[ -f $(ZK_JAR) ] || missing="$$missing zookeeper"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "Missing packages:$$missing. Install them with: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

build: $(BIN)

$(BIN): $(GOFILES) go.mod go.sum
	$(GO) build -o $(BIN) ./cmd/zkafka

# run: ZooKeeper in the background, one broker in the foreground; Ctrl-C stops both.
run: deps build
	@scripts/quickstart.sh

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-integration: deps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run Integration ./...

test-faults: deps
	ZKAFKA_FAULTS=long $(GO) test -count=1 -timeout 60m -run Fault ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./log/ ./network/ ./broker/

verify:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./internal/importcheck

clean:
	rm -rf bin
