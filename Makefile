# havirt.cluster: the lab, the demo and the tests.
#   make demo   install what is missing, bring the lab up, build the cluster
#   make test   lint, sanity, unit tests, the container lab on Debian 13 (but its slowest files) then 12, a Debian 13 controller (what CI runs)
#   make controller-check   the controller's checks on Debian 13 (Python 3.13, ansible-core 2.21) in a container
#   make controller-converge   site.yml from that Debian 13 controller against the lab of make demo: changed=0
#   make test-extended   the container lab's slowest files, the mixed-release and day-two (upgrade.yml) container labs, then the VM lab's scenario (real kernels: iSCSI,
#                        OCFS2, DRBD) on Debian 13, then on Debian 12 (make test-bookworm);
#                        run before closing an issue it covers, result in docs/testing.md
#   make test-bookworm   the VM lab's scenario on Debian 12 nodes only (part of test-extended)
#   make molecule-extended   the container lab's slowest files, left out of make test for CI's budget (part of test-extended)
#   make molecule-day2   the day-two container lab only: upgrade.yml across the cluster, replace.yml (part of test-extended)
#   make vmlab-image   build (or find cached) the VM lab's disk image only
#   make xenlab-test   the Xen lab's scenario: the VM lab's nodes with Xen hypervisors, VMs on OCFS2 (part of test-extended)
#   make xenlab-bookworm-test   the Xen lab on Debian 12 with Xen 4.17.5 (shadow paging): PV guests live-migrated (part of test-extended)
#   make xenlab-up     bring the Xen lab up (xenlab-down: tear it down; XENLAB_SUITE=bookworm for Debian 12); then ansible-playbook -i inventories/vmlab -i inventories/xenlab site.yml
#   make bench-migration   live migration measured against plain virsh (RUNS=10)
#   make bench-failover    hard crash of a hypervisor: VM MTTR, detection, fencing (FAILOVER_RUNS=5)
#   make bench-drbd        DRBD protocol C against the same disk without it, and resync time (VM lab, DRBD_RUNS=3)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
ACTIVATE := . $(VENV)/bin/activate &&
CACHE := .cache
export CONTAINERS_CONF := $(CURDIR)/tools/lab/files/containers.conf
export ANSIBLE_NOCOLOR ?= 1
export PY_COLORS ?= 0

.PHONY: help deps venv lab-up lab-down lab-clean converge show demo lint sanity unit molecule molecule-bookworm molecule-extended molecule-mixed molecule-day2 controller-check controller-converge test clean \
	vmlab-image vmlab-up vmlab-down vmlab-clean vmlab-test xenlab-up xenlab-down xenlab-test xenlab-bookworm-test test-extended test-bookworm bench-migration bench-failover bench-drbd

help:
	@sed -n 's/^#   //p' Makefile

deps:
	tools/install-deps

$(VENV)/.installed: requirements.txt | deps
	$(PYTHON) -m venv --clear $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

lab-up: venv
	$(ACTIVATE) ansible-playbook tools/lab/up.yml

lab-down: venv
	$(ACTIVATE) ansible-playbook tools/lab/down.yml

# Also drop the cached images and the lab's key.
lab-clean: lab-down
	podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/havirt-lab/' | xargs -r podman rmi
	rm -rf .lab

converge: venv
	$(ACTIVATE) ansible-playbook site.yml

show: venv
	$(ACTIVATE) ansible-playbook tools/lab/show.yml

demo: lab-up
	@start=$$(date +%s); $(ACTIVATE) ansible-playbook site.yml; \
	  echo "site.yml converged in $$(( $$(date +%s) - start ))s"
	$(MAKE) --no-print-directory show

lint: venv
	$(ACTIVATE) yamllint -s .
	$(ACTIVATE) ansible-lint
	$(ACTIVATE) antsibull-changelog lint

# ansible-test runs on the collection exactly as ansible-galaxy builds it.
sanity: venv
	$(ACTIVATE) tools/sanity

unit: venv
	$(ACTIVATE) python -m pytest -p no:cacheprovider tests/unit tests/repo

