# agentlaunch — one non-recursive Makefile.
#   make [all]        build/bin/{agentrun,agentgw,agentlaunch,al-helper}
#   make test         unit + integration tests, ends with "N passed, N failed"
#   make bench        benchmarks against bare exec and bubblewrap
#   make install      PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined ...
.SUFFIXES:
.DELETE_ON_ERROR:
.PHONY: all test unit-test integration-test bench install clean deps format

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/agentlaunch
SYSCONFDIR ?= /etc/agentlaunch
MANDIR ?= $(PREFIX)/share/man
VERSION := 0.1.0
B := build

# Make sure the build dependencies are there before anything else (a fresh
# Debian machine needs no other step).  Skipped with NODEPS=1.
ifeq ($(filter clean format,$(MAKECMDGOALS)),)
ifneq ($(NODEPS),1)
_deps := $(shell ./scripts/install-deps.sh $(if $(filter test,$(MAKECMDGOALS)),test,$(if $(filter bench,$(MAKECMDGOALS)),bench,build)) >&2 || echo FAIL)
ifeq ($(_deps),FAIL)
$(error scripts/install-deps.sh failed: install the packages it names, or run it as root)
endif
endif
endif

PKGS := libseccomp libcgroup jansson libnl-route-3.0 libcrypto
GW_PKGS := libevent libevent_openssl openssl
CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wimplicit-fallthrough -Wno-unused-parameter -Wno-format-truncation
HARDEN := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE
OPT ?= -O2 -g
ifdef SANITIZE
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE)
SANLD := -fsanitize=$(SANITIZE)
HARDEN := $(filter-out -D_FORTIFY_SOURCE=3,$(HARDEN))
endif
CFLAGS := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE -DAL_VERSION='"$(VERSION)"' \
	-I. $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS := -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SANLD)
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
GW_LIBS := $(shell pkg-config --libs $(GW_PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
# agentrun starts once per sandboxed run: its libraries are linked
# statically (dynamic symbol resolution cost ~2 ms per start, more than the
# sandbox setup itself) and it does not use OpenSSL (see shared/sha256.c).
RUNNER_LIBS := -Wl,-Bstatic -lseccomp -lcgroup -ljansson -Wl,-Bdynamic -pthread

LIB_SRCS := $(wildcard shared/*.c policy/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIB := $(B)/libagentcore.a

RUNNER_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard runner/*.c))
GATEWAY_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard gateway/*.c))
LAUNCHER_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard launcher/*.c))

BINS := $(B)/bin/agentrun $(B)/bin/al-helper
ifneq ($(GATEWAY_OBJS),)
BINS += $(B)/bin/agentgw
endif
ifneq ($(LAUNCHER_OBJS),)
BINS += $(B)/bin/agentlaunch
endif

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

all: $(BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/bin/agentrun: $(RUNNER_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(RUNNER_OBJS) $(LIB) $(RUNNER_LIBS)

$(B)/bin/agentgw: $(GATEWAY_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(GATEWAY_OBJS) $(LIB) $(GW_LIBS) $(LIBS)

$(B)/bin/agentlaunch: $(LAUNCHER_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(LAUNCHER_OBJS) $(LIB) $(LIBS)

# The test helper is static so it runs in any sandbox root.
$(B)/bin/al-helper: tests/helper/helper.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -static -pthread -o $@ $<

$(B)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< $(LIB) $(GW_LIBS) $(LIBS) $(CHECK_LIBS)

test: all $(UNIT_BINS)
	@./tests/run.sh $(TESTS)

bench: all
	@./tests/bench/bench.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR) \
		$(DESTDIR)/var/log/agentlaunch $(DESTDIR)/var/lib/agentlaunch/work
	install -m 0755 $(filter-out $(B)/bin/agentrun $(B)/bin/al-helper,$(BINS)) $(DESTDIR)$(BINDIR)/ 2>/dev/null || true
	install -m 0755 $(B)/bin/agentrun $(DESTDIR)$(LIBEXECDIR)/agentrun
	ln -sf $(LIBEXECDIR)/agentrun $(DESTDIR)$(BINDIR)/agentrun
	test -e $(DESTDIR)$(SYSCONFDIR)/default.json || install -m 0644 policy/default.json $(DESTDIR)$(SYSCONFDIR)/default.json
	install -m 0644 policy/default.json $(DESTDIR)$(SYSCONFDIR)/default.json.dist
	chmod 0750 $(DESTDIR)/var/log/agentlaunch

format:
	clang-format -i $(wildcard */*.c */*.h tests/*/*.c)

clean:
	rm -rf $(B)

-include $(LIB_OBJS:.o=.d) $(RUNNER_OBJS:.o=.d) $(GATEWAY_OBJS:.o=.d) $(LAUNCHER_OBJS:.o=.d)
