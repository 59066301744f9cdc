"""pacemaker_utilization's module: what it reads and runs, check mode,
idempotence and its refusals (cibadmin answered with output captured in
the container lab, module_utils/fixtures/pacemaker_status)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.havirt.cluster.plugins.modules import pacemaker_utilization

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_status"


def _answers(nodes="nodes-no-utilization-pacemaker3.xml", update_rc=0):
    calls = []

    def run(argv, data):
        calls.append(argv)
        if argv[1] == "--query":  # cibadmin
            return 0, (FIXTURES / nodes).read_text(), ""
        return update_rc, "", "crm_attribute: Error performing operation: No such device or address" if update_rc else ""
    return run, calls


ARGS = {"node": "servvirt1", "utilization": {"hv_memory": 2900, "host_memory": "2900", "cpu": 8}}


def test_sets_each_attribute_that_differs(run_module):
    run, calls = _answers()
    outcome, result = run_module(pacemaker_utilization.main, ARGS, run, "/usr/sbin/x", diff=True)
    assert outcome == "exit" and result["changed"] is True
    assert result["before"] == {} and result["after"] == {"cpu": 8, "host_memory": 2900, "hv_memory": 2900}
    assert result["updated"] == ["cpu", "host_memory", "hv_memory"]
    assert calls[0] == ["/usr/sbin/x", "--query", "--scope", "nodes"]
    assert calls[1:] == [["/usr/sbin/x", "--node", "servvirt1", "--utilization", "--name", name, "--update", value]
                         for name, value in (("cpu", "8"), ("host_memory", "2900"), ("hv_memory", "2900"))]
    assert result["diff"]["after"] == "cpu=8\nhost_memory=2900\nhv_memory=2900\n"


def test_check_mode_writes_nothing(run_module):
    run, calls = _answers()
    outcome, result = run_module(pacemaker_utilization.main, ARGS, run, "/usr/sbin/x", check_mode=True)
    assert outcome == "exit" and result["changed"] is True and len(calls) == 1


def test_an_unknown_node_or_a_bad_value_changes_nothing(run_module):
    run, calls = _answers()
    outcome, result = run_module(pacemaker_utilization.main, dict(ARGS, node="servvirt9"), run, "/usr/sbin/x")
    assert outcome == "fail" and len(calls) == 1
    assert result["msg"] == ("the cluster does not know a node servvirt9 (its nodes: servdb, servvirt1, servvirt2): is "
                             "it a member that has joined? (crm_mon -1). Nothing was changed.")
    outcome, result = run_module(pacemaker_utilization.main, dict(ARGS, utilization={"cpu": -1}), run, "/usr/sbin/x")
    assert outcome == "fail" and "utilization cpu=-1 for servvirt1 is not a whole number of 0 or more" in result["msg"]


def test_a_failed_update_says_which(run_module):
    run, dummy = _answers(update_rc=105)
    outcome, result = run_module(pacemaker_utilization.main, ARGS, run, "/usr/sbin/x")
    assert outcome == "fail"
    assert result["msg"].startswith("crm_attribute could not set servvirt1's utilization cpu=8 (rc 105)")


def test_not_installed(run_module):
    run, calls = _answers()
    outcome, result = run_module(pacemaker_utilization.main, ARGS, run, None)
    assert outcome == "fail" and "pacemaker-cli-utils" in result["msg"] and calls == []


def test_a_node_that_already_offers_it_is_left_alone(run_module):
    run, calls = _answers("nodes-utilization-pacemaker3.xml")
    args = {"node": "servvirt1", "utilization": {"hv_memory": 23081, "host_memory": 23081, "cpu": 8}}
    outcome, result = run_module(pacemaker_utilization.main, args, run, "/usr/sbin/x")
    assert outcome == "exit" and result["changed"] is False and result["updated"] == [] and len(calls) == 1
    outcome, result = run_module(pacemaker_utilization.main, dict(args, utilization={"hv_memory": 300}), run,
                                 "/usr/sbin/x")
    assert result["updated"] == ["hv_memory"] and result["after"]["cpu"] == 8
    assert calls[-1] == ["/usr/sbin/x", "--node", "servvirt1", "--utilization", "--name", "hv_memory", "--update", "300"]
