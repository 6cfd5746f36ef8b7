# celery-fleet: the commands an operator and a developer need.
.PHONY: help venv platform test lab lab-down lint docs bench

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv:  ## Install the pinned tool chain into .venv
	scripts/venv.sh

platform: venv  ## Start Docker and build the test images
	scripts/platform.sh

lint: venv  ## yamllint, ansible-lint, ruff
	. .venv/bin/activate && yamllint --strict . && ansible-lint --profile production && ruff check . && ruff format --check .

docs: venv  ## Write each role README's variable table from its meta/argument_specs.yml
	. .venv/bin/activate && scripts/role_docs.py

test:  ## The whole test suite, with a summary (sets up everything itself)
	scripts/test.sh

lab:  ## A hub and two workers in local containers, converged by site.yml
	scripts/lab.sh up

lab-down:  ## Remove everything `make lab` made
	scripts/lab.sh down

bench: venv  ## The benchmark on local containers (~25 min; not part of `make test`)
	bench/run.sh
