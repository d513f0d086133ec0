# The two set-up commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# What the box itself needs from Debian, so `make venv` and `make demo` install them too:
# libusb-1.0-0: pyusb's USB printers (the example configuration's kind = "usb");
# fonts-dejavu-core: the Cyrillic font receipt images are drawn with.
RUNTIME_PACKAGES := libusb-1.0-0 fonts-dejavu-core
# The tests' peers besides: an MQTT broker, pty pairs, network namespaces.
DEBIAN_PACKAGES := $(RUNTIME_PACKAGES) mosquitto socat iproute2

.PHONY: venv demo test lint typecheck unit faults runtime-packages debian-packages js-deps bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: runtime-packages $(VENV)/.installed

# Installs only what is missing, so a prepared machine does not touch apt at all.
define apt_install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

runtime-packages:
	$(call apt_install_missing,$(RUNTIME_PACKAGES))

debian-packages:
	$(call apt_install_missing,$(DEBIAN_PACKAGES))

# The Node.js peer (jkurwa, gost89) that the DSTU 4145 tests cross-verify against. Node.js comes from
# Debian when the machine has none; the tests skip the cross-checks (saying why) without it.
js-deps:
	@if [ -f tests/js/package.json ]; then \
	  if ! command -v npm >/dev/null 2>&1; then \
	    echo "installing Debian packages: nodejs npm"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
	  fi; \
	  cd tests/js && npm install --no-audit --no-fund --loglevel=error >/dev/null; \
	fi

lint: venv
	$(VENV)/bin/ruff check agent drivers tests bench

typecheck: venv
	$(VENV)/bin/mypy

# `unit` runs the fault suite (tests/faults) in its short form: every crash point once, every odd reply.
# The rest runs on every core (pytest-xdist): each test starts its own services on free ports, so they
# share nothing; the fault suite runs alone after it, as its summary adds up one process's counts.
unit: venv
	$(VENV)/bin/pytest -q -n auto --ignore=tests/faults
	$(VENV)/bin/pytest -q tests/faults

# The heavy forms alone (about 9 minutes): the whole fault sweep, every crash point at every document
# kind it meets, the till API's two fuzzers at three times the examples `make test` gives them, and 1000
# bodies from Checkbox's own request schemas (about 2 minutes; make test sends 150).
faults: venv
	FISCAL_BOX_SWEEP=full $(VENV)/bin/pytest -q tests/faults
	FISCAL_BOX_FUZZ_EXAMPLES=300 FISCAL_BOX_FUZZ_BODIES=3000 $(VENV)/bin/pytest -q tests/test_api_fuzz.py tests/test_till_api_bounds.py
	FISCAL_BOX_CHECKBOX_BODIES=1000 $(VENV)/bin/pytest -q tests/test_checkbox_bodies.py

test: debian-packages js-deps lint typecheck unit

demo: venv
	$(VENV)/bin/fiscal-box demo

bench: venv
	$(PY) bench/online_receipt.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
