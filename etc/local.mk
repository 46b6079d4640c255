# etc/: the example configuration.
# It is installed as latchkey.yaml.example, never as latchkey.yaml: a
# reinstall or upgrade must not overwrite the operator's own configuration.
# The copy under the .example name is made at build time so that automake's
# ordinary DATA rules handle install, uninstall and DESTDIR.
latchkeyconfdir = $(sysconfdir)/latchkey
latchkeyconf_DATA = etc/latchkey.yaml.example
EXTRA_DIST += etc/latchkey.yaml
CLEANFILES += etc/latchkey.yaml.example

etc/latchkey.yaml.example: $(top_srcdir)/etc/latchkey.yaml
	$(AM_V_GEN)$(MKDIR_P) etc && cp $(top_srcdir)/etc/latchkey.yaml $@
