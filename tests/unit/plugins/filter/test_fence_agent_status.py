"""The fence_agent_status filter on fence-agents' own output (fixtures/
fence_agent_status/README.md says how it was captured) and the labs'
agents' (tests/repo/test_lab_fence_podman.py and test_lab_qmp_gate.py run
them and see the same lines)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.fence_agent_status import FilterModule, fence_agent_status

FIXTURES = Path(__file__).parent / "fixtures" / "fence_agent_status"


def _capture(name):
    return {part: (FIXTURES / ("%s.%s" % (name, part))).read_text() for part in ("stdout", "stderr", "rc")}


@pytest.mark.parametrize("name,state,rc", [
    ("fence_dummy-on", "on", "0"),
    ("fence_dummy-off", "off", "2"),
    ("fence_dummy-plug-on", "on", "0"),
    ("fence_dummy-broken", "", "1"),
])
def test_fence_agents_status(name, state, rc):
    capture = _capture(name)
    assert capture["rc"].strip() == rc
    assert fence_agent_status(capture["stdout"]) == state


def test_the_failure_is_on_stderr_not_a_state():
    assert "Unable to obtain correct plug status" in _capture("fence_dummy-broken")["stderr"]
    assert fence_agent_status(_capture("fence_dummy-broken")["stderr"]) == ""


@pytest.mark.parametrize("text,state", [
    # What tools/lab/files/fence_podman and tools/vmlab/files/fence_qmp print.
    ("Status: ON\n", "on"),
    ("Status: OFF\n", "off"),
    ("Status: ON", "on"),
    ("Status: ON\r\n", "on"),
    # Anything else is no answer.
    ("", ""),
    (None, ""),
    ("Status: UNKNOWN\n", ""),
    ("Status: ONLINE\n", ""),
    ("Connection refused\n", ""),
    ("status: on\n", ""),
])
def test_only_a_status_line_is_an_answer(text, state):
    assert fence_agent_status(text) == state


def test_not_a_string():
    with pytest.raises(AnsibleFilterError, match="expected the agent's output"):
        fence_agent_status(["Status: ON"])


def test_registered():
    assert FilterModule().filters() == {"fence_agent_status": fence_agent_status}
