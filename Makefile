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
# agentrun starts once per sandboxed run: it is a static PIE (no dynamic
# loader, no shared libc to map, relocate and copy at each fork: measured
# 0.15-0.45 ms less per run, docs/bench.md) and does not use OpenSSL (see
# shared/sha256.c).  It uses no NSS function (getpw*, getaddrinfo), which a
# static glibc could not load.  Sanitizer builds cannot be static: there only
# its libraries are.
ifdef SANITIZE
RUNNER_LDFLAGS := $(LDFLAGS)
RUNNER_LIBS := -Wl,-Bstatic -lseccomp -lcgroup -ljansson -Wl,-Bdynamic -pthread
else
RUNNER_LDFLAGS := -static-pie -Wl,-z,relro,-z,now
RUNNER_LIBS := -lseccomp -lcgroup -ljansson -pthread
endif

LIB_SRCS := $(wildcard shared/*.c policy/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIB := $(B)/libagentcore.a

RUNNER_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard runner/*.c))
GATEWAY_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard gateway/*.c))
LAUNCHER_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard launcher/*.c))

BINS := $(B)/bin/agentrun $(B)/bin/al-helper $(B)/bin/al-mock-c
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
	$(CC) $(RUNNER_LDFLAGS) -o $@ $(RUNNER_OBJS) $(LIB) $(RUNNER_LIBS)

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

# The C mock agent runs its checks in-process (it cannot exec): static too.
$(B)/bin/al-mock-c: tests/mock_agent/c_agent.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -static -pthread -o $@ $<

$(B)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< $(LIB) $(GW_LIBS) $(LIBS) $(CHECK_LIBS)

test: all $(UNIT_BINS)
	@./tests/run.sh $(TESTS)

bench: all
	@./tests/bench/bench.sh

# make install [PREFIX=/usr/local] [DESTDIR=] [UNITDIR=...] [NOBUILD=1]
# NOBUILD=1 installs what is already in $(B)/bin (no compiler needed).
# Files under $(SYSCONFDIR) that exist are never replaced (scripts/install.sh
# handles upgrades of edited configuration).
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/agentlaunch
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g'
install: $(if $(NOBUILD),,all)
	@for b in $(BINS); do test -x $$b || { echo "install: $$b missing: run make first" >&2; exit 1; }; done
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR) \
		$(DESTDIR)$(SYSCONFDIR)/agents $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)/var/lib/agentlaunch $(DESTDIR)/var/lib/agentlaunch/work
	install -d -m 0750 $(DESTDIR)/var/log/agentlaunch
	install -m 0755 $(filter-out $(B)/bin/agentrun $(B)/bin/al-helper $(B)/bin/al-mock-c,$(BINS)) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(B)/bin/agentrun $(DESTDIR)$(LIBEXECDIR)/agentrun
	ln -sfn $(LIBEXECDIR)/agentrun $(DESTDIR)$(BINDIR)/agentrun
	install -m 0755 deploy/al-cgroup-leaf $(DESTDIR)$(LIBEXECDIR)/al-cgroup-leaf
	$(SUBST) deploy/agentlaunch-agent > $(DESTDIR)$(LIBEXECDIR)/agentlaunch-agent
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/agentlaunch-agent
	$(SUBST) deploy/agentgw.service > $(DESTDIR)$(UNITDIR)/agentgw.service
	$(SUBST) deploy/agentlaunch@.service > '$(DESTDIR)$(UNITDIR)/agentlaunch@.service'
	chmod 0644 $(DESTDIR)$(UNITDIR)/agentgw.service '$(DESTDIR)$(UNITDIR)/agentlaunch@.service'
	install -m 0644 policy/default.json $(DESTDIR)$(SYSCONFDIR)/default.json.dist
	test -e $(DESTDIR)$(SYSCONFDIR)/default.json || install -m 0644 policy/default.json $(DESTDIR)$(SYSCONFDIR)/default.json
	test -e $(DESTDIR)$(SYSCONFDIR)/policy.json || install -m 0644 policy/default.json $(DESTDIR)$(SYSCONFDIR)/policy.json
	test -e $(DESTDIR)$(SYSCONFDIR)/agentgw.env || install -m 0644 deploy/agentgw.env $(DESTDIR)$(SYSCONFDIR)/agentgw.env
	test -e $(DESTDIR)$(SYSCONFDIR)/tokens.json || (umask 077 && echo '{"tokens": []}' > $(DESTDIR)$(SYSCONFDIR)/tokens.json)
	install -m 0644 deploy/example.conf.sample $(DESTDIR)$(SYSCONFDIR)/agents/example.conf.sample
	install -m 0644 $(wildcard docs/*.md) $(DESTDIR)$(DOCDIR)/

format:
	clang-format -i $(wildcard */*.c */*.h tests/*/*.c)

clean:
	rm -rf $(B)

-include $(LIB_OBJS:.o=.d) $(RUNNER_OBJS:.o=.d) $(GATEWAY_OBJS:.o=.d) $(LAUNCHER_OBJS:.o=.d)
