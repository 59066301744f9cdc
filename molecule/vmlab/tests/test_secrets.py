"""No secret of the inventory in anything Ansible wrote at -vvv during this
scenario's playbooks (create, converge): its log and each node's results
with their module arguments (molecule.yml; tools/labkit/secrets.py). The
playbooks the tests run themselves use clean_env(), without the scenario's
ANSIBLE_* settings, and write to neither."""

from __future__ import annotations

import os

from labkit import secrets

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "vmlab")


def test_the_log_is_the_scenarios_runs_at_vvv(inv):
    secrets.check_log_is_the_runs_at_vvv(inv, SCENARIO)


def test_each_nodes_results_are_logged_with_their_arguments(inv):
    secrets.check_results_are_logged_with_their_arguments(inv, SCENARIO)


def test_no_secret_of_the_inventory_in_the_logs():
    secrets.check_no_secret_in_the_logs(SCENARIO)
