# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DRBD resources' state, one line each, from a host's /proc/drbd."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import DrbdOutputError, describe, parse_proc_drbd

DOCUMENTATION = r"""
name: drbd_summary
short_description: Each DRBD resource's state in one line, from a host's /proc/drbd
version_added: 0.1.0
description:
  - Reads the text of C(/proc/drbd) (DRBD 8.4) and says for each resource of the list its connection
    state, roles, disk states and, during a resync, how far it got; C(down) for a resource the kernel
    does not run. An empty text (no drbd module loaded) gives C(no drbd module).
options:
  _input:
    description: The text of C(/proc/drbd), or an empty string.
    type: str
    required: true
  resources:
    description: The resources, each a dict with C(name) and C(minor) (havirt_drbd_resources).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: DRBD's state on this host
  ansible.builtin.debug:
    msg: "{{ (proc.content | b64decode) | havirt.cluster.drbd_summary(havirt_drbd_resources) }}"
"""

RETURN = r"""
_value:
  description: One line per resource, in the list's order; or C(no drbd module).
  type: list
  elements: str
  sample:
    - "passata: Connected Primary/Secondary UpToDate/UpToDate"
    - "scratch: SyncSource Secondary/Secondary UpToDate/Inconsistent (41.2% synced)"
"""


def drbd_summary(text, resources):
    if not (text or "").strip():
        return ["no drbd module"]
    try:
        minors = parse_proc_drbd(text)["minors"]
    except DrbdOutputError as exc:
        raise AnsibleFilterError("drbd_summary: %s" % exc) from exc
    return ["%s: %s" % (res["name"], describe(minors.get(int(res["minor"]), {}))) for res in resources]


class FilterModule:
    """havirt.cluster filters for DRBD."""

    def filters(self):
        return {"drbd_summary": drbd_summary}
