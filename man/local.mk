# man/: the manual pages. The sources are mdoc (man/*.in), written by hand and
# readable as they are; the build only fills in the configured paths, so a
# page shows where this build installs and looks for things.
# tests/docs/man.sh lints them (mandoc -T lint, groff -ww) and checks them
# against the tool's --help and the config parser.
MAN_PAGES = man/latchkey.1 man/latchkey.yaml.5 man/latchkeyd.8 man/pam_latchkey.8 man/mosquitto_latchkey.8 \
	man/mod_authn_latchkey.8
MAN_IN = man/latchkey.1.in man/latchkey.yaml.5.in man/latchkeyd.8.in man/pam_latchkey.8.in man/mosquitto_latchkey.8.in \
	man/mod_authn_latchkey.8.in
# All of them are built (and tested); only the pages of what is built are installed.
noinst_DATA = $(MAN_PAGES)
# latchkeyd(8) goes with the daemon, which daemon/local.mk always builds: should
# it become optional, install this page under the same conditional.
man_MANS = man/latchkey.1 man/latchkey.yaml.5 man/latchkeyd.8
if HAVE_PAM
man_MANS += man/pam_latchkey.8
endif
if HAVE_MOSQUITTO
man_MANS += man/mosquitto_latchkey.8
endif
if HAVE_APACHE
man_MANS += man/mod_authn_latchkey.8
endif
EXTRA_DIST += $(MAN_IN)
CLEANFILES += $(MAN_PAGES)

man_subst = $(SED) -e 's|@sysconfdir[@]|$(sysconfdir)|g' -e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@pkglibdir[@]|$(pkglibdir)|g' -e 's|@pammoddir[@]|$(pammoddir)|g' \
	-e 's|@sbindir[@]|$(sbindir)|g' -e 's|@systemdunitdir[@]|$(systemdunitdir)|g' \
	-e 's|@apachemoddir[@]|$(apachemoddir)|g' -e 's|@pkgdatadir[@]|$(pkgdatadir)|g'

man/latchkey.1: $(srcdir)/man/latchkey.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_subst) $(srcdir)/man/latchkey.1.in >$@.tmp && mv $@.tmp $@
man/latchkey.yaml.5: $(srcdir)/man/latchkey.yaml.5.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_subst) $(srcdir)/man/latchkey.yaml.5.in >$@.tmp && mv $@.tmp $@
man/latchkeyd.8: $(srcdir)/man/latchkeyd.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_subst) $(srcdir)/man/latchkeyd.8.in >$@.tmp && mv $@.tmp $@
man/pam_latchkey.8: $(srcdir)/man/pam_latchkey.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_subst) $(srcdir)/man/pam_latchkey.8.in >$@.tmp && mv $@.tmp $@
man/mosquitto_latchkey.8: $(srcdir)/man/mosquitto_latchkey.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_subst) $(srcdir)/man/mosquitto_latchkey.8.in >$@.tmp && mv $@.tmp $@
man/mod_authn_latchkey.8: $(srcdir)/man/mod_authn_latchkey.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_subst) $(srcdir)/man/mod_authn_latchkey.8.in >$@.tmp && mv $@.tmp $@
