# socklab: a socket-programming lab kit in C. Build, test and grade the labs.
#
#   make grade LAB=01 [IMPL=labs|solutions|PATH]   grade one lab (default: your code in labs/)
#   make test                                       the kit's own tests (or, in a student
#                                                   handout, every lab on your code)
#   make all                                        build every lab's programs
#   make clean                                      remove builds and grading output
#
# Missing Debian packages are installed when run as root; otherwise the exact apt-get
# command is printed. See README.md.
SHELL := /bin/sh
LAB   ?= 01
IMPL  ?= labs
JOBS  ?= 2
GRADE_FLAGS ?=

DEPS_BIN := harness/bin
# Recursively expanded on purpose: the interpreter is chosen when a recipe runs, after
# the deps target may have installed pytest. `python3` on PATH may not see Debian's packages.
PYTHON = $(shell $(DEPS_BIN)/find-python)

TEST_DEPS := py:pytest=python3-pytest py:xdist=python3-pytest-xdist \
             py:pytest_timeout=python3-pytest-timeout bin:cc=gcc bin:make=make bin:patch=patch
LAB_DIRS  := $(wildcard labs/[0-9][0-9]-*)
LAB_IDS   := $(foreach d,$(notdir $(LAB_DIRS)),$(firstword $(subst -, ,$(d))))

.PHONY: all grade test-lab test selftest grade-all deps clean help
all:
	@for d in $(LAB_DIRS); do $(MAKE) --no-print-directory -C $$d all || exit 1; done

help:
	@sed -n '2,12p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@$(DEPS_BIN)/ensure-deps $(TEST_DEPS)

grade: deps
	$(PYTHON) -m harness.grade --lab $(LAB) --impl $(IMPL) --jobs $(JOBS) $(GRADE_FLAGS)

# The lab folders' `make test` lands here: the same run as grade, on that folder's sources.
test-lab: grade

# The kit's own tests need the reference solutions; a student handout has none, so there
# `make test` grades every lab on the student's own sources instead.
ifneq ($(wildcard solutions/01-*),)
test: selftest
else
test: grade-all
endif

selftest: deps
	$(PYTHON) -m pytest harness/selftest -n $(JOBS) -q -p no:randomly

grade-all: deps
	@rc=0; for id in $(LAB_IDS); do \
	  $(PYTHON) -m harness.grade --lab $$id --impl $(IMPL) --jobs $(JOBS) --quiet $(GRADE_FLAGS) || rc=1; \
	done; exit $$rc

clean:
	@for d in $(LAB_DIRS); do $(MAKE) --no-print-directory -C $$d clean; done
	rm -rf out
