# Both targets create and reuse .venv in the repo root; python3 and pip are all they need.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,audio]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m zoo.demo

# Two workers, one test file each at a time; `slow` tests (the larger twins of tests that run
# here) only in test-slow.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow" tests

test-slow: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -m slow tests

lint: $(STAMP)
	$(VENV)/bin/ruff check zoo tests benchmarks

clean:
	rm -rf $(VENV) datasets/cache runs
