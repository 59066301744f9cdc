"""drbd_role: the drbdadm commands it runs for each wish and state, in the
order DRBD accepts them, the demotion retried while QEMU holds the device,
check mode and --diff. /proc/drbd and drbdadm's messages are captures of
the VM lab (module_utils/fixtures/drbd, README there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import drbd_role

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "drbd"
PRIMARY = (FIXTURES / "proc_drbd_connected_primary.txt").read_text()
SECONDARY = (FIXTURES / "proc_drbd_connected_secondary.txt").read_text()
BOTH = (FIXTURES / "proc_drbd_connected_two_primaries.txt").read_text()
HELD = (FIXTURES / "secondary_held_open.stderr").read_text()
ALLOW = ["net-options", "--allow-two-primaries=yes", "passata"]
FORBID = ["net-options", "--allow-two-primaries=no", "passata"]


@pytest.fixture
def drbd(run_module, tmp_path, monkeypatch):
    """drbd(args, proc, answers={}, after=None) -> (outcome, result, drbdadm
    argument lists). ``answers`` maps joined arguments to a list of (rc,
    stdout, stderr), one per call; /proc/drbd becomes ``after`` once a
    change ran."""
    proc = tmp_path / "drbd"
    monkeypatch.setattr(drbd_role, "PROC_DRBD", str(proc))
    monkeypatch.setattr(drbd_role.time, "sleep", lambda seconds: None)

    def runner(args, text, answers=None, after=None, check_mode=False, diff=False):
        proc.write_text(text)
        answers = dict((key, list(value)) for key, value in (answers or {}).items())
        calls = []

        def run(argv, data):
            tail = argv[1:]
            if tail == ["sh-minor", "passata"]:
                return 0, "1\n", ""
            calls.append(tail)
            if after is not None:
                proc.write_text(after)
            queue = answers.get(" ".join(tail))
            return queue.pop(0) if queue else (0, "", "")
        outcome, result = run_module(drbd_role.main, dict(args, name="passata"), run, "/usr/sbin/drbdadm",
                                     check_mode=check_mode, diff=diff)
        return outcome, result, calls
    return runner


def test_the_destination_allows_two_primaries_then_is_promoted(drbd):
    outcome, result, calls = drbd({"allow_two_primaries": True, "role": "primary"}, SECONDARY, after=BOTH)
    assert outcome == "exit" and result["changed"] is True
    assert calls == [ALLOW, ["primary", "passata"]]
    assert result["role"] == "Primary" and result["status"] == "Connected Primary/Primary UpToDate/UpToDate"


def test_the_source_only_allows_two_primaries(drbd):
    outcome, result, calls = drbd({"allow_two_primaries": True}, PRIMARY)
    assert calls == [ALLOW] and result["role"] == "Primary"


def test_the_copy_the_vm_left_is_demoted_before_one_primary_is_required(drbd):
    outcome, result, calls = drbd({"allow_two_primaries": False, "role": "secondary"}, BOTH, after=SECONDARY)
    assert calls == [["secondary", "passata"], FORBID] and result["role"] == "Secondary"


def test_a_role_already_right_is_left(drbd):
    outcome, result, calls = drbd({"role": "primary"}, PRIMARY)
    assert outcome == "exit" and result["changed"] is False and calls == []
    outcome, result, calls = drbd({"role": "secondary"}, SECONDARY)
    assert result["changed"] is False and calls == []


def test_a_demotion_waits_for_qemu_to_let_go(drbd):
    answers = {"secondary passata": [(11, "", HELD), (11, "", HELD), (0, "", "")]}
    outcome, result, calls = drbd({"role": "secondary"}, BOTH, answers, after=SECONDARY)
    assert outcome == "exit" and calls == [["secondary", "passata"]] * 3


def test_a_device_still_held_fails_with_drbds_answer_and_what_to_look_at(drbd, monkeypatch):
    clock = iter(range(0, 100, 4))
    monkeypatch.setattr(drbd_role.time, "monotonic", lambda: next(clock))
    answers = {"secondary passata": [(11, "", HELD)] * 10}
    outcome, result, calls = drbd({"role": "secondary", "demote_timeout": 10}, BOTH, answers)
    assert outcome == "fail" and len(calls) == 3
    assert "Device is held open by someone" in result["msg"] and "virsh list" in result["msg"]


def test_another_refusal_is_not_retried(drbd):
    refusal = (FIXTURES / "primary_not_uptodate.stderr").read_text()
    outcome, result, calls = drbd({"role": "secondary"}, BOTH, {"secondary passata": [(17, "", refusal)]})
    assert outcome == "fail" and calls == [["secondary", "passata"]]
    outcome, result, calls = drbd({"role": "primary"}, SECONDARY, {"primary passata": [(17, "", refusal)]})
    assert outcome == "fail" and "Need access to UpToDate data" in result["msg"]


def test_check_mode_runs_nothing_and_says_what(drbd):
    outcome, result, calls = drbd({"allow_two_primaries": True, "role": "primary"}, SECONDARY, check_mode=True, diff=True)
    assert outcome == "exit" and result["changed"] is True and calls == []
    assert result["commands"] == ["drbdadm net-options --allow-two-primaries=yes passata", "drbdadm primary passata"]
    assert result["diff"] == {"before": "passata: Connected Secondary/Primary UpToDate/UpToDate\n",
                              "after": "passata: role Primary, two primaries allowed\n"}


def test_a_resource_that_is_not_up_changes_nothing(drbd):
    outcome, result, calls = drbd({"role": "primary"}, (FIXTURES / "proc_drbd_loaded_no_resources.txt").read_text())
    assert outcome == "fail" and calls == []
    assert result["msg"].startswith("resource passata (minor 1) is not up on this host")


def test_nothing_asked_is_refused(drbd):
    outcome, result, calls = drbd({}, PRIMARY)
    assert outcome == "fail" and "one of the following is required: role, allow_two_primaries" in result["msg"]


def test_one_primary_cannot_be_required_while_both_are_primary(drbd):
    """Forbidding two primaries on the copy that stays primary before the
    other was demoted: DRBD refuses, and the module says so with DRBD's words
    (the reason migrate.yml demotes first)."""
    refusal = (FIXTURES / "net_options_forbid_two_primaries_both_primary.stderr").read_text()
    outcome, result, calls = drbd({"allow_two_primaries": False}, BOTH, {" ".join(FORBID): [(10, "", refusal)]})
    assert outcome == "fail" and calls == [FORBID]
    assert "Can not clear allow_two_primaries as long as\nthere a primaries on both sides" in result["msg"]
