# client/: the latchkeyd protocol codec and the client side of lk_connect,
# and lk_connect_endpoint (the management API over HTTP, libcurl + json-c),
# compiled into the library. core/ sees only core/lk_remote.h.
libcore_la_SOURCES += \
	client/lk_proto.h \
	client/proto.c \
	client/client.c \
	client/endpoint.c
# libcurl's headers only: endpoint.c opens libcurl.so.4 at its first use, so
# the hosts that load liblatchkey (PAM services, brokers, web servers) never
# map libcurl and its TLS stack for a call only the admin tool makes.
libcore_la_CFLAGS += $(CURL_CFLAGS) $(JSONC_CFLAGS)
libcore_la_LIBADD += $(JSONC_LIBS)
