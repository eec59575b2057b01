# connection_manager: PGXS build, unit tests, fuzzing, format and symbol checks.
#
# Copyright (c) 2026, The connection_manager Authors; see LICENSE.

MODULE_big = connection_manager
# The folders are the layers, lowest first; make layers-check keeps them so.
LAYERS = pure event backend proxy monitor
OBJS = $(patsubst %.c,%.o,$(foreach l,$(LAYERS),$(sort $(wildcard src/$(l)/*.c))))
PGFILEDESC = "connection_manager - in-server connection manager"
EXTENSION = connection_manager
DATA = sql/connection_manager--1.0.sql

PG_CPPFLAGS = -I$(srcdir)/include -I$(libpq_srcdir)

SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK = -lssl -lcrypto

TAP_TESTS = 1
EXTRA_CLEAN = test/unit/*.t test/fuzz/fuzz_proto test/fuzz/fuzz_hba \
	test/fuzz/fuzz_scram test/fuzz/fuzz_proof test/fuzz/fuzz_http \
	test/fuzz/fuzz_cluster test/fuzz/fuzz_status test/fuzz/fuzz_msg_track \
	tmp_check

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when a header moves.
$(OBJS): $(wildcard include/*.h)

# Pure modules: no server headers, linked into unit tests and fuzzers too.
PURE = $(sort $(wildcard src/pure/*.c))
# the event layer's files that need no server headers, unit-tested too
EVENT_PLAIN = src/event/busy_poll.c src/event/clock.c src/event/loop.c \
	src/event/sock.c src/event/timer.c
UNIT_CC ?= gcc
UNIT_FLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
	-fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all -I$(srcdir)/include

test/unit/%.t: test/unit/%.c test/unit/tap.h $(PURE) $(EVENT_PLAIN)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< $(PURE) $(EVENT_PLAIN) -lssl -lcrypto

# the stream layer calls TLS, which needs the server: its test stubs TLS out
test/unit/test_stream.t: test/unit/test_stream.c test/unit/tap.h \
		src/event/stream.c src/pure/cpu_idle.c $(EVENT_PLAIN)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< src/event/stream.c src/pure/cpu_idle.c \
		$(EVENT_PLAIN)

unit: $(patsubst %.c,%.t,$(wildcard test/unit/test_*.c))
	prove --exec '' test/unit/*.t

test/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(PURE)
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
		-I$(srcdir)/include -o $@ $^ -lssl -lcrypto

FUZZ_SECONDS ?= 30
FUZZERS = proto hba scram proof http cluster status msg_track
fuzz: $(addprefix test/fuzz/fuzz_,$(FUZZERS))
	@for f in $(FUZZERS); do \
		scratch=$$(mktemp -d); \
		test/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) $$scratch \
			test/fuzz/corpus/$$f; rc=$$?; rm -rf $$scratch; \
		[ $$rc -eq 0 ] || exit $$rc; \
	done

format-check:
	clang-format-14 --dry-run --Werror src/*/*.c include/*.h test/unit/*.c \
		test/unit/*.h test/fuzz/*.c test/layers/*.c

symbols-check: all
	@bad=$$(nm -D --defined-only $(MODULE_big).so | awk '{print $$3}' | \
		grep -Ev '^(cm_|pg_finfo_cm_|_PG_init$$|Pg_magic_func$$|_init$$|_fini$$|_edata$$|_end$$|__bss_start$$)'); \
	if [ -n "$$bad" ]; then echo "exported without the cm_ prefix: $$bad"; exit 1; fi

# A layer may use its own symbols and those of the layers before it in
# LAYERS, except that proxy and monitor never use each other.
layers-check: $(OBJS)
	@test/layers/check $(OBJS)
	@prove --exec "" test/layers/selftest :: $(OBJS)

# The README's Layout section names every source file, by folder.
readme-check:
	@test/readme-check

.PHONY: unit fuzz format-check symbols-check layers-check readme-check
