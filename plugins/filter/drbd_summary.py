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
  split_brain:
    description:
      - Names of the resources for which the drbd role's split-brain handler left a record on this host
        (files in C(drbd_split_brain_record_dir)); their line says so, and what to do.
    type: list
    elements: str
    default: []
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
    - "scratch: StandAlone Primary/Unknown UpToDate/DUnknown, SPLIT BRAIN recorded: not replicating, recover by hand (docs/runbooks/drbd-split-brain.md)"
"""


SPLIT_BRAIN = ", SPLIT BRAIN recorded: %s (docs/runbooks/drbd-split-brain.md)"


def _split_brain_note(status):
    if status.get("cstate") == "StandAlone":
        return SPLIT_BRAIN % "not replicating, recover by hand"
    return SPLIT_BRAIN % "connected again; remove the record once checked"


def drbd_summary(text, resources, split_brain=()):
    if not (text or "").strip():
        return ["no drbd module"]
    try:
        minors = parse_proc_drbd(text)["minors"]
    except DrbdOutputError as exc:
        raise AnsibleFilterError("drbd_summary: %s" % exc) from exc
    lines = []
    for res in resources:
        status = minors.get(int(res["minor"]), {})
        line = "%s: %s" % (res["name"], describe(status))
        if res["name"] in (split_brain or ()):
            line += _split_brain_note(status)
        lines.append(line)
    return lines


class FilterModule:
    """havirt.cluster filters for DRBD."""

    def filters(self):
        return {"drbd_summary": drbd_summary}
