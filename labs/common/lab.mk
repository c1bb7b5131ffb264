# lab.mk: the build and test rules shared by every lab's Makefile.
#
# A lab's Makefile sets LAB, PROGS, HEADERS and PROG_SRCS for each program (and PROG_LDLIBS
# where a program links a library, e.g. -lssl -lcrypto), then includes this file. Variables a caller may set:
#   SRCDIR    where the lab's .c and .h files are (default: the lab's folder)
#   OUT       where the programs go (default: $(SRCDIR)/build)
#   SANITIZE  1 (default) builds with -fsanitize=address,undefined; 0 builds plain
#   CC        the C compiler (default: cc)
#   FEATURE_CFLAGS  feature-test macros for every file. Each .c file states the ones it needs
#             at its top (_POSIX_C_SOURCE; _DEFAULT_SOURCE or _DARWIN_C_SOURCE where it uses an
#             extension, with a comment saying which). The kit's self-test builds every lab with
#             FEATURE_CFLAGS=-D_POSIX_C_SOURCE=200809L (strict POSIX) under gcc and clang
#             (harness/selftest/test_platform.py).
LAB_DIR    := $(patsubst %/,%,$(dir $(firstword $(MAKEFILE_LIST))))
COMMON_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
KIT_DIR    := $(abspath $(COMMON_DIR)/../..)
SRCDIR     ?= $(LAB_DIR)
OUT        ?= $(SRCDIR)/build
SANITIZE   ?= 1

CC       ?= cc
FEATURE_CFLAGS ?= -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
CFLAGS   := -std=c11 -Wall -Wextra -Werror -pedantic $(FEATURE_CFLAGS) \
            -g -O1 -I$(SRCDIR) -I$(COMMON_DIR) $(EXTRA_CFLAGS)
LDFLAGS  := $(EXTRA_LDFLAGS)
LDLIBS   := $(EXTRA_LDLIBS)
ifeq ($(SANITIZE),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  # Uninitialised local variables get a byte pattern (0xfe...) instead of whatever the stack
  # held: a variable that was never set fails the same way every run, not only now and then
  # (GCC 12 and clang have the flag; an older compiler builds without it).
  AUTO_INIT := $(shell echo 'int x;' | $(CC) -ftrivial-auto-var-init=pattern -x c -c -o /dev/null - 2>/dev/null \
                 && echo -ftrivial-auto-var-init=pattern)
  CFLAGS  += $(AUTO_INIT)
endif

COMMON_SRCS := sockutil.c
DEPS := $(addprefix $(SRCDIR)/,$(HEADERS)) $(COMMON_DIR)/sockutil.h

.PHONY: all test grade clean
all: $(addprefix $(OUT)/,$(PROGS))

# One rule per program: its own sources from SRCDIR, plus the finished common helpers.
define PROG_RULE
$(OUT)/$(1): $(addprefix $(SRCDIR)/,$($(1)_SRCS)) $(addprefix $(COMMON_DIR)/,$(COMMON_SRCS)) $(DEPS)
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $$@ $(addprefix $(SRCDIR)/,$($(1)_SRCS)) $(addprefix $(COMMON_DIR)/,$(COMMON_SRCS)) $($(1)_LDLIBS) $(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call PROG_RULE,$(p))))

# Tests and grading run from the kit's top level, on the sources in this folder: one command
# (the feedback, the table of points, the next step). GRADE_FLAGS="-x", "--lf" or "-k EXPR"
# given here reach the grader (make passes command-line variables to the sub-make).
test:
	$(MAKE) -C $(KIT_DIR) test-lab LAB=$(LAB) IMPL=$(abspath $(SRCDIR))
grade:
	$(MAKE) -C $(KIT_DIR) grade LAB=$(LAB) IMPL=$(abspath $(SRCDIR))

clean:
	rm -f $(addprefix $(OUT)/,$(PROGS))
	-rmdir $(OUT) 2>/dev/null || true
