# connection_manager: PGXS build, unit tests, fuzzing, format and symbol checks.

MODULE_big = connection_manager
OBJS = \
	src/connection_manager.o \
	src/guc.o \
	src/readonly.o \
	src/shmem.o \
	src/listener.o \
	src/worker_proxy.o \
	src/session.o \
	src/cancel.o \
	src/auth.o \
	src/hash.o \
	src/login.o \
	src/catalog.o \
	src/hba_load.o \
	src/node_state.o \
	src/worker_monitor.o \
	src/wakeup.o \
	src/fd_owner.o \
	src/proto.o \
	src/encoding.o \
	src/md5.o \
	src/scram.o \
	src/hba_parse.o \
	src/hba_match.o \
	src/ident.o \
	src/tls.o \
	src/proof.o \
	src/proof_token.o \
	src/cluster.o \
	src/node_json.o \
	src/http_proto.o \
	src/http_server.o \
	src/http_api.o \
	src/monitor_status.o \
	src/status_page.o \
	src/probe.o \
	src/mark_file.o \
	src/stats.o \
	src/status_text.o \
	src/status_json.o \
	src/metrics.o \
	src/views.o
PGFILEDESC = "connection_manager - in-server connection manager"
EXTENSION = connection_manager
DATA = sql/connection_manager--1.0.sql

PG_CPPFLAGS = -I$(srcdir)/include -I$(libpq_srcdir)
PG_CFLAGS = -Werror
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK = -lssl -lcrypto

TAP_TESTS = 1
EXTRA_CLEAN = test/unit/*.t test/fuzz/fuzz_proto test/fuzz/fuzz_hba \
	test/fuzz/fuzz_scram test/fuzz/fuzz_proof test/fuzz/fuzz_http \
	test/fuzz/fuzz_cluster test/fuzz/fuzz_status tmp_check

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when a header moves.
$(OBJS): $(wildcard include/*.h)

# Pure modules: no server headers, linked into unit tests and fuzzers too.
PURE = src/proto.c src/hba_parse.c src/hba_match.c src/ident.c \
	src/encoding.c src/md5.c src/scram.c src/proof_token.c \
	src/cluster.c src/node_json.c src/http_proto.c \
	src/status_text.c src/status_json.c src/metrics.c src/status_page.c
UNIT_CC ?= gcc
UNIT_FLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
	-fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all -I$(srcdir)/include

test/unit/%.t: test/unit/%.c test/unit/tap.h $(PURE)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< $(PURE) -lssl -lcrypto

unit: $(patsubst %.c,%.t,$(wildcard test/unit/test_*.c))
	prove --exec '' test/unit/*.t

test/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(PURE)
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
		-I$(srcdir)/include -o $@ $^ -lssl -lcrypto

FUZZ_SECONDS ?= 30
FUZZERS = proto hba scram proof http cluster status
fuzz: $(addprefix test/fuzz/fuzz_,$(FUZZERS))
	@for f in $(FUZZERS); do \
		scratch=$$(mktemp -d); \
		test/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) $$scratch \
			test/fuzz/corpus/$$f; rc=$$?; rm -rf $$scratch; \
		[ $$rc -eq 0 ] || exit $$rc; \
	done

format-check:
	clang-format-14 --dry-run --Werror src/*.c include/*.h test/unit/*.c \
		test/unit/*.h test/fuzz/*.c

symbols-check: all
	@bad=$$(nm -D --defined-only $(MODULE_big).so | awk '{print $$3}' | \
		grep -Ev '^(cm_|pg_finfo_cm_|_PG_init$$|Pg_magic_func$$|_init$$|_fini$$|_edata$$|_end$$|__bss_start$$)'); \
	if [ -n "$$bad" ]; then echo "exported without the cm_ prefix: $$bad"; exit 1; fi

.PHONY: unit fuzz format-check symbols-check
