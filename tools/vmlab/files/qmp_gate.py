#!/usr/bin/python3
"""qmp_gate: the VM LAB's fence gate. The only way from the lab's network to
the VMs' power switches (their QEMU monitors, unix sockets of the lab host
that only root may reach).

tools/vmlab/up.yml starts it on the host's address on the cluster bridge;
the lab's fence agent (tools/vmlab/files/fence_qmp), run by pacemaker inside
the VMs, talks to it. One TCP connection, JSON lines:

1. the gate sends a challenge: {"havirt-qmp-gate": {"version": 1, "nonce": N}}
2. the client answers {"request": R, "vm": V, "hmac": H} within the
   authentication timeout, where H is HMAC-SHA256, keyed with the lab's
   token, of "N\\nR\\nV" (hex): the token itself never crosses the network
   and an answer is good for one challenge only;
3. a wrong answer gets {"error": {"class": "GateRefused", "desc": ...}} and
   the connection is closed, before any monitor is touched. R "list" gets
   {"return": [the VMs' names]}; R "qmp" connects the client to VM V's
   monitor: the monitor's lines go to the client as they are, the client's
   lines go to the monitor only when they are one of ALLOWED_COMMANDS
   (without arguments), else the gate answers with an error itself.

Lab plumbing, not part of the collection: Python's standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import signal
import sys

PROTOCOL = 1
# What fencing needs of a monitor (fence_qmp): nothing that could reach the
# host (migrate to exec:, human-monitor-command, chardev-add, ...).
ALLOWED_COMMANDS = frozenset({"qmp_capabilities", "query-status", "stop", "cont", "system_reset"})
REQUESTS = ("list", "qmp")
# The longest line a client may send (its answer, its commands).
CLIENT_LINE_LIMIT = 4096
# The longest line read from a monitor (QMP answers can be long).
MONITOR_LINE_LIMIT = 1 << 20
MIN_TOKEN_LENGTH = 16


class Refused(Exception):
    """A request the gate does not serve; the message goes to the client."""


def proof(token: str, nonce: str, request: str, vm: str = "") -> str:
    """The answer to challenge ``nonce`` for ``request`` on ``vm`` (fence_qmp
    computes the same)."""
    return hmac.new(token.encode(), f"{nonce}\n{request}\n{vm}".encode(), hashlib.sha256).hexdigest()


def json_line(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


def challenge(nonce: str) -> bytes:
    return json_line({"havirt-qmp-gate": {"version": PROTOCOL, "nonce": nonce}})


def error_line(desc: str, error_class: str = "GenericError", ident=None) -> bytes:
    message = {"error": {"class": error_class, "desc": desc}}
    if ident is not None:
        message["id"] = ident
    return json_line(message)


def check_request(line: bytes, nonce: str, token: str, vms) -> tuple[str, str]:
    """The client's answer to the challenge, checked: (request, vm) or Refused.
    The proof is checked before anything else about the request is told."""
    try:
        message = json.loads(line)
    except ValueError:
        raise Refused("the request is not JSON") from None
    if not isinstance(message, dict):
        raise Refused("the request is not a JSON object")
    request, vm, given = message.get("request"), message.get("vm", ""), message.get("hmac")
    if request not in REQUESTS or not isinstance(vm, str) or not isinstance(given, str):
        raise Refused(f"a request is {{\"request\": one of {', '.join(REQUESTS)}, \"vm\": name, \"hmac\": proof}}")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), proof(token, nonce, request, vm).encode()):
        raise Refused("authentication failed")
    if request == "qmp" and vm not in vms:
        raise Refused(f"no VM named {vm!r} behind this gate")
    return request, vm


def filter_command(line: bytes) -> tuple[bytes | None, bytes | None]:
    """A client's line during a monitor session: (what goes to the monitor,
    what the gate answers itself); one of the two is None."""
    try:
        message = json.loads(line)
    except ValueError:
        return None, error_line("the gate passes on JSON objects only")
    if not isinstance(message, dict):
        return None, error_line("the gate passes on JSON objects only")
    command, ident = message.get("execute"), message.get("id")
    if not isinstance(command, str) or command not in ALLOWED_COMMANDS:
        return None, error_line(f"the fence gate passes on {', '.join(sorted(ALLOWED_COMMANDS))} only, "
                                f"not {command!r}", ident=ident)
    forward = {"execute": command}
    if ident is not None:
        forward["id"] = ident
    return json_line(forward), None


def parse_vms(specs) -> dict[str, str]:
    """NAME=SOCKET pairs: each VM's name and its monitor's unix socket."""
    vms = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path or any(c.isspace() for c in name):
            raise ValueError(f"--vm {spec!r}: expected NAME=SOCKET")
        if name in vms:
            raise ValueError(f"--vm {name}: given twice")
        vms[name] = path
    if not vms:
        raise ValueError("no VM given (--vm NAME=SOCKET)")
    return vms


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {text!r}: expected ADDRESS:PORT")
    return host.strip("[]"), int(port)


def read_token(path: str) -> str:
    with open(path, encoding="utf-8") as stream:
        token = stream.read().strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{path}: the token must be {MIN_TOKEN_LENGTH} characters or more")
    return token


class Gate:
    """Serves one client connection at a time per task (asyncio)."""

    def __init__(self, token: str, vms: dict[str, str], auth_timeout: float, log: logging.Logger):
        self.token = token
        self.vms = vms
        self.auth_timeout = auth_timeout
        self.log = log

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            nonce = secrets.token_hex(32)
            writer.write(challenge(nonce))
            await writer.drain()
            try:
                line = await asyncio.wait_for(reader.readline(), self.auth_timeout)
            except asyncio.TimeoutError:
                raise Refused(f"no answer within {self.auth_timeout:g} s") from None
            except ValueError:
                raise Refused(f"an answer is one line of at most {CLIENT_LINE_LIMIT} bytes") from None
            if not line.endswith(b"\n"):
                raise Refused("no answer")
            request, vm = check_request(line, nonce, self.token, self.vms)
            if request == "list":
                self.log.info("%s: list", who)
                writer.write(json_line({"return": sorted(self.vms)}))
                return
            try:
                monitor_reader, monitor_writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.vms[vm], limit=MONITOR_LINE_LIMIT), self.auth_timeout)
            except (OSError, asyncio.TimeoutError) as error:
                raise Refused(f"cannot reach the monitor of {vm}: {str(error) or 'no answer'}") from None
            self.log.info("%s: monitor of %s", who, vm)
            try:
                await self.relay(reader, writer, monitor_reader, monitor_writer, f"{who} {vm}")
            finally:
                monitor_writer.close()
                with contextlib.suppress(OSError):
                    await monitor_writer.wait_closed()
        except Refused as refusal:
            self.log.warning("%s: refused: %s", who, refusal)
            writer.write(error_line(str(refusal), "GateRefused"))
        except OSError as error:
            self.log.warning("%s: %s", who, error)
        finally:
            with contextlib.suppress(OSError):
                await writer.drain()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def relay(self, client_reader, client_writer, monitor_reader, monitor_writer, who: str) -> None:
        """Until either side closes: the monitor's lines to the client, the
        client's allowed commands to the monitor. Whole lines only, so the
        gate's own answers never split one of the monitor's."""

        async def to_monitor():
            while True:
                line = await client_reader.readline()
                if not line:
                    return
                if not line.strip():
                    continue
                forward, answer = filter_command(line)
                if forward is not None:
                    self.log.info("%s: %s", who, forward.decode().strip())
                    monitor_writer.write(forward)
                    await monitor_writer.drain()
                else:
                    self.log.warning("%s: refused %s", who, line[:200])
                    client_writer.write(answer)
                    await client_writer.drain()

        async def to_client():
            while True:
                line = await monitor_reader.readline()
                if not line:
                    return
                client_writer.write(line)
                await client_writer.drain()

        tasks = [asyncio.create_task(to_monitor()), asyncio.create_task(to_client())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                self.log.warning("%s: %s", who, result)


async def serve(gate: Gate, host: str, port: int) -> None:
    server = await asyncio.start_server(gate.handle, host, port, limit=CLIENT_LINE_LIMIT)
    bound = server.sockets[0].getsockname()
    # The first line on stdout: where it listens (port 0 picks one).
    print(f"qmp_gate: listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="The VM lab's fence gate (lab only).")
    parser.add_argument("--listen", required=True, help="ADDRESS:PORT to listen on")
    parser.add_argument("--token-file", required=True, help="file holding the lab's token")
    parser.add_argument("--vm", action="append", default=[], metavar="NAME=SOCKET",
                        help="a VM's name and its QMP monitor's unix socket (repeat for each VM)")
    parser.add_argument("--auth-timeout", type=float, default=5.0,
                        help="seconds a client has to answer the challenge")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s qmp_gate %(message)s")
    try:
        host, port = parse_listen(args.listen)
        vms = parse_vms(args.vm)
        token = read_token(args.token_file)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"qmp_gate: {error}\n")
        return 2
    gate = Gate(token, vms, args.auth_timeout, logging.getLogger("qmp_gate"))
    try:
        asyncio.run(serve(gate, host, port))
    except OSError as error:
        sys.stderr.write(f"qmp_gate: cannot listen on {host}:{port}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
