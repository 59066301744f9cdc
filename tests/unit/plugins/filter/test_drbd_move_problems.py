"""The drbd_move_problems filter on /proc/drbd captured in the VM lab
(module_utils/fixtures/drbd; the proc_drbd_connected_* pair is the two
hypervisors of the Debian 13 VM lab with passata's resource in sync,
before a migration)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.drbd_move_problems import drbd_move_problems

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "drbd"
RES = {"name": "passata", "minor": 1}


def _proc(name):
    return (FIXTURES / ("proc_drbd_%s.txt" % name)).read_text()


def test_connected_in_sync_primary_to_secondary_is_ready():
    texts = {"servvirt1": _proc("connected_primary"), "servvirt2": _proc("connected_secondary")}
    assert drbd_move_problems(texts, RES, "servvirt1", "servvirt2") == []


def test_the_wrong_way_round_is_refused_with_both_sides_named():
    texts = {"servvirt1": _proc("connected_primary"), "servvirt2": _proc("connected_secondary")}
    problems = drbd_move_problems(texts, RES, "servvirt2", "servvirt1")
    assert len(problems) == 1
    assert "on servvirt2 it is Connected Secondary/Primary UpToDate/UpToDate" in problems[0]
    assert "on servvirt1 Connected Primary/Secondary UpToDate/UpToDate" in problems[0]


@pytest.mark.parametrize("source_text", ["wfconnection_forced_primary", "standalone"])
def test_a_source_cut_from_its_peer_is_refused(source_text):
    texts = {"servvirt1": _proc(source_text), "servvirt2": _proc("connected_secondary")}
    problems = drbd_move_problems(texts, RES, "servvirt1", "servvirt2")
    assert problems and "Both copies must be UpToDate and connected" in problems[0]


def test_a_destination_without_the_module_or_the_resource_is_down():
    for text in ("", _proc("loaded_no_resources")):
        texts = {"servvirt1": _proc("connected_primary"), "servvirt2": text}
        problems = drbd_move_problems(texts, RES, "servvirt1", "servvirt2")
        assert problems and "on servvirt2 down" in problems[0], problems


def test_another_minor_is_not_this_resource():
    texts = {"servvirt1": _proc("connected_primary"), "servvirt2": _proc("connected_secondary")}
    assert drbd_move_problems(texts, {"name": "scratch", "minor": 2}, "servvirt1", "servvirt2")


def test_bad_input_is_an_error_that_says_what():
    with pytest.raises(AnsibleFilterError, match="servvirt1's /proc/drbd"):
        drbd_move_problems({"servvirt1": "garbage", "servvirt2": ""}, RES, "servvirt1", "servvirt2")
    with pytest.raises(AnsibleFilterError, match="name and a minor"):
        drbd_move_problems({}, {"name": "passata"}, "servvirt1", "servvirt2")
