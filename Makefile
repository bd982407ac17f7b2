# Every target builds .venv on first use from constraints.txt (torch CPU 2.13.0 pinned).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where a local wheel directory exists (e.g. a CPU torch wheel), let pip look there too.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check $(FIND_LINKS) -c constraints.txt

.PHONY: venv test lint demo docs bench asv clean llvm blender povray

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e ".[all]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The POV-Ray tests fail (rather than skip) under make test when povray is missing.
test: lint llvm povray blender
	BLACKBOX_OPT_REQUIRE_POVRAY=1 $(BIN)/python -m pytest

# The quick experiments (about 10 minutes on 2 cores), the figures and the summary.
demo: $(STAMP) llvm povray blender
	$(BIN)/python -m bench demo --jobs 2

docs: $(STAMP) llvm povray blender
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# The papers' budgets: hours on a CPU; resumable (finished runs are skipped).
bench: $(STAMP) llvm povray blender
	$(BIN)/python -m bench demo --scale full --jobs 2

# The asv suite across the last ASV_COMMITS commits (each commit's wheel in asv's own
# environment under .asv/env), then the HTML report in .asv/html (asv preview serves it).
ASV_COMMITS ?= 3
ASV_BENCH ?= .
asv: $(STAMP)
	$(BIN)/asv machine --yes > /dev/null
	$(BIN)/asv run --skip-existing-successful -b '$(ASV_BENCH)' HEAD~$(ASV_COMMITS)..HEAD
	$(BIN)/asv publish

# Mitsuba's llvm_ad_rgb variant needs an LLVM >= 16 library; with an older one (mesa's
# libLLVM-15) Dr.Jit aborts on the first render, so the Mitsuba problems fall back to
# scalar_rgb without gradients. Install libllvm19 where we can (root with apt-get).
LLVM_GLOB := /usr/lib/*/libLLVM-1[6-9]*.so* /usr/lib/*/libLLVM-[2-9][0-9]*.so* /usr/lib/*/libLLVM.so.1[6-9]* /usr/lib/*/libLLVM.so.[2-9][0-9]* /usr/lib/llvm-1[6-9]/lib/libLLVM*.so*

llvm:
	@found=; for f in $(LLVM_GLOB); do [ -e "$$f" ] && found=$$f; done; \
	if [ -n "$$found" ]; then \
		echo "$$found found: Mitsuba's llvm_ad_rgb variant is usable."; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing libllvm19 for Mitsuba's llvm_ad_rgb variant..."; \
		apt-get install -y -q libllvm19 >/dev/null || \
			{ apt-get update -q >/dev/null && apt-get install -y -q libllvm19 >/dev/null; } || \
			echo "warning: could not install libllvm19; Mitsuba problems will use scalar_rgb (no AD)."; \
	else \
		echo "note: no LLVM >= 16 library found. The Mitsuba problems will render with"; \
		echo "  scalar_rgb (no gradients). For llvm_ad_rgb run: sudo apt-get install libllvm19"; \
		echo "  (or install LLVM >= 16 and set DRJIT_LIBLLVM_PATH to its libLLVM)."; \
	fi

# The povray-spheres problem and its tests run POV-Ray 3.7 (Debian's povray package).
# Install it where we can (root with apt-get); elsewhere say how.
povray:
	@if command -v povray >/dev/null 2>&1; then \
		echo "$$(command -v povray) found: the POV-Ray problem is usable."; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing POV-Ray 3.7 (povray) for the povray-spheres problem..."; \
		apt-get install -y -q povray >/dev/null || \
			{ apt-get update -q >/dev/null && apt-get install -y -q povray >/dev/null; } || \
			echo "warning: could not install povray; the POV-Ray problem and its tests need it."; \
	else \
		echo "note: povray is not on PATH. The povray-spheres problem (and make test) need"; \
		echo "  POV-Ray 3.7: sudo apt-get install povray (Debian, Ubuntu), or your system's"; \
		echo "  package of POV-Ray 3.7 with its povray command on PATH."; \
	fi

clean:
	rm -rf $(VENV) $(BLENDER_VENV) docs/_build docs/auto_examples docs/api/generated results .pytest_cache

# Blender for the Blender problems, in an environment of its own: the bpy wheel
# (Blender as a Python module) needs Python 3.11 and numpy<2, while the library's
# environment keeps numpy 2. The library never imports bpy; it runs Blender in processes
# of its own, so the two environments never meet. BLACKBOX_OPT_BLENDER tells it where.
BLENDER_VENV := .venv-blender
BPY := bpy==5.0.1
BLENDER_STAMP := $(BLENDER_VENV)/.installed-$(BPY)
PYTHON311 ?= python3.11
export BLACKBOX_OPT_BLENDER ?= $(CURDIR)/$(BLENDER_VENV)/bin/python

blender: $(BLENDER_STAMP)

$(BLENDER_STAMP):
	@command -v $(PYTHON311) >/dev/null || { echo "make blender needs $(PYTHON311) (bpy $(BPY) is built for Python 3.11)"; exit 1; }
	$(PYTHON311) -m venv $(BLENDER_VENV)
	$(BLENDER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "$(BPY)" "numpy<2"
	$(BLENDER_VENV)/bin/python -c "import bpy; print('Blender', bpy.app.version_string, 'in $(BLENDER_VENV)')"
	touch $(BLENDER_STAMP)
