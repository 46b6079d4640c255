# tests/unit: the core's own unit tests.
check_PROGRAMS += tests/unit/test_keyfmt tests/unit/test_rules
TESTS += tests/unit/test_keyfmt tests/unit/test_rules
tests_unit_test_keyfmt_SOURCES = tests/unit/test_keyfmt.c
tests_unit_test_keyfmt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_keyfmt_LDADD = $(UNIT_LIBS)
tests_unit_test_rules_SOURCES = tests/unit/test_rules.c
tests_unit_test_rules_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_rules_LDADD = $(UNIT_LIBS)
