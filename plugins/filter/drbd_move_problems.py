# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a VM's DRBD resource can take a second primary for a live
migration, from both hypervisors' /proc/drbd."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import describe
from ansible_collections.havirt.cluster.plugins.filter.replace import minors_of

DOCUMENTATION = r"""
name: drbd_move_problems
short_description: Why a VM's DRBD resource is not ready for a live migration, from both hosts' /proc/drbd
version_added: 0.1.0
description:
  - Reads the text of C(/proc/drbd) (DRBD 8.4) on the source and on the destination of a live migration and
    says what keeps the resource from taking a second primary for the move. Ready means, on the source,
    connected, Primary with a Secondary peer, both disks UpToDate; on the destination, Secondary with a
    Primary peer.
  - An empty list means ready. Otherwise one sentence that says what each side is, and what must be true.
options:
  _input:
    description: The text of C(/proc/drbd) of each host, by inventory name (an empty text when the module is not loaded).
    type: dict
    required: true
  resource:
    description: The resource, a dict with C(name) and C(minor) (an entry of havirt_drbd_resources).
    type: dict
    required: true
  source:
    description: Inventory name of the hypervisor the VM runs on.
    type: str
    required: true
  destination:
    description: Inventory name of the hypervisor it is to move to.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check that passata's DRBD resource can take a second primary
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join(' ') }} Nothing was changed."
  vars:
    problems: >-
      {{ {'servvirt1': proc1, 'servvirt2': proc2}
         | havirt.cluster.drbd_move_problems({'name': 'passata', 'minor': 1}, 'servvirt1', 'servvirt2') }}
"""

RETURN = r"""
_value:
  description: Empty when the resource is ready; else one sentence.
  type: list
  elements: str
  sample:
    - >-
      DRBD resource passata is not ready for a live migration: on servvirt1 it is WFConnection Primary/Unknown
      UpToDate/DUnknown, on servvirt2 down. Both copies must be UpToDate and connected (wait for a resync to
      finish; status.yml shows it), the source Primary and the destination Secondary.
"""


def _status(texts, host, minor):
    return minors_of((texts or {}).get(host), "drbd_move_problems: %s's /proc/drbd" % host).get(int(minor), {})


def drbd_move_problems(texts, resource, source, destination):
    try:
        name, minor = resource["name"], resource["minor"]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("drbd_move_problems: the resource needs a name and a minor, got %r" % (resource,)) from exc
    src, dst = _status(texts, source, minor), _status(texts, destination, minor)
    ready = (src.get("cstate") == "Connected"
             and (src.get("disk"), src.get("peer_disk")) == ("UpToDate", "UpToDate")
             and (src.get("role"), src.get("peer_role")) == ("Primary", "Secondary")
             and (dst.get("role"), dst.get("peer_role")) == ("Secondary", "Primary"))
    if ready:
        return []
    return ["DRBD resource %s is not ready for a live migration: on %s it is %s, on %s %s. Both copies must be "
            "UpToDate and connected (wait for a resync to finish; status.yml shows it), the source Primary and "
            "the destination Secondary." % (name, source, describe(src), destination, describe(dst))]


class FilterModule:
    """havirt.cluster filters for DRBD moves."""

    def filters(self):
        return {"drbd_move_problems": drbd_move_problems}
