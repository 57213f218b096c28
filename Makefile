# geomap: two commands on a fresh machine.
#   make demo   set everything up and run the demo on http://127.0.0.1:5000/
#               (an instance with data is kept unless you say so: DEMO_ARGS=--fresh rebuilds)
#   make test   set everything up and run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup setup-test assets translations messages lint bench clean

demo: setup
	$(VENV)/bin/geomap demo $(DEMO_ARGS)

# The whole suite also runs on PostgreSQL + PostGIS (a throw-away cluster, tests/pg.py): every
# test instance gets its own database there; tests about SQLite itself are skipped with their
# reason, tests/test_multi_serve.py runs three servers on one database. Browser tests stay on
# SQLite (time), but for PG_BROWSER_TESTS below. PG_TESTS= (empty) skips the PostgreSQL passes;
# PG_TESTS=tests/test_x.py narrows it.
PG_TESTS ?= tests/
# Browser tests on PostgreSQL too, after the SQLite browser pass (the shorter one): the map, the
# crawl of every page in both languages at phone size, and an import through the page.
PG_BROWSER_TESTS ?= tests/test_browser.py tests/test_browser_crawl.py tests/test_browser_import.py

# The PostgreSQL pass runs beside the SQLite one, and the SQLite pass's browser tests beside
# its other tests: the suite waits on browsers, servers and the database more than it
# computes (one pass after the other used 78 % of one core of two), so passes at once take
# little longer than the longest. Their output follows the SQLite pass's; `make test` fails if
# any fails. PYTEST_ARGS (a narrower run) keeps the SQLite tests in one pass.
test: setup-test
	$(VENV)/bin/ruff check .
	@set -u; pg_log=$$(mktemp); br_log=$$(mktemp); pg_pid=; br_pid=; pg_rc=0; br_rc=0; \
	if [ -n "$(strip $(PG_TESTS))" ]; then \
	  GEOMAP_TEST_BACKEND=postgis $(PY) -m pytest -q -m "not browser" -p no:cacheprovider \
	    --basetemp="$$(mktemp -d)" $(PG_TESTS) >"$$pg_log" 2>&1 & pg_pid=$$!; fi; \
	if [ -z "$(strip $(PYTEST_ARGS))" ]; then \
	  { $(PY) -m pytest -q -m browser -p no:cacheprovider --basetemp="$$(mktemp -d)" tests/; \
	    b1=$$?; b2=0; if [ -n "$(strip $(PG_TESTS))" ] && [ -n "$(strip $(PG_BROWSER_TESTS))" ]; \
	    then echo "--- browser tests on PostgreSQL + PostGIS: $(PG_BROWSER_TESTS)"; \
	      GEOMAP_TEST_BACKEND=postgis $(PY) -m pytest -q -p no:cacheprovider \
	        --basetemp="$$(mktemp -d)" $(PG_BROWSER_TESTS); b2=$$?; fi; \
	    [ $$b1 -eq 0 ] && [ $$b2 -eq 0 ]; } >"$$br_log" 2>&1 & br_pid=$$!; \
	  $(PY) -m pytest -m "not browser"; rc=$$?; \
	else $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; fi; \
	if [ -n "$$br_pid" ]; then wait $$br_pid; br_rc=$$?; \
	  echo "=== the browser tests, in Debian Chromium (exit $$br_rc) ==="; \
	  cat "$$br_log"; fi; \
	if [ -n "$$pg_pid" ]; then wait $$pg_pid; pg_rc=$$?; \
	  echo "=== the same suite on PostgreSQL + PostGIS (browser tests aside; exit $$pg_rc) ==="; \
	  cat "$$pg_log"; fi; \
	rm -f "$$pg_log" "$$br_log"; [ $$rc -eq 0 ] && [ $$br_rc -eq 0 ] && [ $$pg_rc -eq 0 ]

setup: $(STAMP) assets translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

assets: geomap/web/static/vendor/.stamp
geomap/web/static/vendor/.stamp: package.json package-lock.json scripts/vendor_assets.py
	npm ci --no-audit --no-fund --loglevel=error
	$(PYTHON) scripts/vendor_assets.py
	touch $@

translations: $(STAMP)
	$(VENV)/bin/pybabel compile -d geomap/web/translations >/dev/null

# after changing user-facing strings: refresh the catalogue, then translate messages.po
messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -o geomap/web/translations/messages.pot .
	$(VENV)/bin/pybabel update --ignore-obsolete --no-fuzzy-matching -i geomap/web/translations/messages.pot -d geomap/web/translations

# Browser tests need Debian's Chromium (Playwright's own browser download does not work offline).
setup-test: setup
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }
	@{ [ -x /usr/lib/postgresql/15/bin/initdb ] && [ -f /usr/share/postgresql/15/extension/postgis.control ]; } || { \
	  echo "installing Debian PostgreSQL 15 + PostGIS 3 for the PostgreSQL backend tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql-15 postgresql-15-postgis-3 >/dev/null; }
	@command -v ogrinfo >/dev/null 2>&1 || { \
	  echo "installing Debian gdal-bin (ogrinfo reads the KML export and the OGC API in the tests)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gdal-bin >/dev/null; }

lint: setup
	$(VENV)/bin/ruff check .

bench: setup-test
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/intake.py
	$(PY) bench/linking.py
	$(PY) bench/linking_accuracy.py
	$(PY) bench/tiles.py

clean:
	rm -rf $(VENV) node_modules geomap/web/static/vendor instance
