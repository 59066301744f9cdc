"""The labs' SSH: a command whose shared connection was lost before it
started is run again (tools/labkit/inventory.py retry_lost_mux); any other
failure is not."""

from __future__ import annotations

import pytest

from labkit.inventory import retry_lost_mux

# What testinfra raised in the Xen lab (2026-12-06) after a crashed hypervisor came back.
LOST = ("CommandResult(backend=<testinfra.backend.ssh.SshBackend object>, exit_status=255, "
        "command=b'virsh list --name --state-running', _stdout=b'', _stderr=b'mux_client_request_session: read from "
        "master failed: Broken pipe\\r\\nFailed to connect to new control master\\r\\n')")


def _flaky(failures):
    calls = []

    def run_ssh(command):
        calls.append(command)
        if failures:
            raise RuntimeError(failures.pop(0))
        return f"ran {command}"
    return run_ssh, calls


def test_a_lost_shared_connection_is_retried():
    run_ssh, calls = _flaky([LOST, LOST])
    assert retry_lost_mux(run_ssh, pause=0)("virsh list") == "ran virsh list"
    assert calls == ["virsh list"] * 3


def test_other_failures_and_the_last_attempt_are_raised():
    run_ssh, calls = _flaky(["CommandResult(exit_status=255, _stderr=b'ssh: connect to host 127.0.0.1 port 2311: "
                             "Connection refused')"])
    with pytest.raises(RuntimeError, match="Connection refused"):
        retry_lost_mux(run_ssh, pause=0)("true")
    assert len(calls) == 1
    run_ssh, calls = _flaky([LOST] * 3)
    with pytest.raises(RuntimeError, match="control master"):
        retry_lost_mux(run_ssh, pause=0)("true")
    assert len(calls) == 3
