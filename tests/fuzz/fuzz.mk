# tests/fuzz: libFuzzer targets. Not part of `make check` (they run as long
# as you let them): `make fuzz` builds them with clang into tests/fuzz/bin/,
# tests/ci/fuzz.sh runs each one for FUZZ_SECONDS on its seed corpus.
#
# They compile the library's sources directly (with coverage instrumentation
# and ASan+UBSan), independent of how the normal build was configured, so
# the normal build may use gcc.

FUZZ_CC = clang
FUZZ_SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 $(FUZZ_SANITIZE) \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Werror \
	-I$(top_srcdir)/core -I$(top_srcdir)/backends -I$(top_srcdir)/client -I$(top_srcdir)/daemon \
	$(SODIUM_CFLAGS) $(LMDB_CFLAGS) $(YAML_CFLAGS) $(PQ_CFLAGS) $(CURL_CFLAGS) $(JSONC_CFLAGS) -pthread
FUZZ_LIBS = $(SODIUM_LIBS) $(LMDB_LIBS) $(YAML_LIBS) -pthread
# (no "_SOURCES"/"_HEADERS" names here: automake would take them for its own)
FUZZ_DEPS = $(libcore_la_SOURCES) backends/flatfile_parse.h client/lk_proto.h tests/fuzz/fuzz_common.h

FUZZ_TARGETS = keys config flatfile ip record proto http scan manage import
FUZZ_BINS = tests/fuzz/bin/fuzz_keys tests/fuzz/bin/fuzz_config tests/fuzz/bin/fuzz_flatfile \
	tests/fuzz/bin/fuzz_ip tests/fuzz/bin/fuzz_record tests/fuzz/bin/fuzz_proto tests/fuzz/bin/fuzz_http \
	tests/fuzz/bin/fuzz_scan tests/fuzz/bin/fuzz_manage tests/fuzz/bin/fuzz_import

EXTRA_DIST += tests/fuzz/fuzz_common.h tests/fuzz/fuzz_keys.c tests/fuzz/fuzz_config.c \
	tests/fuzz/fuzz_flatfile.c tests/fuzz/fuzz_ip.c tests/fuzz/fuzz_record.c tests/fuzz/fuzz_proto.c tests/fuzz/fuzz_http.c tests/fuzz/fuzz_scan.c tests/fuzz/fuzz_manage.c tests/fuzz/fuzz_import.c tests/fuzz/corpus \
	tests/fuzz/fuzz.dict.ip tests/fuzz/fuzz.dict.config tests/fuzz/fuzz.dict.flatfile tests/fuzz/fuzz.dict.http \
	tests/fuzz/fuzz.dict.import

.PHONY: fuzz fuzz-clean
fuzz: $(FUZZ_BINS)

# The library once, instrumented but without libFuzzer's main.
tests/fuzz/bin/libfuzzcore.a: $(FUZZ_DEPS) tests/fuzz/fuzz.mk
	@rm -rf tests/fuzz/bin/obj && $(MKDIR_P) tests/fuzz/bin/obj
	$(AM_V_at)for src in $(libcore_la_SOURCES); do \
		case $$src in *.c) ;; *) continue ;; esac; \
		obj=tests/fuzz/bin/obj/`echo $$src | tr / _ | sed 's/\.c$$/.o/'`; \
		echo "  FUZZCC   $$src"; \
		$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $(top_srcdir)/$$src -o $$obj || exit 1; \
	done
	$(AM_V_at)rm -f $@ && $(AR) rcs $@ tests/fuzz/bin/obj/*.o

FUZZ_LINK = $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer

tests/fuzz/bin/fuzz_keys: tests/fuzz/fuzz_keys.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_keys.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@
tests/fuzz/bin/fuzz_config: tests/fuzz/fuzz_config.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_config.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@
tests/fuzz/bin/fuzz_flatfile: tests/fuzz/fuzz_flatfile.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_flatfile.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@
tests/fuzz/bin/fuzz_ip: tests/fuzz/fuzz_ip.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_ip.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@
tests/fuzz/bin/fuzz_record: tests/fuzz/fuzz_record.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_record.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@
tests/fuzz/bin/fuzz_proto: tests/fuzz/fuzz_proto.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_proto.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@
tests/fuzz/bin/fuzz_scan: tests/fuzz/fuzz_scan.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_scan.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@

# The HTTP endpoint's request reading: daemon/http_parse.c over the library.
tests/fuzz/bin/fuzz_http: tests/fuzz/fuzz_http.c daemon/http_parse.c daemon/http_parse.h tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_http.c $(top_srcdir)/daemon/http_parse.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) -o $@

# The management API's request reading: daemon/manage_req.c (with json-c)
# over the library.
tests/fuzz/bin/fuzz_manage: tests/fuzz/fuzz_manage.c daemon/manage_req.c daemon/manage_req.h daemon/http_parse.c daemon/http_parse.h tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(JSONC_CFLAGS) $(top_srcdir)/tests/fuzz/fuzz_manage.c $(top_srcdir)/daemon/manage_req.c $(top_srcdir)/daemon/http_parse.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) $(JSONC_LIBS) -o $@

# The input of `latchkey import`: tools/import_parse.c (with json-c) over
# the library.
tests/fuzz/bin/fuzz_import: tests/fuzz/fuzz_import.c tools/import_parse.c tools/import_parse.h tools/args.c tools/args.h tools/csv.c tools/csv.h tests/fuzz/bin/libfuzzcore.a $(FUZZ_DEPS)
	$(AM_V_at)echo "  FUZZLD   $@"; $(FUZZ_LINK) $(JSONC_CFLAGS) -I$(top_srcdir)/tools $(top_srcdir)/tests/fuzz/fuzz_import.c $(top_srcdir)/tools/import_parse.c $(top_srcdir)/tools/args.c $(top_srcdir)/tools/csv.c tests/fuzz/bin/libfuzzcore.a $(FUZZ_LIBS) $(JSONC_LIBS) -o $@

fuzz-clean:
	rm -rf tests/fuzz/bin
