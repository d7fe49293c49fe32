# Beacon: VS Code in the browser behind Traefik, deployed with Ansible.
# `make up` deploys the whole stack on this machine; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)
INVENTORY   ?= inventory/local
PLAYBOOK    := $(BIN)/ansible-playbook -i $(INVENTORY)
PURGE       ?= 0
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help deps up down test lint unit molecule bench

help: ## Show the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }
	@test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

deps: $(STAMP) ## Create .venv with the pinned Python tools.

up: deps ## Deploy the whole stack on this machine (local inventory).
	$(PLAYBOOK) playbooks/deploy.yml

down: deps ## Remove the stack; PURGE=1 also removes its named volumes.
	$(PLAYBOOK) playbooks/down.yml -e purge=$(PURGE)

lint: deps ## Ruff and ansible-lint (production profile).
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --profile production

unit: deps ## Unit tests of the pure helpers (no Docker).
	$(BIN)/pytest -q tests/unit; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

molecule: deps ## molecule test: deploy, idempotence, verify against the real stack.
	$(BIN)/molecule test

test: lint unit molecule ## Everything CI runs.

bench: up ## Provisioning benchmarks against the deployed stack; results go to the README.
	$(PY) tests/bench/bench_provisioning.py $(BENCH_ARGS)
	$(PY) tests/bench/bench_code_server.py
