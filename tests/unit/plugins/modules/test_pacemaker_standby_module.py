"""pacemaker_standby: the commands it runs, only what differs, in check
mode and with --diff (crm_mon answered with outputs captured in the
container lab: module_utils/fixtures/pacemaker_status)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import pacemaker_standby

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_status"
HEALTHY = "crm_mon-healthy-pacemaker3.xml"
# servvirt2 in standby (crm_attribute --node servvirt2 --name standby --update on), its VMs gone.
STANDBY = "crm_mon-standby-pacemaker3.xml"
SET = ["--node", "servvirt2", "--name", "standby", "--update", "on"]
DELETE = ["--node", "servvirt2", "--name", "standby", "--delete"]
WAIT = ["--wait", "--timeout", "120s"]


def _cluster(crm_mon, fail=None):
    """run_command answering crm_mon with a capture; the others rc 0, or
    ``fail`` = (argv tail, rc, stderr)."""
    calls = []

    def run(argv, data):
        if argv[1:] == ["--one-shot", "--output-as=xml"]:
            if fail and fail[0] == "crm_mon":
                return fail[1], "", fail[2]
            return 0, (FIXTURES / crm_mon).read_text(), ""
        calls.append(argv[1:])
        if fail and argv[1:] == fail[0]:
            return fail[1], "", fail[2]
        return 0, "", ""
    return run, calls


def _run(run_module, crm_mon, args, check_mode=False, diff=False, fail=None):
    run, calls = _cluster(crm_mon, fail)
    outcome, result = run_module(pacemaker_standby.main, args, run, "/usr/sbin/x", check_mode=check_mode, diff=diff)
    return outcome, result, calls


def test_the_capture_has_the_node_in_standby():
    from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import parse_crm_mon
    nodes = parse_crm_mon((FIXTURES / STANDBY).read_text())["nodes"]
    assert nodes["servvirt2"]["standby"] and not nodes["servvirt1"]["standby"]


def test_puts_the_node_in_standby_and_waits(run_module):
    outcome, result, calls = _run(run_module, HEALTHY, {"node": "servvirt2"})
    assert outcome == "exit" and result["changed"] is True and result["before"] is False
    assert calls == [SET, WAIT]
    assert result["commands"] == ["crm_attribute " + " ".join(SET), "crm_resource " + " ".join(WAIT)]


def test_in_standby_already_changes_nothing(run_module):
    outcome, result, calls = _run(run_module, STANDBY, {"node": "servvirt2"})
    assert outcome == "exit" and result["changed"] is False and calls == []


def test_takes_it_out(run_module):
    outcome, result, calls = _run(run_module, STANDBY, {"node": "servvirt2", "state": "absent", "wait": 0})
    assert outcome == "exit" and result["changed"] is True and calls == [DELETE]
    outcome, result, calls = _run(run_module, HEALTHY, {"node": "servvirt2", "state": "absent"})
    assert result["changed"] is False and calls == []


def test_check_mode_says_what_it_would_do_and_does_nothing(run_module):
    outcome, result, calls = _run(run_module, HEALTHY, {"node": "servvirt2"}, check_mode=True, diff=True)
    assert outcome == "exit" and result["changed"] is True and calls == []
    assert result["diff"] == {"before": "servvirt2: standby off\n", "after": "servvirt2: standby on\n"}


def test_an_unknown_node_is_refused(run_module):
    outcome, result, calls = _run(run_module, HEALTHY, {"node": "servvirt9"})
    assert outcome == "fail" and calls == []
    assert result["msg"] == ("the cluster has no node servvirt9 (its nodes: servdb, servvirt1, servvirt2). Nothing was "
                             "changed.")


@pytest.mark.parametrize("fail,expected", [
    (("crm_mon", 102, "crm_mon: Connection to cluster failed: Transport endpoint is not connected"),
     "crm_mon answered rc 102: crm_mon: Connection to cluster failed"),
    ((SET, 76, "crm_attribute: Error performing operation: Protocol not supported"),
     "'crm_attribute --node servvirt2 --name standby --update on' failed (rc 76): crm_attribute: Error performing"),
])
def test_a_failing_tool_is_reported(run_module, fail, expected):
    outcome, result, calls = _run(run_module, HEALTHY, {"node": "servvirt2"}, fail=fail)
    assert outcome == "fail" and result["msg"].startswith(expected), result["msg"]
