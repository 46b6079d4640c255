# console/: the key console (issue 21), static files latchkeyd serves at
# /console/ on daemon.manage.listen from daemon.manage.console_dir (default
# $(pkgdatadir)/console). No build step: HTML, CSS and ES modules as written.
consoledir = $(pkgdatadir)/console
dist_console_DATA = console/index.html
consolecssdir = $(consoledir)/css
dist_consolecss_DATA = console/css/console.css
consolejsdir = $(consoledir)/js
dist_consolejs_DATA = console/js/api.js console/js/ui.js console/js/app.js console/js/keys.js \
	console/js/users.js console/js/apikeys.js console/js/audit.js
