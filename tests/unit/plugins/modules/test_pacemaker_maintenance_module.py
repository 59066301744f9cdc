"""pacemaker_maintenance: the crm_resource commands it runs, in which
order, only what differs, in check mode and with --diff (cibadmin answered
with CIBs captured in the container lab: module_utils/fixtures/pacemaker_status)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import pacemaker_maintenance

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_status"
HEALTHY = "resources-healthy.xml"
# vm-passata marked servvirt1:servvirt2 and in maintenance (a killed move).
LEFT = "resources-maintenance-unmanaged.xml"
MARK = ["--resource", "vm-passata", "--meta", "--set-parameter", "havirt-move", "--parameter-value", "servvirt1:servvirt2"]
HOLD = ["--resource", "vm-passata", "--meta", "--set-parameter", "maintenance", "--parameter-value", "true"]
REFRESH = ["--refresh", "--resource", "vm-passata"]
WAIT = ["--wait", "--timeout", "60s"]
RELEASE = ["--resource", "vm-passata", "--meta", "--delete-parameter", "maintenance"]
UNMARK = ["--resource", "vm-passata", "--meta", "--delete-parameter", "havirt-move"]


def _cluster(cib, fail=None):
    """run_command answering cibadmin with ``cib``; crm_resource rc 0, or
    ``fail`` = (argv tail, rc, stderr)."""
    calls = []

    def run(argv, data):
        if argv[1:3] == ["--query", "--scope"]:
            return 0, (FIXTURES / cib).read_text(), ""
        calls.append(argv[1:])
        if fail and argv[1:] == fail[0]:
            return fail[1], "", fail[2]
        return 0, "", ""
    return run, calls


def _run(run_module, cib, args, check_mode=False, diff=False, fail=None):
    run, calls = _cluster(cib, fail)
    outcome, result = run_module(pacemaker_maintenance.main, args, run, "/usr/sbin/x", check_mode=check_mode, diff=diff)
    return outcome, result, calls


PRESENT = {"resources": ["vm-passata"], "mark": "servvirt1:servvirt2"}
ABSENT = {"resources": ["vm-passata"], "state": "absent"}


def test_marks_first_then_holds(run_module):
    outcome, result, calls = _run(run_module, HEALTHY, PRESENT)
    assert outcome == "exit" and result["changed"] is True
    assert calls == [MARK, HOLD]
    assert result["before"] == {"vm-passata": {"maintenance": False, "mark": ""}}


def test_present_again_changes_nothing(run_module):
    outcome, result, calls = _run(run_module, LEFT, PRESENT)
    assert outcome == "exit" and result["changed"] is False and calls == []


def test_a_different_move_is_marked_again(run_module):
    outcome, result, calls = _run(run_module, LEFT, dict(PRESENT, mark="servvirt2:servvirt1"))
    assert result["changed"] is True and calls == [MARK[:-1] + ["servvirt2:servvirt1"]]


def test_hands_back_refreshed_and_probed_then_unmarks_last(run_module):
    outcome, result, calls = _run(run_module, LEFT, ABSENT)
    assert outcome == "exit" and result["changed"] is True
    assert calls == [REFRESH, WAIT, RELEASE, UNMARK]


def test_a_disk_clone_is_refreshed_first_and_released_after_the_vm(run_module):
    args = dict(ABSENT, resources=["vm-passata", "havirt-storage"])
    outcome, result, calls = _run(run_module, LEFT, args)
    # havirt-storage is not in maintenance in the capture: refreshed, not released.
    assert calls == [["--refresh", "--resource", "havirt-storage"], REFRESH, WAIT, RELEASE, UNMARK]


def test_absent_again_changes_nothing(run_module):
    outcome, result, calls = _run(run_module, HEALTHY, ABSENT)
    assert outcome == "exit" and result["changed"] is False and calls == []


def test_check_mode_runs_nothing_and_says_what(run_module):
    outcome, result, calls = _run(run_module, LEFT, ABSENT, check_mode=True, diff=True)
    assert outcome == "exit" and result["changed"] is True and calls == []
    assert result["commands"][-1] == "crm_resource " + " ".join(UNMARK)
    assert result["diff"] == {"before": "vm-passata: maintenance on, move servvirt1:servvirt2\n",
                              "after": "vm-passata: maintenance off\n"}


def test_an_attribute_already_gone_is_not_a_failure(run_module):
    outcome, result, calls = _run(run_module, LEFT, ABSENT, fail=(UNMARK, 105, "not found"))
    assert outcome == "exit" and calls[-1] == UNMARK


def test_a_failed_step_names_the_command(run_module):
    outcome, result, calls = _run(run_module, HEALTHY, PRESENT, fail=(HOLD, 102, "Could not connect to the CIB"))
    assert outcome == "fail"
    assert result["msg"] == ("'crm_resource %s' failed (rc 102): Could not connect to the CIB" % " ".join(HOLD))


def test_a_resource_the_cluster_lacks_changes_nothing(run_module):
    outcome, result, calls = _run(run_module, HEALTHY, dict(PRESENT, resources=["vm-passata", "drbd-soldi-clone"]))
    assert outcome == "fail" and calls == []
    assert result["msg"] == "the cluster has no resource drbd-soldi-clone: run site.yml to create it. Nothing was changed."


@pytest.mark.parametrize("args,message", [
    ({"resources": ["vm-passata"]}, "state is present but all of the following are missing: mark"),
    ({"resources": [], "state": "absent"}, "resources is empty"),
])
def test_bad_arguments(run_module, args, message):
    outcome, result, calls = _run(run_module, HEALTHY, args)
    assert outcome == "fail" and message in result["msg"] and calls == []


def test_a_cluster_that_does_not_answer(run_module):
    def run(argv, data):
        return 102, "", "Could not connect to the CIB: Transport endpoint is not connected\n"
    outcome, result = run_module(pacemaker_maintenance.main, PRESENT, run, "/usr/sbin/x")
    assert outcome == "fail" and result["msg"].startswith("cibadmin --query answered rc 102: Could not connect")
