"""A node's listening sockets, from `ss -H -ltnup` (iproute2), checked
against the addresses the inventory names for it.

No Ansible or testinfra here: tests/repo/test_lab_listening.py feeds the
parser output captured from real daemons.

How ss 6.1 prints a local address: `10.210.1.10:123`, `[::1]:323`,
`0.0.0.0:22` and `[::]:22` (every address of one family), `*:8000` (an
IPv6 socket that also takes IPv4: every address of both), and
`0.0.0.0%virbr0:67` or `[fe80::1]%v1:53` for a socket bound to one
interface. The process column (`users:(("sshd",pid=714,fd=3))`) is empty
for a socket no process of this namespace holds (a kernel socket)."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

# TCP sockets in LISTEN and unconnected UDP sockets, numeric, with their
# processes, without the header.
COMMAND = "ss -H -ltnup"

WILDCARDS = ("0.0.0.0", "::", "*")
_PROCESS = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=\d+')


class SsFormatError(ValueError):
    """A line of ss output this parser does not understand."""


class Socket(NamedTuple):
    protocol: str  # tcp or udp
    address: str  # without brackets: "10.210.1.10", "::1", "0.0.0.0", "::", "*"
    interface: str  # the interface it is bound to ("" for none)
    port: int
    processes: tuple[str, ...]  # names of the processes holding it
    line: str

    @property
    def wildcard(self) -> bool:
        """Bound to no address: reachable on every address (of its interface, if any)."""
        return self.address in WILDCARDS


class Wildcard(NamedTuple):
    """A wildcard listener a test accepts, and why."""
    protocol: str
    port: int
    processes: tuple[str, ...]
    reason: str

    def matches(self, sock: Socket) -> bool:
        return (sock.wildcard and sock.protocol == self.protocol and sock.port == self.port
                and bool(sock.processes) and set(sock.processes) <= set(self.processes))


def _local(field: str, line: str) -> tuple[str, str, int]:
    host, sep, port = field.rpartition(":")
    if not sep or not port.isdigit():
        raise SsFormatError(f"no port in local address {field!r}: {line}")
    interface = ""
    if "%" in host:
        host, interface = host.rsplit("%", 1)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host != "*":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise SsFormatError(f"not an address: {host!r}: {line}") from None
    return host, interface, int(port)


def parse(output: str) -> list[Socket]:
    """Each socket of `ss -H -ltnup` output (columns: netid, state, recv-q,
    send-q, local address:port, peer address:port, processes)."""
    sockets = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line:
            continue
        fields = line.split(None, 6)
        if len(fields) < 6 or fields[0] not in ("tcp", "udp"):
            raise SsFormatError(f"not a TCP or UDP socket line: {line}")
        address, interface, port = _local(fields[4], line)
        processes = tuple(_PROCESS.findall(fields[6])) if len(fields) == 7 else ()
        sockets.append(Socket(fields[0], address, interface, port, processes, line))
    return sockets


def _is_loopback(sock: Socket) -> bool:
    if sock.interface == "lo":
        return True
    if sock.wildcard:
        return False
    address = ipaddress.ip_address(sock.address)
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _named(sock: Socket, addresses: set) -> bool:
    if sock.wildcard:
        return False
    address = ipaddress.ip_address(sock.address)
    mapped = getattr(address, "ipv4_mapped", None)
    return address in addresses or (mapped is not None and mapped in addresses)


def unexpected(sockets: list[Socket], addresses, wildcards=()) -> list[Socket]:
    """The sockets reachable on an address the inventory does not name:
    neither on loopback, nor on one of `addresses`, nor a wildcard that one
    of `wildcards` accepts (same protocol and port, held only by its
    processes)."""
    named = {ipaddress.ip_address(address) for address in addresses}
    return [sock for sock in sockets
            if not (_is_loopback(sock) or _named(sock, named) or any(w.matches(sock) for w in wildcards))]


def unused(sockets: list[Socket], wildcards) -> list[Wildcard]:
    """The accepted wildcards no socket needs (the list must not outlive its reasons)."""
    return [w for w in wildcards if not any(w.matches(sock) for sock in sockets)]
