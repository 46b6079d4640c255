# tests/unit: configuration loading (libyaml) and IP/CIDR allowlists.
check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_ip
TESTS += tests/unit/test_ip
tests_unit_test_ip_SOURCES = tests/unit/test_ip.c
tests_unit_test_ip_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ip_LDADD = $(UNIT_LIBS)
