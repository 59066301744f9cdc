# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The power state a fence agent's status action reports."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: fence_agent_status
short_description: The power state a fence agent's C(status) action printed
version_added: 0.1.0
description:
  - >-
    Reads the standard output of a fence agent run with C(action=status) and returns the power
    state it reported: C(on) or C(off), from the line C(Status: ON) or C(Status: OFF) that the
    fence-agents library (C(fencing.py)) and the labs' agents print; an empty string when no such
    line is there (the agent failed, could not reach the device, or is not a fence agent).
  - The agent's exit code says the same (0 on, 2 off, 1 failure); both are checked by the
    pacemaker role before a device is used.
options:
  _input:
    description: The agent's standard output.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse a fence device that cannot tell a node's power state
  ansible.builtin.assert:
    that:
      - status.stdout | havirt.cluster.fence_agent_status in ['on', 'off']
"""

RETURN = r"""
_value:
  description: C(on), C(off), or an empty string.
  type: str
  sample: "on"
"""

_STATES = {"ON": "on", "OFF": "off"}


def fence_agent_status(text):
    if text is None:
        return ""
    if not isinstance(text, str):
        raise AnsibleFilterError("fence_agent_status: expected the agent's output (a string), got %s"
                                 % type(text).__name__)
    state = ""
    for line in text.splitlines():
        key, colon, value = line.strip().partition(":")
        if colon and key == "Status" and value.strip() in _STATES:
            state = _STATES[value.strip()]
    return state


class FilterModule:
    """havirt.cluster filters for fence agents."""

    def filters(self):
        return {"fence_agent_status": fence_agent_status}
