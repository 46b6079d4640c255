# tests/pg: the PostgreSQL backend on a private cluster (tests/pg/lib.sh);
# each script skips (77) where PostgreSQL or the backend is absent.
PG_TESTS = tests/pg/e2e.sh tests/pg/manage.sh tests/pg/unit.sh tests/pg/store.sh
TESTS += $(PG_TESTS)
EXTRA_DIST += $(PG_TESTS) tests/pg/lib.sh
# outage: one process through a server restart (driven by store.sh)
check_PROGRAMS += tests/pg/outage
tests_pg_outage_SOURCES = tests/pg/outage.c
tests_pg_outage_CFLAGS = $(AM_CFLAGS)
tests_pg_outage_LDADD = liblatchkey.la
# fleet: two "machines" on one store (fleet.sh drives this long-lived verifier)
PG_FLEET = tests/pg/fleet.sh tests/pg/hostile.sh
TESTS += $(PG_FLEET)
EXTRA_DIST += $(PG_FLEET) tests/pg/verifier.sh
check_PROGRAMS += tests/pg/fleet
tests_pg_fleet_SOURCES = tests/pg/fleet.c
tests_pg_fleet_CFLAGS = $(AM_CFLAGS)
tests_pg_fleet_LDADD = liblatchkey.la
