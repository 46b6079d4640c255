# core/: the key model, rules, hashing, config, verify path.
# libcore.la holds every object (core + backends); tests link it directly to
# reach internal functions. liblatchkey.la is the installed library and
# exports only the lk_ API (-fvisibility=hidden + LK_EXPORT).
noinst_LTLIBRARIES += libcore.la
libcore_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(SODIUM_CFLAGS) $(LMDB_CFLAGS) $(YAML_CFLAGS)
libcore_la_LIBADD = $(SODIUM_LIBS) $(LMDB_LIBS) $(YAML_LIBS)
libcore_la_SOURCES = \
	core/latchkey.h core/lk_backend.h core/lk_error.h core/lk_config.h core/lk_ip.h \
	core/lk_internal.h core/lk_remote.h \
	core/status.c \
	core/config.c \
	core/ip.c \
	core/keyfmt.c \
	core/record.c \
	core/text.c \
	core/secret.c \
	core/cache.c \
	core/ctx.c \
	core/store_copy.c \
	core/import.c \
	core/users.c \
	core/logins.c \
	core/access_keys.c \
	core/apikeys.c \
	core/records.c \
	core/lifecycle.c \
	core/audit.c \
	core/authz.c \
	core/ratelimit.c

lib_LTLIBRARIES += liblatchkey.la
liblatchkey_la_SOURCES = core/version.c
liblatchkey_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
liblatchkey_la_LIBADD = libcore.la
liblatchkey_la_LDFLAGS = -version-info 0:0:0 -no-undefined
include_HEADERS += core/latchkey.h
