# daemon/: latchkeyd, the local verification service. It links the installed
# library (the public lk_ API only) and compiles the protocol codec, which
# the library keeps hidden, itself.
sbin_PROGRAMS += latchkeyd
latchkeyd_SOURCES = \
	daemon/latchkeyd.h \
	daemon/main.c \
	daemon/server.c \
	daemon/ops.c \
	daemon/events.c \
	client/lk_proto.h \
	client/proto.c
latchkeyd_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
latchkeyd_LDADD = liblatchkey.la $(SODIUM_LIBS)

# The HTTP verify endpoint (daemon.http.listen) and the management API
# (daemon.manage.listen, manage.c; its request reading manage_req.c is pure,
# and answers are built with the admin tool's json.c), with libmicrohttpd. The
# request parsing (http_parse.c) is pure and also linked by its unit test
# and fuzz target; it matches addresses with core/ip.c, compiled in.
if HAVE_HTTP
latchkeyd_SOURCES += \
	daemon/http.h \
	daemon/http.c \
	daemon/http_parse.h \
	daemon/http_parse.c \
	daemon/seterr.c \
	daemon/mhd_common.h \
	daemon/mhd_common.c \
	daemon/manage.h \
	daemon/manage.c \
	daemon/manage_req.h \
	daemon/manage_req.c \
	daemon/console_session.h \
	daemon/console_session.c \
	tools/json.h \
	tools/json.c \
	tools/secret_in.h \
	tools/secret_in.c \
	core/lk_ip.h \
	core/ip.c
latchkeyd_CFLAGS += -DHAVE_HTTP $(MHD_CFLAGS) $(JSONC_CFLAGS)
latchkeyd_LDADD += $(MHD_LIBS) $(JSONC_LIBS)
endif