# `molecule test` of scenario $(1), its -vvv log and results afresh (the
# secrets check reads them), its time printed as "scenario $(1) ($(2))",
# then its converge timings.
define scenario
	mkdir -p $(CACHE)
	rm -rf $(CACHE)/ansible-$(1)-vvv.log $(CACHE)/ansible-$(1)-results
	@start=$$(date +%s); $(ACTIVATE) molecule test --scenario-name $(1) 2>&1 | tee $(CACHE)/molecule-$(1).log; \
	  echo "scenario $(1) ($(2)): $$(( $$(date +%s) - start ))s"
	$(ACTIVATE) python tools/timings.py $(CACHE)/molecule-$(1).log
endef

# molecule test: destroy, syntax, create, check, converge, idempotence,
# verify, destroy. The converge and idempotence times are printed last.
molecule: venv
	$(call scenario,default,container lab)

# The container lab on Debian 12 (bookworm), the older supported release:
# converge, idempotence and the core of the default scenario's tests.
molecule-bookworm: venv
	$(call scenario,bookworm,container lab on Debian 12)

# A mixed cluster, as a rolling upgrade from Debian 12 passes through
# (servvirt2 on Debian 12, the others on Debian 13): converge, idempotence,
# a live move from the old release to the new, the way back refused with
# the VM still running, a crash with the VMs restarted on the old release.
molecule-mixed: venv
	$(call scenario,mixed,container lab with Debian 12 and 13 nodes)

# The container lab's slowest files, which `make molecule` leaves out for
# CI's budget (tools/labkit/order.py CONTAINER_LAB_EXTENDED: site.yml from
# the built collection, a VM's removal and return, the container lab's
# runbooks), on a lab of their own. In test-extended.
molecule-extended: venv
	$(call scenario,extended,container lab: the slowest files)

# Day two on the container lab (Debian 13 nodes): upgrade.yml across the
# hypervisors under probes, a node that does not come back, the storage
# node's turn. In test-extended: too long for `make test`'s budget.
molecule-day2: venv
	$(call scenario,day2,container lab: rolling upgrade)

# The controller's checks (unit and repo tests, yamllint, ansible-lint,
# sanity) on a Debian 13 controller: Python 3.13 and the ansible-core that
# requirements.txt gives it (2.21), in a container of the lab's trixie image
# (built by the default scenario or `make lab-up`). `make test` runs the
# same checks on this machine's Python (Debian 12: ansible-core 2.19).
controller-check:
	tools/controller-check

# The same Debian 13 controller (ansible-core 2.21, Python 3.13) runs
# site.yml against the container lab that `make demo` built from this host's
# controller (Debian 12, ansible-core 2.19): every task reaches the nodes
# and nothing changes (the lab's key and CA lent read-only).
controller-converge:
	tools/controller-check --converge

# What CI runs (.ci/run): lint, the unit and repo tests, ansible-test
# sanity and the container lab (Debian 13, then the core on Debian 12),
# then the controller's checks on Debian 13. The VM lab (make test-extended) takes
# 35-40 minutes on 2 cores under nested TCG: with it CI measured 65+ min in
# a clean clone, too close to CI's 90 (a landed CI once took 1.4 times
# what a clean clone took here).
# The mixed-release scenario (5 min) left CI for test-extended when the
# clean clone's CI reached 80 min here (2026-12-03, see docs/testing.md),
# and the container lab's three slowest files (molecule-extended, about
# 15 min) when CI's own run took 79 min (4754 s, 2026-12-06).
test: venv
	$(MAKE) --no-print-directory lint unit sanity molecule molecule-bookworm controller-check

# The container lab's slowest files, the mixed-release container lab (a
# rolling upgrade's middle), the day-two container lab (upgrade.yml), then the VM
# lab's scenario (real kernels: iSCSI login, OCFS2, DRBD, fencing through
# QEMU), with its image built first (or found cached), on Debian 13 and
# then on Debian 12.
test-extended: venv
	$(MAKE) --no-print-directory molecule-extended
	$(MAKE) --no-print-directory molecule-mixed
	$(MAKE) --no-print-directory molecule-day2
	$(MAKE) --no-print-directory vmlab-image
	$(MAKE) --no-print-directory vmlab-test
	$(MAKE) --no-print-directory test-bookworm
	$(MAKE) --no-print-directory xenlab-test
	$(MAKE) --no-print-directory xenlab-bookworm-test

