# SPDX-License-Identifier: GPL-2.0-only
# strg build: strgd, strgctl, BPF objects + skeletons, unit/integration tests, benchmarks.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

OUTPUT ?= .output
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
SANITIZE ?=
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
BASE_CFLAGS := $(CFLAGS) -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -Iuser -I$(OUTPUT) -MMD -MP
LDLIBS := -lbpf -luring -lelf -lz -ljansson -lcurl -lm -pthread

ifeq ($(SANITIZE),1)
OBJDIR := $(OUTPUT)/san
BASE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
OBJDIR := $(OUTPUT)/obj
endif

# user/ by role (user/README.md): each folder may include only the folders below it.
# Modules shared by strgd, strgctl and the unit tests (pure code, no BPF loading).
LIB_SRCS := $(addprefix user/lib/,log.c connmap.c sdnotify.c reply.c grow.c words.c textcat.c) \
	$(addprefix user/core/,http.c route.c pool.c config.c guardcfg.c guardlines.c healthlines.c \
		proxyproto.c state.c apply.c routepatch.c routegw.c confword.c shadowspec.c httpcap.c) \
	$(addprefix user/observe/,accesslog.c quantile.c trend.c shadowcmp.c shadowstats.c) user/dataplane/srclimit.c \
	user/control/saver.c user/daemon/takeover.c
# The daemon's own modules.
STRGD_SRCS := $(addprefix user/lib/,ring.c reqsrv.c notify.c listen.c) \
	$(addprefix user/kernel/,splice.c guard.c pins.c routemap.c) \
	$(addprefix user/observe/,stats.c promtext.c metrics.c metricsrv.c shadowview.c) \
	$(addprefix user/dataplane/,conn.c kconn.c exchange.c handoff.c session.c health.c gateway.c limiter.c shadow.c) \
	$(addprefix user/control/,change.c ctl.c ctlfleet.c ctlguard.c ctlpool.c ctlreply.c ctlroute.c ctlshadow.c ctlstrgd.c \
		ctlsrv.c ctlverbs.c reload.c rollback.c) \
	$(addprefix user/daemon/,strgd.c proxy.c) \
	$(addprefix user/fleet/,store.c report.c submit.c)
# The status page, linked into strgd as a string (statuspage.S includes statuspage.html).
STRGD_ASM := $(OBJDIR)/observe/statuspage.o
STRGCTL_SRCS := $(addprefix user/cli/,strgctl.c ctlclient.c top.c waitfleet.c)
# strgctl's verb table: the same lists as strgd's, without the handlers (control/ctlverbs.h).
STRGCTL_VERBS := $(OBJDIR)/control/ctlverbs-text.o

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

