# tools/: the `latchkey` admin binary. It parses arguments and prints; every
# rule lives in the library. It links the installed-style shared library, so
# it sees only the exported lk_ API.
bin_PROGRAMS += latchkey
latchkey_SOURCES = \
	tools/cli.h \
	tools/main.c \
	tools/help.c \
	tools/args.h tools/args.c \
	tools/output.h tools/output.c \
	tools/json.h tools/json.c \
	tools/table.h tools/table.c \
	tools/csv.h tools/csv.c \
	tools/secret_in.h tools/secret_in.c \
	tools/cmd_init.c \
	tools/cmd_user.c \
	tools/cmd_key.c \
	tools/cmd_apikey.c \
	tools/cmd_verify.c \
	tools/cmd_records.c \
	tools/cmd_life.c \
	tools/cmd_store.c \
	tools/import_parse.h tools/import_parse.c \
	tools/cmd_import.c
latchkey_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(JSONC_CFLAGS)
latchkey_LDADD = liblatchkey.la $(SODIUM_LIBS) $(JSONC_LIBS)
