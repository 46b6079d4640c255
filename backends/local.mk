# backends/: one file per storage driver, each filling one lk_backend_ops.
# flatfile_parse.h exposes the flat store's parser to tests and fuzzers.
libcore_la_SOURCES += \
	backends/registry.c \
	backends/lmdb.c \
	backends/flatfile.c \
	backends/flatfile_parse.h \
	backends/store_file.c \
	backends/store_file.h
