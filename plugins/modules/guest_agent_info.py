#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: guest_agent_info
short_description: Whether the qemu-guest-agent of each VM running on this hypervisor answers
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Sends C(guest-ping) through the qemu-guest-agent channel of every domain running on this host (or of the
    domains O(names) among them) and says, for each, whether its agent answers (V(answers)), has no channel in
    its running definition (V(no channel): started before the vms role added it), does not answer or is not
    running in the guest (V(not answering)), stopped while asked (V(not running)), or something else went wrong
    (V(error)).
  - A guest without the agent costs nothing to ask (libvirt answers at once that the channel is not connected);
    a connected agent that does not answer costs up to O(timeout) seconds.
  - Reads only. QEMU/KVM only (libvirt's C(qemu) driver); community.libvirt.virt has no agent command.
options:
  uri:
    description: libvirt URI of this host.
    type: str
    default: qemu:///system
  names:
    description: Only these domains (those not running here are left out); all running domains when empty.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for each agent's answer.
    type: int
    default: 2
requirements:
  - libvirt-python on the hypervisor (python3-libvirt)
attributes:
  check_mode:
    description: Reads only, so it runs in check mode as well.
    support: full
  diff_mode:
    description: Changes nothing.
    support: none
"""

EXAMPLES = r"""
- name: Ask every VM's guest agent on the hypervisors
  havirt.cluster.guest_agent_info:
  register: agents

- name: Say which do not answer
  ansible.builtin.debug:
    msg: "{{ agents.agents | dict2items | rejectattr('value.state', 'eq', 'answers') | map(attribute='key') }}"
"""

RETURN = r"""
agents:
  description: By domain running here, the verdict on its agent.
  returned: success
  type: dict
  sample:
    passata: {state: answers, detail: ""}
    speedauth: {state: not answering, detail: "Guest agent is not responding: QEMU guest agent is not connected"}
  contains:
    state:
      description: V(answers), V(no channel), V(not answering), V(not running) or V(error).
      type: str
    detail:
      description: libvirt's message when the agent did not answer.
      type: str
"""

import json

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.havirt.cluster.plugins.module_utils.libvirt_connection import open_or_fail
from ansible_collections.havirt.cluster.plugins.module_utils.guest_agent import ping_verdict

try:
    import libvirt
    import libvirt_qemu
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

PING = json.dumps({"execute": "guest-ping"})


def ping(dom, timeout):
    try:
        return ping_verdict(reply=libvirt_qemu.qemuAgentCommand(dom, PING, timeout, 0))
    except libvirt.libvirtError as exc:
        return ping_verdict(error_code=exc.get_error_code(), error_message=str(exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///system"),
            names=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=2),
        ),
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (Debian: python3-libvirt)"))
    params = module.params
    if params["timeout"] < 1:
        module.fail_json(msg="timeout is %d: give 1 second or more" % params["timeout"])
    conn = open_or_fail(module, libvirt, params["uri"])
    agents = {}
    try:
        for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            if params["names"] and dom.name() not in params["names"]:
                continue
            agents[dom.name()] = ping(dom, params["timeout"])
    except libvirt.libvirtError as exc:
        module.fail_json(msg="cannot list the domains of %s: %s" % (params["uri"], exc))
    finally:
        conn.close()
    module.exit_json(changed=False, agents=agents)


if __name__ == "__main__":
    main()
