# backends/: one file per storage driver, each filling one lk_backend_ops.
# flatfile_parse.h exposes the flat store's parser to tests and fuzzers.
libcore_la_SOURCES += \
	backends/registry.c \
	backends/lmdb.c \
	backends/flatfile.c \
	backends/flatfile_parse.h \
	backends/store_file.c \
	backends/store_file.h
# PostgreSQL (configure --with-postgresql, on when libpq is found): only
# registry.c and postgresql.c see HAVE_POSTGRESQL; the core never names it.
if HAVE_POSTGRESQL
libcore_la_SOURCES += backends/postgresql.c
libcore_la_CFLAGS += -DHAVE_POSTGRESQL $(PQ_CFLAGS)
libcore_la_LIBADD += $(PQ_LIBS)
endif
