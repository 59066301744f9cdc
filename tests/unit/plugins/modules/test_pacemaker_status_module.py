"""pacemaker_status's module: what it runs, what it returns, how it fails
(crm_mon and cibadmin answered with output captured in the container lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import pacemaker_status

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_status"


def _answers(mon="crm_mon-healthy.xml", resources="resources-healthy.xml", mon_rc=0, mon_err="",
             nodes="nodes-no-utilization-pacemaker3.xml", crm_config="crm_config-pacemaker3.xml",
             rsc_defaults="rsc_defaults-pacemaker3.xml"):
    """crm_mon's and cibadmin's answers; rsc_defaults None answers as
    cibadmin does for a CIB without that section (captured)."""
    calls = []

    def run(argv, data):
        calls.append(argv)
        if argv[1] == "--one-shot":  # crm_mon
            return mon_rc, (FIXTURES / mon).read_text() if mon_rc == 0 else "", mon_err
        scope = argv[argv.index("--scope") + 1]
        if scope == "rsc_defaults" and rsc_defaults is None:
            return (int((FIXTURES / "rsc_defaults-none.rc").read_text()), "",
                    (FIXTURES / "rsc_defaults-none.stderr").read_text())
        name = {"resources": resources, "nodes": nodes, "crm_config": crm_config, "rsc_defaults": rsc_defaults}[scope]
        return 0, (FIXTURES / name).read_text(), ""
    return run, calls


def test_reads_both_and_changes_nothing(run_module):
    run, calls = _answers()
    outcome, result = run_module(pacemaker_status.main, {}, run, "/usr/sbin/x", check_mode=True)
    assert outcome == "exit" and result["changed"] is False and result["available"] is True
    assert calls == [["/usr/sbin/x", "--one-shot", "--output-as=xml"],
                     ["/usr/sbin/x", "--query", "--scope", "resources"],
                     ["/usr/sbin/x", "--query", "--scope", "nodes"],
                     ["/usr/sbin/x", "--query", "--scope", "crm_config"],
                     ["/usr/sbin/x", "--query", "--scope", "rsc_defaults"]]
    assert result["resources"]["vm-passata"]["nodes"] == ["servvirt1"]
    assert result["resource_defaults"] == {"resource-stickiness": "100", "migration-threshold": "3",
                                           "failure-timeout": "10min"}
    assert result["unwatched"] == {}
    # A cluster without placement settings: no capacity anywhere, pacemaker's default strategy.
    assert result["capacity"] == {"servdb": {}, "servvirt1": {}, "servvirt2": {}}
    assert result["placement_strategy"] == "default"


def test_a_cib_without_resource_defaults_reads_as_none(run_module):
    run, dummy = _answers(rsc_defaults=None)
    outcome, result = run_module(pacemaker_status.main, {}, run, "/usr/sbin/x", check_mode=True)
    assert outcome == "exit" and result["available"] is True
    assert result["resource_defaults"] == {}


def test_names_a_vm_left_by_a_killed_move(run_module):
    run, dummy = _answers("crm_mon-maintenance-unmanaged.xml", "resources-maintenance-unmanaged.xml")
    outcome, result = run_module(pacemaker_status.main, {"resources": ["vm-passata"]}, run, "/usr/sbin/x")
    assert outcome == "exit"
    assert result["unwatched"]["vm-passata"].startswith("a move servvirt1 -> servvirt2 was interrupted")
    assert result["unwatched"]["vm-speedauth"] == "unmanaged"


def test_a_resource_the_inventory_expects_but_the_cluster_lacks_fails(run_module):
    run, dummy = _answers()
    outcome, result = run_module(pacemaker_status.main, {"resources": ["vm-passata", "vm-soldi"]}, run, "/usr/sbin/x")
    assert outcome == "fail"
    assert "The cluster has no resource vm-soldi, which the inventory says it manages: run site.yml" in result["msg"]


@pytest.mark.parametrize("require,outcome_wanted", [(True, "fail"), (False, "exit")])
def test_a_cluster_that_does_not_answer(run_module, require, outcome_wanted):
    run, dummy = _answers(mon_rc=102, mon_err="crm_mon: Error: cluster is not available on this node\n")
    outcome, result = run_module(pacemaker_status.main, {"require_running": require}, run, "/usr/sbin/x")
    assert outcome == outcome_wanted and result["available"] is False
    assert "crm_mon answered rc 102: crm_mon: Error: cluster is not available on this node" in result["error"]


def test_not_installed(run_module):
    run, calls = _answers()
    outcome, result = run_module(pacemaker_status.main, {"require_running": False}, run, None)
    assert outcome == "exit" and result["available"] is False and calls == []
    assert "pacemaker is not installed" in result["error"]
