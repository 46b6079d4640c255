# backends/: one file per storage driver, each filling one lk_backend_ops.
libcore_la_SOURCES += \
	backends/registry.c \
	backends/lmdb.c \
	backends/flatfile.c