# The VM lab's scenario on Debian 12 (bookworm) nodes: the same tests on
# the older release's kernel (6.1), pacemaker 2.1, QEMU 7.2 and libvirt 9.0.
# Its image is built first, or found cached (a few minutes on the mirror).
test-bookworm: venv
	$(ACTIVATE) ansible-playbook -i inventories/vmlab tools/vmlab/image.yml -e havirt_vmlab_suite=bookworm
	$(call scenario,vmlab-bookworm,VM lab on Debian 12)

vmlab-image: venv
	$(ACTIVATE) ansible-playbook -i inventories/vmlab tools/vmlab/image.yml

# Benchmark (not part of `make test`): live migration of passata, havirt
# against plain virsh, idle and busy, RUNS migrations each (default 10).
# Prints a table and writes bench/results/migration.json.
RUNS ?= 10
bench-migration: lab-up
	$(ACTIVATE) ansible-playbook site.yml
	$(ACTIVATE) python tools/bench/migration.py --runs $(RUNS)

# Benchmark (not part of `make test`): hard crash of the busiest hypervisor,
# RUNS times (default 5): MTTR of its VMs, corosync's detection, fencing.
# Prints a table next to the sources' figures; writes bench/results/failover.json.
FAILOVER_RUNS ?= 5
bench-failover: lab-up
	$(ACTIVATE) ansible-playbook site.yml
	$(ACTIVATE) python tools/bench/failover.py --runs $(FAILOVER_RUNS)

# Benchmark (not part of `make test`), in the VM lab: DRBD's write latency
# and throughput against the same disk without DRBD, and a full resync.
# Prints a table and writes bench/results/drbd.json.
DRBD_RUNS ?= 3
bench-drbd: vmlab-up
	$(ACTIVATE) ansible-playbook -i inventories/vmlab site.yml
	$(ACTIVATE) HAVIRT_TEST_INVENTORY=$(CURDIR)/inventories/vmlab python tools/bench/drbd.py --runs $(DRBD_RUNS)

# The VM lab (full Debian VMs under QEMU): real kernels for iSCSI, OCFS2, DRBD.
vmlab-up: venv
	$(ACTIVATE) ansible-playbook -i inventories/vmlab tools/vmlab/up.yml

vmlab-down: venv
	$(ACTIVATE) ansible-playbook -i inventories/vmlab tools/vmlab/down.yml

vmlab-clean: vmlab-down
	rm -rf "$${XDG_CACHE_HOME:-$$HOME/.cache}/havirt-cluster/vmlab" .vmlab

vmlab-test: venv
	$(call scenario,vmlab,VM lab)

# The Xen lab: the VM lab's nodes (same addresses, same .vmlab state: one of
# the two labs at a time) with inventories/xenlab over inventories/vmlab.
XENLAB_INVENTORY := -i inventories/vmlab -i inventories/xenlab
XENLAB_SUITE ?= trixie
xenlab-up: venv
	$(ACTIVATE) ansible-playbook $(XENLAB_INVENTORY) tools/vmlab/up.yml -e havirt_vmlab_suite=$(XENLAB_SUITE)

xenlab-down: venv
	$(ACTIVATE) ansible-playbook $(XENLAB_INVENTORY) tools/vmlab/down.yml -e havirt_vmlab_suite=$(XENLAB_SUITE)

xenlab-test: venv
	$(call scenario,xenlab,Xen lab)

# The Xen lab on Debian 12, Xen pinned to 4.17.5 (inventories/xenlab):
# the Xen whose shadow paging lets PV guests move live.
xenlab-bookworm-test: venv
	$(call scenario,xenlab-bookworm,Xen lab on Debian 12)

clean:
	rm -rf $(CACHE) .ansible .pytest_cache
