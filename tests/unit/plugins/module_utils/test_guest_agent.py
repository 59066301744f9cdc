"""What libvirt's answer to a guest-ping means (module_utils/guest_agent.py,
behind havirt.cluster.guest_agent_info): the error numbers are checked
against the libvirt binding, the messages are libvirt's own
(src/qemu/qemu_domain.c qemuDomainAgentAvailable, src/qemu/qemu_agent.c)."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import guest_agent as ga


@pytest.mark.parametrize("name", ["VIR_ERR_OPERATION_INVALID", "VIR_ERR_ARGUMENT_UNSUPPORTED",
                                  "VIR_ERR_AGENT_UNRESPONSIVE", "VIR_ERR_AGENT_UNSYNCED"])
def test_the_error_numbers_are_libvirts(name):
    assert getattr(ga, name) == getattr(libvirt, name)


def test_an_answer_is_an_answer():
    assert ga.ping_verdict(reply='{"return":{}}') == {"state": "answers", "detail": ""}
    assert ga.ping_verdict(reply='{"error":{"class":"CommandNotFound"}}')["state"] == "error"


@pytest.mark.parametrize("code, message, state", [
    (libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED, "argument unsupported: QEMU guest agent is not configured", "no channel"),
    (libvirt.VIR_ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: QEMU guest agent is not connected",
     "not answering"),
    (libvirt.VIR_ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: Guest agent not available for now",
     "not answering"),
    (libvirt.VIR_ERR_OPERATION_INVALID, "Requested operation is not valid: domain is not running", "not running"),
])
def test_libvirts_refusals(code, message, state):
    verdict = ga.ping_verdict(error_code=code, error_message=message)
    assert verdict == {"state": state, "detail": message}


def test_anything_else_is_an_error_with_its_number():
    verdict = ga.ping_verdict(error_code=1, error_message="internal error: boom")
    assert verdict == {"state": "error", "detail": "internal error: boom (libvirt error 1)"}
