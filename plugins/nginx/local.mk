# plugins/nginx/: ngx_http_auth_latchkey_module, built the way Debian builds
# out-of-tree modules against nginx-dev (dh-sequence-nginx's nginx_mod build
# system): nginx's configure from $(NGINX_SRC) with the packaged nginx's
# flags (conf_flags) and --add-dynamic-module, then `make modules`. The
# source tree is read-only to us: nginx's configure writes a Makefile into
# the directory it runs in, so it runs in a copy made of symlinks. nginx's
# cc is the system's (gcc, as the packaged nginx was built), whatever CC
# is: clang's -shared-libasan (tests/ci/sanitize.sh) is not passed on, and
# the module is not instrumented (nginx itself is not).
EXTRA_DIST += plugins/nginx/config plugins/nginx/ngx_http_auth_latchkey_module.c \
	plugins/nginx/ngx_http_auth_latchkey_module.map plugins/nginx/mod-http-auth-latchkey.conf

if HAVE_NGINX
NGX_LK_BUILD = plugins/nginx/build
NGX_LK_SO = $(NGX_LK_BUILD)/objs/ngx_http_auth_latchkey_module.so
NGX_LK_DEPS = $(srcdir)/plugins/nginx/ngx_http_auth_latchkey_module.c $(srcdir)/plugins/nginx/ngx_http_auth_latchkey_module.map \
	$(srcdir)/client/proto.c $(srcdir)/client/lk_proto.h $(srcdir)/daemon/http_parse.c $(srcdir)/daemon/http_parse.h \
	$(srcdir)/core/ip.c $(srcdir)/core/status.c $(srcdir)/core/text.c $(srcdir)/core/latchkey.h

all-local: $(NGX_LK_SO)

$(NGX_LK_BUILD)/objs/Makefile: $(srcdir)/plugins/nginx/config Makefile
	rm -rf $(NGX_LK_BUILD) && $(MKDIR_P) $(NGX_LK_BUILD)
	cp -rs $(NGINX_SRC) $(NGX_LK_BUILD)/src
	cd $(NGX_LK_BUILD)/src && bash -c '. ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
		--with-cc-opt="$$1" --with-ld-opt="$$2" --add-dynamic-module="$$3" --builddir="$$4"' nginx-configure \
		"$(CPPFLAGS) $(CFLAGS) -fPIC" "$(filter-out -shared-libasan,$(LDFLAGS)) -fPIC" \
		"$(abs_srcdir)/plugins/nginx" "$(abs_builddir)/$(NGX_LK_BUILD)/objs" \
		>$(abs_builddir)/$(NGX_LK_BUILD)/configure.log 2>&1 || { tail -n 20 $(abs_builddir)/$(NGX_LK_BUILD)/configure.log; exit 1; }

$(NGX_LK_SO): $(NGX_LK_BUILD)/objs/Makefile $(NGX_LK_DEPS)
	$(MAKE) -C $(NGX_LK_BUILD)/src -f $(abs_builddir)/$(NGX_LK_BUILD)/objs/Makefile modules

# Where Debian's nginx packages put a module and its load snippet.
nginxconfdir = $(datadir)/nginx/modules-available
install-exec-local: $(NGX_LK_SO)
	$(MKDIR_P) $(DESTDIR)$(nginxmoddir)
	$(INSTALL) -m 0644 $(NGX_LK_SO) $(DESTDIR)$(nginxmoddir)/ngx_http_auth_latchkey_module.so
install-data-local:
	$(MKDIR_P) $(DESTDIR)$(nginxconfdir)
	$(INSTALL_DATA) $(srcdir)/plugins/nginx/mod-http-auth-latchkey.conf $(DESTDIR)$(nginxconfdir)/
uninstall-local:
	rm -f $(DESTDIR)$(nginxmoddir)/ngx_http_auth_latchkey_module.so \
		$(DESTDIR)$(nginxconfdir)/mod-http-auth-latchkey.conf
clean-local:
	rm -rf $(NGX_LK_BUILD)
endif
