# client/: the latchkeyd protocol codec and the client side of lk_connect,
# compiled into the library. core/ sees only core/lk_remote.h.
libcore_la_SOURCES += \
	client/lk_proto.h \
	client/proto.c \
	client/client.c
