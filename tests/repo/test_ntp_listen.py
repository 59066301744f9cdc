"""What chrony listens on, from the ntp role's chrony.conf rendered offline:
the time server answers NTP on its cluster address only (the other
family's server socket on loopback), a client opens no NTP server port,
and chronyc's UDP command port stays on loopback everywhere.

What these directives make chronyd 4.3 (Debian 12) open was checked by
running it in a network namespace with the rendered files: the server
`198.51.100.10:123` (and `[::1]:123` with an IPv6 network allowed), both
`127.0.0.1:323` and `[::1]:323`; the client only the two command sockets;
root's `chronyc -n tracking` answered through /run/chrony/chronyd.sock.
The container lab checks the same on the nodes
(molecule/default/tests/test_listening.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from offline_templating import render

ROLE = Path(__file__).resolve().parents[2] / "roles" / "ntp"
SERVER, CLIENT = "servdb", "servvirt1"


def directives(host: str, addresses: dict | None = None, **settings) -> list[str]:
    """The directive lines (no comments, no blank lines) of chrony.conf as
    the role writes it on `host`, for a two-node cluster."""
    variables = {}
    for part in ("defaults", "vars"):
        variables.update(yaml.safe_load((ROLE / part / "main.yml").read_text()))
    addresses = addresses or {SERVER: "198.51.100.10", CLIENT: "198.51.100.11"}
    variables.update(
        ansible_managed="Ansible managed", inventory_hostname=host,
        groups={"storage": [SERVER], "cluster": [SERVER, CLIENT]},
        hostvars={name: {"havirt_cluster_address": address} for name, address in addresses.items()}, **settings)
    text = render(ROLE / "templates" / "chrony.conf.j2", variables)
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def named(lines: list[str], directive: str) -> list[str]:
    return [line.split(None, 1)[1] for line in lines if line.split()[0] == directive]


def test_the_time_server_answers_ntp_on_its_cluster_address_only():
    lines = directives(SERVER)
    assert named(lines, "bindaddress") == ["198.51.100.10", "::1"]
    assert named(lines, "allow") == ["198.51.100.11"]
    assert named(lines, "port") == []


def test_an_ipv6_time_server_keeps_ipv4_on_loopback():
    lines = directives(SERVER, {SERVER: "2001:db8::10", CLIENT: "2001:db8::11"})
    assert named(lines, "bindaddress") == ["2001:db8::10", "127.0.0.1"]


def test_an_empty_listen_address_answers_on_every_address():
    lines = directives(SERVER, ntp_listen_address="")
    assert named(lines, "bindaddress") == []
    assert named(lines, "allow") == ["198.51.100.11"]


def test_a_client_opens_no_ntp_server_port():
    lines = directives(CLIENT)
    assert named(lines, "port") == ["0"]
    assert named(lines, "server") == ["198.51.100.10 iburst prefer"]
    assert named(lines, "allow") == [] and named(lines, "bindaddress") == []


@pytest.mark.parametrize("host", [SERVER, CLIENT])
def test_the_command_port_stays_on_loopback(host):
    lines = directives(host)
    assert named(lines, "bindcmdaddress") == ["127.0.0.1", "::1"]
    assert named(lines, "cmdport") == []
