# socklab: a socket-programming lab kit in C. Build, test and grade the labs.
#
#   make grade LAB=01 [IMPL=labs|solutions|PATH]   grade one lab (default: your code in labs/)
#         [GRADE_FLAGS="-k EXPR -x --lf --hidden DIR --valgrind --pcap"]
#   make test-zoo        every bug-zoo mutant and valid variant (make test grades a sample)
#   make test            the kit's own tests (in a student handout: the same as make grade, for
#                        LAB=NN or every lab; in a lab's folder: that lab)
#   make stress          for maintainers: every solution graded 20 times under load (harness/stress.py)
#   make all             build every lab's programs
#   make docs            the Doxygen site in docs/html (make docs-instructor: with solutions;
#                        make docs-shots: screenshots of it in headless Chromium)
#   make spec LAB=01     the lab's requirement matrix: handout label, tests, points
#   make mutate LAB=01 [N=40]   a mutation sweep of the solution: the changes no test catches
#   make plots           Lab 04's figures in out/plots, measured on this machine (UPDATE_FIGURES=1: docs/img)
#   make bench           benchmarks beside iperf3, socat and ncat: bench/results.md
#   make handout         student tarballs in dist/ (no solutions, mutants or hidden tests)
#   make grade-batch LAB=01 SUBMISSIONS=DIR   grade a class: grades.csv, feedback, summary
#   make autograder LAB=01 [HIDDEN=DIR]       a Gradescope autograder zip in dist/
#   make compat-check    maintainers: grade every lab with Ubuntu 22.04's pytest 6.2.5
#   make clean           remove builds and grading output
#
# Missing Debian packages (all listed in harness/deps.txt) are installed when run as root;
# otherwise the exact apt-get command is printed. See README.md.
SHELL := /bin/sh
LAB   ?= 01
IMPL  ?= labs
JOBS  ?= 2
GRADE_FLAGS ?=

DEPS_BIN := harness/bin
# Recursively expanded on purpose: the interpreter is chosen when a recipe runs, after
# the deps target may have installed pytest. `python3` on PATH may not see Debian's packages.
PYTHON = $(shell $(DEPS_BIN)/find-python)

# Every package any target needs is in ONE list, harness/deps.txt, by group (grade, test, docs,
# bench, shots); setup.sh, the Classroom workflows, the Dockerfile and .devcontainer use it too.
LAB_DIRS  := $(wildcard labs/[0-9][0-9]-*)
LAB_IDS   := $(foreach d,$(notdir $(LAB_DIRS)),$(firstword $(subst -, ,$(d))))

.PHONY: all grade test-lab test selftest grade-all deps test-deps clean help compat-check stress
all:
	@for d in $(LAB_DIRS); do $(MAKE) --no-print-directory -C $$d all || exit 1; done

help:
	@awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' Makefile

deps:
	@$(DEPS_BIN)/ensure-deps grade
test-deps: deps
	@$(DEPS_BIN)/ensure-deps test

grade: deps
	$(PYTHON) -m harness.grade --lab $(LAB) --impl $(IMPL) --jobs $(JOBS) $(GRADE_FLAGS)

# The lab folders' `make test` lands here: the same run as grade, on that folder's sources.
test-lab: grade

# The kit's own tests need the reference solutions; a student handout has none, so there
# `make test` is `make grade`: the feedback, the table and the next step, for the lab named
# with LAB=NN, or for every lab. GRADE_FLAGS passes -k EXPR, -x and --lf to the grader.
ifneq ($(wildcard solutions/01-*),)
test: selftest
else ifeq ($(origin LAB),command line)
test: grade
else
test: grade-all
endif

# -rs: every skipped check is listed at the end with its reason (a tool that is missing, no root).
selftest: test-deps
	@[ "$$(id -u)" = 0 ] || echo "make test: not running as root: the grader's sandbox is off (rlimits only); the checks that need root are skipped and listed at the end"
	$(PYTHON) -m pytest harness/selftest -n $(JOBS) -q -p no:randomly -rs -m "not zoo"

# Every mutant of every bug zoo and every valid variant (make test grades a sample of them, the
# marker `zoo` in harness/selftest): about 10 minutes on 2 cores. CI runs it after make test.
.PHONY: test-zoo
test-zoo: test-deps
	$(PYTHON) -m pytest harness/selftest/test_kit.py harness/selftest/test_layout.py -n $(JOBS) -q -p no:randomly -m zoo

# For maintainers, not part of make test: grade every lab's solution with the oldest supported
# pytest (Ubuntu 22.04's 6.2.5, as on Gradescope), unpacked under out/compat. See harness/compat.py.
compat-check: deps
	harness/bin/compat-check

grade-all: deps
	@rc=0; for id in $(LAB_IDS); do \
	  $(PYTHON) -m harness.grade --lab $$id --impl $(IMPL) --jobs $(JOBS) $(GRADE_FLAGS) || rc=1; \
	done; exit $$rc

clean:
	@for d in $(LAB_DIRS); do $(MAKE) --no-print-directory -C $$d clean; done
	rm -rf out

# ---- Documentation (issue 6): a Doxygen site with the concept guide and the error catalog.
#   make docs              docs/html: the README, the handouts, docs/*.md, the skeletons' API
#   make docs-instructor   docs/html-instructor: the same, plus the solutions and the bug zoo
# Doxygen and graphviz come from Debian, installed as for the tests; any warning fails the
# build, and so does markup that leaked into the pages (harness/docscheck.py: a raw \ilinebr,
# literal **, tags in titles, \| in code, images outside html/). DOCS_OUT=DIR writes DIR/html instead (the self-tests do). `make test` builds both
# and runs every example of the error catalog (harness/selftest/test_docs.py).
DOCS_OUT  ?= docs
.PHONY: docs docs-instructor docs-deps
docs-deps:
	@$(DEPS_BIN)/ensure-deps docs
