# etc/: the example configuration.
# It is installed as latchkey.yaml.example, never as latchkey.yaml: a
# reinstall or upgrade must not overwrite the operator's own configuration.
# The copy under the .example name is made at build time so that automake's
# ordinary DATA rules handle install, uninstall and DESTDIR. The source names
# the store directory of a --prefix=/usr build (/var/lib/latchkey); the copy
# names this build's, the library's compiled-in default.
latchkeyconfdir = $(sysconfdir)/latchkey
latchkeyconf_DATA = etc/latchkey.yaml.example
EXTRA_DIST += etc/latchkey.yaml
CLEANFILES += etc/latchkey.yaml.example

etc/latchkey.yaml.example: $(top_srcdir)/etc/latchkey.yaml Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && \
	sed -e 's|/var/lib/latchkey|$(latchkeystatedir)|g' $(top_srcdir)/etc/latchkey.yaml >$@.tmp && mv -f $@.tmp $@

# Bash completion of the admin tool, installed where bash-completion looks
# (configure: --with-bash-completion-dir). bash-completion loads a file named
# after the command on first use.
bashcomp_DATA = etc/bash-completion/latchkey
EXTRA_DIST += etc/bash-completion/latchkey
# The systemd unit for latchkeyd, with the configured paths filled in.
systemdunitdir = @systemdunitdir@
systemdunit_DATA = etc/latchkeyd.service
EXTRA_DIST += etc/latchkeyd.service.in
CLEANFILES += etc/latchkeyd.service
# The unit keeps latchkeyd off the network; the drop-in for daemon.http.listen
# is installed as an example, to be copied to
# /etc/systemd/system/latchkeyd.service.d/ by whoever serves HTTP (a drop-in
# beside the unit would open the network to every installation).
systemdexdir = $(pkgdatadir)/examples/systemd
systemdex_DATA = etc/systemd/latchkeyd-http.conf
EXTRA_DIST += $(systemdex_DATA)

etc/latchkeyd.service: $(top_srcdir)/etc/latchkeyd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(top_srcdir)/etc/latchkeyd.service.in >$@

# Reverse proxies in front of latchkeyd's HTTP verify endpoint: copy-paste
# configurations (nginx's and Caddy's are the ones tests/plugins/nginx.sh and
# tests/plugins/caddy.sh run; Traefik's and Envoy's are untested), installed
# as examples, never where a proxy would load them by itself.
proxyexdir = $(pkgdatadir)/examples
nginxexdir = $(proxyexdir)/nginx
nginxex_DATA = etc/nginx/latchkey.conf etc/nginx/latchkey-module.conf
traefikexdir = $(proxyexdir)/traefik
traefikex_DATA = etc/traefik/latchkey.yml
caddyexdir = $(proxyexdir)/caddy
caddyex_DATA = etc/caddy/Caddyfile
envoyexdir = $(proxyexdir)/envoy
envoyex_DATA = etc/envoy/latchkey.yaml
EXTRA_DIST += $(nginxex_DATA) $(traefikex_DATA) $(caddyex_DATA) $(envoyex_DATA)

# latchkeyd without systemd: a sysvinit script (start-stop-daemon, as user
# latchkey), run by tests/daemon/operator.sh; an example, copied to
# /etc/init.d by whoever wants it.
initexdir = $(proxyexdir)/init.d
initex_DATA = etc/init.d/latchkeyd
EXTRA_DIST += $(initex_DATA)
