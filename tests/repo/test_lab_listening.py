"""The container lab's listening-socket check (tools/labkit/listening.py), fed
with `ss -H -ltnup` output captured from real daemons (fixtures/ss/README):
every address form ss prints is read, and a socket is reported unless it
is on loopback, on an address the inventory names, or a wildcard the test
accepts for that protocol, port and process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lab_listening", ROOT / "tools" / "labkit" / "listening.py")
listening = importlib.util.module_from_spec(spec)
spec.loader.exec_module(listening)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ss"
SSHD = listening.Wildcard("tcp", 22, ("sshd",), "the administrator's way in")


def captured(name: str) -> list:
    return listening.parse((FIXTURES / f"ltnup-{name}.txt").read_text())


def summary(sockets) -> list[tuple]:
    return [(s.protocol, s.address, s.interface, s.port, s.processes) for s in sockets]


def test_every_address_form_is_read():
    assert summary(captured("services")) == [
        ("udp", "198.51.100.11", "", 53, ("dnsmasq",)),
        ("udp", "0.0.0.0", "v1", 67, ("dnsmasq",)),
        ("udp", "198.51.100.10", "", 123, ("chronyd",)),
        ("udp", "127.0.0.1", "", 323, ("chronyd",)),
        ("udp", "fe80::240b:5eff:fe13:6c33", "v1", 53, ("dnsmasq",)),
        ("udp", "::1", "", 323, ("chronyd",)),
        ("udp", "fe80::3045:aff:fe00:bb39", "v0", 546, ("python3", "python3")),
        ("tcp", "198.51.100.10", "", 3260, ("python3", "python3")),
        ("tcp", "0.0.0.0", "", 22, ("sshd",)),
        ("tcp", "198.51.100.11", "", 53, ("dnsmasq",)),
        ("tcp", "fe80::240b:5eff:fe13:6c33", "v1", 53, ("dnsmasq",)),
        ("tcp", "::", "", 22, ("sshd",)),
        ("tcp", "*", "", 8000, ("python3",)),
    ]


def test_a_socket_without_a_process_is_read():
    assert summary(captured("host")) == [("tcp", "0.0.0.0", "", 2024, ()), ("tcp", "10.210.1.1", "", 8780, ("podman",))]


def test_wildcards_are_every_address_forms():
    assert [(s.address, s.port) for s in captured("services") if s.wildcard] == [
        ("0.0.0.0", 67), ("0.0.0.0", 22), ("::", 22), ("*", 8000)]


def test_sockets_on_addresses_the_inventory_does_not_name_are_reported():
    """198.51.100.10 plays the node's cluster address: chronyd's NTP socket
    and the 3260 listener there pass, chronyd's command sockets are on
    loopback, sshd is an accepted wildcard; dnsmasq on the other address,
    its interface-wide DHCP socket, the link-local sockets and the
    dual-stack web server are reported."""
    wrong = listening.unexpected(captured("services"), ["198.51.100.10"], [SSHD])
    assert [(s.protocol, s.address, s.interface, s.port) for s in wrong] == [
        ("udp", "198.51.100.11", "", 53),
        ("udp", "0.0.0.0", "v1", 67),
        ("udp", "fe80::240b:5eff:fe13:6c33", "v1", 53),
        ("udp", "fe80::3045:aff:fe00:bb39", "v0", 546),
        ("tcp", "198.51.100.11", "", 53),
        ("tcp", "fe80::240b:5eff:fe13:6c33", "v1", 53),
        ("tcp", "*", "", 8000),
    ]


def test_every_named_address_counts_and_ipv6_is_compared_as_addresses():
    named = ["198.51.100.10", "198.51.100.11", "FE80::240B:5EFF:FE13:6C33"]
    wrong = listening.unexpected(captured("services"), named, [SSHD])
    assert [(s.address, s.port) for s in wrong] == [("0.0.0.0", 67), ("fe80::3045:aff:fe00:bb39", 546), ("*", 8000)]


def test_without_the_sshd_entry_sshd_is_reported():
    wrong = listening.unexpected(captured("services"), ["198.51.100.10", "198.51.100.11"])
    assert ("tcp", "0.0.0.0", 22) in [(s.protocol, s.address, s.port) for s in wrong]
    assert ("tcp", "::", 22) in [(s.protocol, s.address, s.port) for s in wrong]


@pytest.mark.parametrize("entry", [
    listening.Wildcard("tcp", 22, ("dropbear",), "another daemon on sshd's port"),
    listening.Wildcard("udp", 22, ("sshd",), "another protocol"),
    listening.Wildcard("tcp", 2222, ("sshd",), "another port"),
])
def test_a_wildcard_entry_accepts_only_its_protocol_port_and_process(entry):
    wrong = listening.unexpected(captured("services"), ["198.51.100.10", "198.51.100.11"], [entry])
    assert [(s.address, s.port) for s in wrong if s.port == 22] == [("0.0.0.0", 22), ("::", 22)]


def test_a_wildcard_held_by_no_process_is_never_accepted():
    entry = listening.Wildcard("tcp", 2024, (), "a kernel socket")
    assert [s.port for s in listening.unexpected(captured("host"), ["10.210.1.1"], [entry])] == [2024]


def test_unneeded_entries_are_reported():
    spare = listening.Wildcard("tcp", 111, ("rpcbind",), "no longer installed")
    assert listening.unused(captured("services"), [SSHD, spare]) == [spare]


@pytest.mark.parametrize("line", [
    "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process",
    "u_str LISTEN 0 4096 /run/libvirt/libvirt-sock 1234 * 0",
    "tcp LISTEN 0 128 0.0.0.0 0.0.0.0:*",
    "tcp LISTEN 0 128 localhost:22 0.0.0.0:*",
])
def test_lines_it_does_not_understand_stop_the_check(line):
    with pytest.raises(listening.SsFormatError):
        listening.parse(line)
