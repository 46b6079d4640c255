# tests/unit: the core's own unit tests.
check_PROGRAMS += tests/unit/test_keyfmt tests/unit/test_rules tests/unit/test_proto
TESTS += tests/unit/test_keyfmt tests/unit/test_rules tests/unit/test_proto
tests_unit_test_keyfmt_SOURCES = tests/unit/test_keyfmt.c
tests_unit_test_keyfmt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_keyfmt_LDADD = $(UNIT_LIBS)
tests_unit_test_rules_SOURCES = tests/unit/test_rules.c tests/unit/pg_empty.h
tests_unit_test_rules_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_rules_LDADD = $(UNIT_LIBS)
tests_unit_test_proto_SOURCES = tests/unit/test_proto.c
tests_unit_test_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_proto_LDADD = $(UNIT_LIBS)
# key lifecycle: expiry, rotation, reroll, revoke, scanner (test clock)
check_PROGRAMS += tests/unit/test_lifecycle
TESTS += tests/unit/test_lifecycle
tests_unit_test_lifecycle_SOURCES = tests/unit/test_lifecycle.c tests/unit/pg_empty.h
tests_unit_test_lifecycle_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_lifecycle_LDADD = $(UNIT_LIBS)
# the management plane's rules (issue 20): grants, lk_authorize's matrix, the audited caller
check_PROGRAMS += tests/unit/test_authz
TESTS += tests/unit/test_authz
tests_unit_test_authz_SOURCES = tests/unit/test_authz.c tests/unit/pg_empty.h
tests_unit_test_authz_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_authz_LDADD = $(UNIT_LIBS)