# Kernel-behaviour tests: their own BPF programs (tests/kernel/progs) and loaders (root only).
KTEST_BPF_SRCS := $(wildcard tests/kernel/progs/*.bpf.c)
KTEST_SKELS := $(patsubst tests/kernel/progs/%.bpf.c,$(OUTPUT)/ktest/%.skel.h,$(KTEST_BPF_SRCS))
KTEST_SRCS := $(wildcard tests/kernel/test_*.c)
KTEST_BINS := $(patsubst tests/kernel/%.c,$(OBJDIR)/ktest/%,$(KTEST_SRCS))

# The fleet (user/fleet): the etcd client and the store's objects; its tests run a real etcd.
FLEET_SRCS := user/fleet/etcd.c user/fleet/objs.c user/fleet/schema.c user/fleet/adopt.c \
	user/fleet/storecfg.c
FLEET_TEST_SRCS := $(wildcard tests/fleet/test_*.c)
FLEET_TEST_BINS := $(patsubst tests/fleet/%.c,$(OBJDIR)/fleet-tests/%,$(FLEET_TEST_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OBJDIR)/tests/%,$(UNIT_SRCS))

obj = $(patsubst user/%.c,$(OBJDIR)/%.o,$(1))
LIB_OBJS := $(call obj,$(LIB_SRCS)) $(call obj,$(FLEET_SRCS))

.PHONY: all clean check check-unit check-san san-strgd check-kernel check-fleet check-integration check-packaging check-demo bench \
	fuzz fuzz-build \
	format lint fnlen demo screenshot \
	install uninstall install-list

# Installation (README "Installing"): every file make install writes is listed in INSTALLED.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
SBINDIR := $(PREFIX)/sbin
BINDIR := $(PREFIX)/bin
MANDIR := $(PREFIX)/share/man
UNITDIR := $(PREFIX)/lib/systemd/system
COMPLETIONDIR := $(PREFIX)/share/bash-completion/completions
DOCDIR := $(PREFIX)/share/doc/strg
INSTALLED := $(SBINDIR)/strgd $(BINDIR)/strgctl $(MANDIR)/man8/strgd.8 $(MANDIR)/man8/strgctl.8 \
	$(MANDIR)/man5/strg.conf.5 $(UNITDIR)/strgd.service $(UNITDIR)/strgd@.service \
	$(COMPLETIONDIR)/strgctl $(DOCDIR)/strg.conf.example
# The folders make install may create below the standard ones (bin, sbin and share/man are
# Debian's own): uninstall removes those it leaves empty.
INSTALL_DIRS := $(MANDIR)/man8 $(MANDIR)/man5 $(UNITDIR) $(COMPLETIONDIR) $(DOCDIR)
all: strgd strgctl

strgd: $(call obj,$(STRGD_SRCS)) $(STRGD_ASM) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# strgd under ASan+UBSan for the end-to-end suite's sanitizer mode: make SANITIZE=1 san-strgd.
san-strgd: $(OBJDIR)/strgd

$(OBJDIR)/strgd: $(call obj,$(STRGD_SRCS)) $(STRGD_ASM) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

strgctl: $(call obj,$(STRGCTL_SRCS)) $(STRGCTL_VERBS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# Objects that include a skeleton wait for every skeleton; cheap, and keeps the rule simple.
$(OBJDIR)/%.o: user/%.c $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -c $< -o $@

$(STRGCTL_VERBS): user/control/ctlverbs.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -DCTL_VERBS_TEXT -c $< -o $@

$(OBJDIR)/observe/statuspage.o: user/observe/statuspage.S user/observe/statuspage.html
	$(call msg,AS,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -c $< -o $@

$(OBJDIR)/fleet-tests/%: tests/fleet/%.c tests/fleet/cluster.c $(LIB_OBJS) | $(OBJDIR)/fleet-tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -Itests/fleet $(LDFLAGS) -o $@ $(filter %.c %.o,$^) -lcmocka $(LDLIBS)

$(OBJDIR) $(OBJDIR)/tests $(OBJDIR)/ktest $(OBJDIR)/fleet-tests $(OUTPUT) $(OUTPUT)/ktest:
	$(Q)mkdir -p $@

# vmlinux.h is regenerated only when the running kernel's BTF differs from the one we have.
$(OUTPUT)/vmlinux.h: /sys/kernel/btf/vmlinux | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $< format c > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; touch $@; else mv $@.tmp $@; fi

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(OUTPUT)/vmlinux.h $(wildcard include/strg/*.h) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-Iinclude -I$(OUTPUT) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/ktest/%.bpf.o: tests/kernel/progs/%.bpf.c $(OUTPUT)/vmlinux.h $(wildcard include/strg/*.h) | $(OUTPUT)/ktest
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-Iinclude -I$(OUTPUT) -c $< -o $@

$(OUTPUT)/ktest/%.skel.h: $(OUTPUT)/ktest/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OBJDIR)/ktest/%: tests/kernel/%.c $(KTEST_SKELS) $(BPF_SKELS) $(LIB_OBJS) | $(OBJDIR)/ktest
	$(call msg,KTEST,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -I$(OUTPUT)/ktest $(LDFLAGS) -o $@ $< $(KTEST_OBJS) $(LIB_OBJS) $(LDLIBS)

# The publishing test runs strgd's own loader of the kernel's route table.
$(OBJDIR)/ktest/test_publish: KTEST_OBJS = $(call obj,user/kernel/splice.c user/kernel/pins.c user/kernel/routemap.c)
$(OBJDIR)/ktest/test_publish: $(call obj,user/kernel/splice.c user/kernel/pins.c user/kernel/routemap.c)

# The io_uring test runs the event loops' ring set-up.
$(OBJDIR)/ktest/test_uring: KTEST_OBJS = $(call obj,user/lib/ring.c)
$(OBJDIR)/ktest/test_uring: $(call obj,user/lib/ring.c)

# The route grammar's test reads the manual page from the source tree.
$(OBJDIR)/tests/test_route: BASE_CFLAGS += -DSTRG_SRCDIR='"$(CURDIR)"'

$(OBJDIR)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(OBJDIR)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) -lcmocka $(LDLIBS)

# Unit tests under ASan+UBSan, kernel behaviours, then the end-to-end suite (root, netns): every
# suite runs even when one fails; the last line counts the whole run's test cases. The plain unit
# run (check-unit) is a subset of the sanitizer run: it is the quick loop while editing.
check:
	$(Q)tests/run-all

UNIT_LABEL ?= unit
check-unit: $(UNIT_BINS)
	$(Q)tests/run-unit --label "$(UNIT_LABEL)" $(UNIT_BINS)

check-san:
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 UNIT_LABEL="unit (ASan+UBSan)" check-unit

# The fleet's tests against a 3-member etcd cluster each starts (in a netns of its own as root):
# the etcd client's, then 3 strgd hosts following one prefix (tests/fleet/fleet_tests.py).
# fleet_tests.py takes about a minute on a quiet machine and twice that under a CPU hog.
check-fleet: all $(FLEET_TEST_BINS)
	$(Q)STRG_UNIT_TIMEOUT=300 tests/run-unit --label fleet $(FLEET_TEST_BINS) tests/fleet/fleet_tests.py

check-kernel: $(KTEST_BINS)
	$(Q)tests/kernel/run $(KTEST_BINS)

check-integration: all
	$(Q)tests/integration/run

check-packaging: all
	$(Q)tests/packaging/run

# tools/demo from start to clean-up in a network namespace of its own (root), twice: whole, and
# stopped by Ctrl-C midway (tests/demo/run).
check-demo: all
	$(Q)tests/demo/run

bench: all $(OBJDIR)/route_bench $(OBJDIR)/guard_bench
	$(Q)$(OBJDIR)/route_bench
	$(Q)$(OBJDIR)/guard_bench
	$(Q)tools/bench/changes
	$(Q)tools/bench/fleet
	$(Q)tools/bench/run

$(OBJDIR)/guard_bench: tools/bench/guard_bench.c $(BPF_SKELS) | $(OBJDIR)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(OBJDIR)/route_bench: tools/bench/route_bench.c $(LIB_OBJS) | $(OBJDIR)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

demo: all
	$(Q)tools/demo --no-deps

# Fuzzing (tests/fuzz): libFuzzer harnesses built with clang, ASan and UBSan; each runs for
# FUZZ_SECONDS from the seeds in tests/fuzz/seeds (the corpus it grows stays in .output/fuzz).
FUZZ_DIR := $(OUTPUT)/fuzz
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -DSTRG_NUMERIC_ONLY -Iinclude -Iuser -I$(OUTPUT) \
	-fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB := $(patsubst user/%.c,$(FUZZ_DIR)/%.o,$(LIB_SRCS) $(FLEET_SRCS))
FUZZ_DAEMON := $(patsubst user/%.c,$(FUZZ_DIR)/%.o,$(filter-out user/daemon/strgd.c,$(STRGD_SRCS)))
FUZZ_BINS := $(FUZZ_DIR)/fuzz_http $(FUZZ_DIR)/fuzz_fastscan $(FUZZ_DIR)/fuzz_config \
	$(FUZZ_DIR)/fuzz_ctl

$(FUZZ_DIR):
	$(Q)mkdir -p $@

$(FUZZ_DIR)/%.o: user/%.c $(BPF_SKELS) | $(FUZZ_DIR)
	$(call msg,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_ctl: tests/fuzz/fuzz_ctl.c $(FUZZ_LIB) $(FUZZ_DAEMON) $(STRGD_ASM)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) | $(FUZZ_DIR)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BINS)

# The status page rendered by headless Chromium (root): .output/status.png, for the README.
screenshot: all
	$(Q)tools/screenshot $(OUTPUT)/status.png

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

# cppcheck, then the layers of user/ (tools/layers: no folder includes one above it).
lint:
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -Iinclude -Iuser user tests/unit tools/bench
	$(Q)tools/layers

# Functions longer than the style's 80 lines (tools/fnlen), longest first; fails if any.
fnlen:
	$(Q)tools/fnlen user bpf include

install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 strgd $(DESTDIR)$(SBINDIR)/strgd
	$(Q)install -D -m 0755 strgctl $(DESTDIR)$(BINDIR)/strgctl
	$(Q)install -D -m 0644 user/man/strgd.8 $(DESTDIR)$(MANDIR)/man8/strgd.8
	$(Q)install -D -m 0644 user/man/strgctl.8 $(DESTDIR)$(MANDIR)/man8/strgctl.8
	$(Q)install -D -m 0644 user/man/strg.conf.5 $(DESTDIR)$(MANDIR)/man5/strg.conf.5
	$(Q)mkdir -p $(DESTDIR)$(UNITDIR)
	$(Q)for u in strgd strgd@; do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			tools/dist/$$u.service.in > $(DESTDIR)$(UNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	$(Q)install -D -m 0644 tools/dist/strgctl.bash-completion \
		$(DESTDIR)$(COMPLETIONDIR)/strgctl
	$(Q)install -D -m 0644 tools/dist/strg.conf.example $(DESTDIR)$(DOCDIR)/strg.conf.example

uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	$(Q)for d in $(addprefix $(DESTDIR),$(INSTALL_DIRS)); do \
		[ -d "$$d" ] && rmdir --ignore-fail-on-non-empty "$$d"; \
	done; true

# The files make install writes, one per line (tests/packaging compares them with what it did).
install-list:
	@printf '%s\n' $(INSTALLED)

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) strgd strgctl

-include $(wildcard $(OUTPUT)/obj/*.d $(OUTPUT)/obj/*/*.d $(OUTPUT)/san/*/*.d $(OUTPUT)/san/*.d $(OUTPUT)/*/tests/*.d $(OUTPUT)/*/ktest/*.d)
