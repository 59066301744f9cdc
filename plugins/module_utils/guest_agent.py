# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions behind havirt.cluster.guest_agent_info: what libvirt's
answer to a guest-ping through a VM's qemu-guest-agent channel means. No
libvirt import: the error numbers are libvirt's stable ABI
(virErrorNumber), checked against the binding by the unit tests.

libvirt (src/qemu/qemu_domain.c, qemuDomainAgentAvailable) says "QEMU
guest agent is not configured" (VIR_ERR_ARGUMENT_UNSUPPORTED) when the
domain has no agent channel, "QEMU guest agent is not connected"
(VIR_ERR_AGENT_UNRESPONSIVE) when the guest has not opened it (no agent
running inside), and the same error number once a connected agent does not
answer within the timeout."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_ARGUMENT_UNSUPPORTED = 74
VIR_ERR_AGENT_UNRESPONSIVE = 86
VIR_ERR_AGENT_UNSYNCED = 97

ANSWERS = "answers"
NO_CHANNEL = "no channel"
NOT_ANSWERING = "not answering"
NOT_RUNNING = "not running"
ERROR = "error"


def ping_verdict(reply=None, error_code=None, error_message=""):
    """{state, detail} of one guest-ping: ``reply`` is the agent's answer
    (a JSON text) when it gave one, else ``error_code`` and
    ``error_message`` are libvirt's."""
    if error_code is None:
        if reply is not None and '"return"' in reply:
            return {"state": ANSWERS, "detail": ""}
        return {"state": ERROR, "detail": "unexpected reply %r" % (reply,)}
    if error_code == VIR_ERR_ARGUMENT_UNSUPPORTED:
        return {"state": NO_CHANNEL, "detail": error_message}
    if error_code in (VIR_ERR_AGENT_UNRESPONSIVE, VIR_ERR_AGENT_UNSYNCED):
        return {"state": NOT_ANSWERING, "detail": error_message}
    if error_code == VIR_ERR_OPERATION_INVALID:
        return {"state": NOT_RUNNING, "detail": error_message}
    return {"state": ERROR, "detail": "%s (libvirt error %s)" % (error_message, error_code)}
