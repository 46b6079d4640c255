# tests/unit: the storage backends, through their vtable.
# (UNIT_LIBS: the link line defined in tests/local.mk.)
check_PROGRAMS += tests/unit/test_backend
TESTS += tests/unit/test_backend
tests_unit_test_backend_SOURCES = tests/unit/test_backend.c
# -I backends: the flat store's parser (flatfile_parse.h) is tested directly.
tests_unit_test_backend_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/backends
tests_unit_test_backend_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_backend_LDADD = $(UNIT_LIBS)
