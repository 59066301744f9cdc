"""The drbd_summary filter on /proc/drbd captured in the VM lab."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.drbd_summary import drbd_summary

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "drbd"
RESOURCES = [{"name": "r0", "minor": 1}, {"name": "other", "minor": 2}]


def test_each_resource_in_one_line():
    text = (FIXTURES / "proc_drbd_wfconnection_inconsistent.txt").read_text()
    assert drbd_summary(text, RESOURCES) == ["r0: WFConnection Secondary/Unknown Inconsistent/DUnknown", "other: down"]


def test_without_the_module():
    assert drbd_summary("", RESOURCES) == ["no drbd module"]


def test_not_proc_drbd_is_an_error():
    with pytest.raises(AnsibleFilterError):
        drbd_summary("garbage", RESOURCES)


def test_a_recorded_split_brain_is_said_with_what_to_do():
    standalone = (FIXTURES / "proc_drbd_standalone.txt").read_text()
    line = drbd_summary(standalone, RESOURCES, split_brain=["r0"])[0]
    assert line.startswith("r0: StandAlone ")
    assert line.endswith(", SPLIT BRAIN recorded: not replicating, recover by hand "
                         "(docs/runbooks/drbd-split-brain.md)")
    connected = (FIXTURES / "proc_drbd_wfconnection_inconsistent.txt").read_text()
    assert "connected again; remove the record once checked" in drbd_summary(connected, RESOURCES, ["r0"])[0]
    assert "SPLIT BRAIN" not in drbd_summary(standalone, RESOURCES)[0]
