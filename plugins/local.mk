# plugins/: thin adapters of latchkey.h for hosts. Every module links the
# installed library (liblatchkey.la exports only the lk_ API) and exports only
# the entry points its host looks up.

# The stable dlopen ABI: one exported function returning a versioned table.
include_HEADERS += plugins/latchkey-plugin.h
pkglib_LTLIBRARIES = latchkey_plugin.la
latchkey_plugin_la_SOURCES = plugins/plugin_abi.c plugins/latchkey-plugin.h
latchkey_plugin_la_CFLAGS = $(AM_CFLAGS)
latchkey_plugin_la_LIBADD = liblatchkey.la
latchkey_plugin_la_LDFLAGS = -module -avoid-version -shared -export-symbols-regex '^latchkey_plugin_api$$'

if HAVE_PAM
pammod_LTLIBRARIES = pam_latchkey.la
pam_latchkey_la_SOURCES = plugins/pam_latchkey.c plugins/ctx_pool.c plugins/ctx_pool.h
pam_latchkey_la_CFLAGS = $(AM_CFLAGS)
pam_latchkey_la_LIBADD = liblatchkey.la $(PAM_LIBS)
# -z nodelete: libpam dlcloses modules at pam_end; the ctx pool must survive it.
pam_latchkey_la_LDFLAGS = -module -avoid-version -shared -Wl,-z,nodelete -export-symbols-regex '^pam_sm_'
endif

if HAVE_MOSQUITTO
# Broker symbols (mosquitto_log_printf, ...) resolve against the mosquitto
# executable at load time: no -no-undefined, no -lmosquitto (client library).
pkglib_LTLIBRARIES += mosquitto_latchkey.la
mosquitto_latchkey_la_SOURCES = plugins/mosquitto_latchkey.c
mosquitto_latchkey_la_CFLAGS = $(AM_CFLAGS)
mosquitto_latchkey_la_LIBADD = liblatchkey.la
mosquitto_latchkey_la_LDFLAGS = -module -avoid-version -shared -export-symbols-regex '^mosquitto_plugin_(version|init|cleanup)$$'
endif

if HAVE_APACHE
# Apache and APR symbols resolve against the httpd binary at LoadModule
# time (as the Mosquitto plugin's do): no -no-undefined, no -lapr.
apachemod_LTLIBRARIES = mod_authn_latchkey.la
mod_authn_latchkey_la_SOURCES = plugins/mod_authn_latchkey.c plugins/ctx_pool.c plugins/ctx_pool.h
mod_authn_latchkey_la_CPPFLAGS = $(AM_CPPFLAGS) $(APACHE_CPPFLAGS)
# Apache's headers are C89/gnu: the module alone is built as gnu11.
mod_authn_latchkey_la_CFLAGS = $(AM_CFLAGS) -std=gnu11
mod_authn_latchkey_la_LIBADD = liblatchkey.la
mod_authn_latchkey_la_LDFLAGS = -module -avoid-version -shared -export-symbols-regex '^authn_latchkey_module$$'
endif
include plugins/nginx/local.mk