docs: docs-deps
	@mkdir -p $(DOCS_OUT)
	( cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $(DOCS_OUT)" ) | doxygen -
	$(PYTHON) -m harness.docscheck $(DOCS_OUT)/html
	@echo "docs: $(DOCS_OUT)/html/index.html"
docs-instructor: docs-deps
	@test -d solutions || { echo "docs-instructor: this copy of the kit has no solutions/" >&2; exit 1; }
	@mkdir -p $(DOCS_OUT) out/docs
	$(PYTHON) docs/bugzoo.py > out/docs/bugzoo.md.$$$$ && mv out/docs/bugzoo.md.$$$$ out/docs/bugzoo.md
	( cat docs/Doxyfile.instructor; echo "OUTPUT_DIRECTORY = $(DOCS_OUT)" ) | doxygen -
	$(PYTHON) -m harness.docscheck $(DOCS_OUT)/html-instructor
	@echo "docs: $(DOCS_OUT)/html-instructor/index.html"
selftest: docs-deps
# Screenshots of the index, a handout, the guide and an API page in headless Chromium, in
# out/docs-shots/: look at them before a release (not part of make test).
.PHONY: docs-shots
docs-shots: docs-deps
	@$(DEPS_BIN)/ensure-deps grade
	harness/bin/docs-shots

# Benchmarks (issue 7): the reference solutions beside iperf3, socat and ncat, written to
# bench/results.md and its plots. A number never fails the run. `make test` runs the smoke
# version (harness/selftest/test_bench.py), so it installs the peers too.
#   make bench [BENCH_FLAGS="--only echo,chat --reps 3"]    make bench-smoke (about 5 s)
BENCH_FLAGS ?=
.PHONY: bench bench-smoke bench-deps
bench-deps: deps
	@$(DEPS_BIN)/ensure-deps bench
bench: bench-deps
	$(PYTHON) bench/bench.py $(BENCH_FLAGS)
bench-smoke: bench-deps
	$(PYTHON) bench/bench.py --smoke --out out/bench-smoke
selftest: bench-deps

# ---- Traceability (issue 11): every labelled requirement [R3.2-4] of a handout and its tests.
.PHONY: spec
spec: deps
	$(PYTHON) -m harness.spec --lab $(LAB)

# ---- Mutation sweep (issue 11): grade automatic mutants of a lab's solution; the survivors
# are tests to write. out/mutate-LAB/report.md. A tool for the kit's authors, not in `make test`.
#   make mutate LAB=01 [N=40] [JOBS=2] [MUTATE_FLAGS="--seed 2 --op rel --keep"]
N ?=
MUTATE_FLAGS ?=
.PHONY: mutate
mutate: deps
	$(PYTHON) -m harness.mutate --lab $(LAB) -j $(JOBS) $(if $(N),-n $(N)) $(MUTATE_FLAGS)

# ---- Lab 04: `make plots` draws the handout's two figures from this machine's measurements, of
# the code in labs/ (or IMPL=...), into out/plots/; UPDATE_FIGURES=1 measures the reference
# solution and redraws docs/img/nagle-latency.png and docs/img/bufsize-throughput.png
# (see harness/plots.py).
.PHONY: plots
plots:
	@$(DEPS_BIN)/ensure-deps bench
	$(PYTHON) harness/plots.py $(if $(filter command line,$(origin IMPL)),--impl $(IMPL)) $(if $(filter 1,$(UPDATE_FIGURES)),--update-figures)

# ---- Grading at class scale (issue 8): handouts, batch grading, Gradescope. See harness/batch.py,
# harness/handout.py, harness/autograder/ and harness/sandbox/ (how student code is confined).
#   make handout                        dist/socklab-handout.tar.gz and one dist/socklab-labNN-handout.tar.gz
#                                       per lab (never solutions, mutants or hidden tests), after
#                                       regenerating .github/workflows/classroom-labNN.yml
#   make grade-batch LAB=01 SUBMISSIONS=DIR [BATCH_FLAGS="-j 8 --force --hidden DIR"]
#                                       out/batch-LAB/: grades.csv, feedback/, summary.txt
#   make autograder LAB=01 [HIDDEN=DIR] dist/autograder-labNN.zip for Gradescope
# Run them as root for the full sandbox (an unprivileged user id per program, namespaces).
SUBMISSIONS ?=
BATCH_FLAGS ?=
HIDDEN      ?=
.PHONY: handout grade-batch autograder
handout: deps
	$(PYTHON) -m harness.handout --out dist $(if $(HIDDEN),--hidden $(HIDDEN))
grade-batch: deps
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade-batch LAB=01 SUBMISSIONS=DIR" >&2; exit 2; }
	$(PYTHON) -m harness.batch --lab $(LAB) --submissions $(SUBMISSIONS) $(if $(HIDDEN),--hidden $(HIDDEN)) $(BATCH_FLAGS)
autograder: deps
	$(PYTHON) -m harness.autograder.build --lab $(LAB) $(if $(HIDDEN),--hidden $(HIDDEN))

# ---- Grades that hold under load (issue 13): for maintainers, not part of `make test`.
# Every lab's solution graded 20 times while `stress-ng --cpu 4` and a second grader run;
# prints (and writes out/stress/report.md) the points lost and the load seen. Goal: none.
#   make stress [STRESS_FLAGS="--runs 5 --labs 02,03"]     about 15 to 30 minutes on 2 cores
STRESS_FLAGS ?=
stress: deps
	@$(DEPS_BIN)/ensure-deps bin:stress-ng=stress-ng
	$(PYTHON) -m harness.stress $(STRESS_FLAGS)
