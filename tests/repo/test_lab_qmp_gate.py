"""The VM lab's fence gate (tools/vmlab/files/qmp_gate.py) and its fence
agent (tools/vmlab/files/fence_qmp). The gate runs as tools/vmlab/up.yml
starts it, on 127.0.0.1, in front of stand-in QEMU monitors on unix sockets
in a temporary directory, which record every connection and command: a
wrong token, a replayed answer or silence is refused before any monitor is
reached, only fencing's commands reach one, and the agent (run as pacemaker
runs it, options on stdin) powers a VM off and on through the gate."""

from __future__ import annotations

import hashlib
import hmac
import importlib.machinery
import importlib.util
import io
import json
import socket
import socketserver
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "tools" / "vmlab" / "files" / "qmp_gate.py"
AGENT = ROOT / "tools" / "vmlab" / "files" / "fence_qmp"


def _load(name, path):
    """The lab file as a module, leaving no bytecode next to it in tools/."""
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = write_bytecode
    return module


qmp_gate = _load("lab_qmp_gate", GATE)
fence_qmp = _load("lab_fence_qmp", AGENT)

TOKEN = "test-token-0123456789abcdefghijklmnop"
GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}}, "capabilities": ["oob"]}}


class FakeMonitor(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A QEMU monitor: greeting, then one answer per command; stop and cont
    change the run state and send their event first, as QEMU does."""

    daemon_threads = True

    def __init__(self, path):
        self.running = True
        self.connections = 0
        self.received = []  # the exact JSON objects that reached the monitor
        super().__init__(str(path), MonitorHandler)


class MonitorHandler(socketserver.StreamRequestHandler):
    def _send(self, message):
        self.wfile.write(json.dumps(message).encode() + b"\n")

    def handle(self):
        monitor = self.server
        monitor.connections += 1
        self._send(GREETING)
        for line in self.rfile:
            message = json.loads(line)
            monitor.received.append(message)
            command = message.get("execute")
            if command == "query-status":
                answer = {"running": monitor.running, "status": "running" if monitor.running else "paused"}
            elif command in ("stop", "cont"):
                monitor.running = command == "cont"
                self._send({"event": "STOP" if command == "stop" else "RESUME",
                            "timestamp": {"seconds": 1, "microseconds": 0}})
                answer = {}
            else:
                answer = {}
            reply = {"return": answer}
            if "id" in message:
                reply["id"] = message["id"]
            self._send(reply)


@pytest.fixture
def lab(tmp_path):
    """The gate in front of servvirt1's monitor; servdb's QEMU is not running
    (no socket)."""
    monitor = FakeMonitor(tmp_path / "servvirt1.qmp")
    thread = threading.Thread(target=monitor.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    log = (tmp_path / "gate.log").open("w")
    gate = subprocess.Popen([sys.executable, str(GATE), "--listen", "127.0.0.1:0", "--token-file", str(token_file),
                             "--vm", f"servvirt1={tmp_path / 'servvirt1.qmp'}",
                             "--vm", f"servdb={tmp_path / 'servdb.qmp'}", "--auth-timeout", "0.5"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    ready = gate.stdout.readline()
    assert ready.startswith("qmp_gate: listening on 127.0.0.1:"), ready
    monitor.port = int(ready.strip().rsplit(":", 1)[1])
    monitor.log = tmp_path / "gate.log"
    yield monitor
    gate.terminate()
    assert gate.wait(timeout=10) == 0
    log.close()
    monitor.shutdown()
    monitor.server_close()


class Client:
    """The gate's protocol by hand."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.stream = self.sock.makefile("rwb")
        self.nonce = self.receive()["havirt-qmp-gate"]["nonce"]

    def send(self, message):
        self.stream.write(json.dumps(message).encode() + b"\n")
        self.stream.flush()

    def receive(self):
        line = self.stream.readline()
        return json.loads(line) if line else None

    def ask(self, request, vm="", token=TOKEN, nonce=None):
        proof = hmac.new(token.encode(), f"{nonce or self.nonce}\n{request}\n{vm}".encode(), hashlib.sha256)
        self.send({"request": request, "vm": vm, "hmac": proof.hexdigest()})
        return self.receive()

    def close(self):
        self.stream.close()
        self.sock.close()


def _refused(desc):
    return {"error": {"class": "GateRefused", "desc": desc}}


def test_the_right_token_reaches_the_monitor(lab):
    client = Client(lab.port)
    assert client.ask("qmp", "servvirt1") == GREETING
    client.send({"execute": "qmp_capabilities"})
    assert client.receive() == {"return": {}}
    client.send({"execute": "query-status"})
    assert client.receive() == {"return": {"running": True, "status": "running"}}
    client.close()
    assert lab.connections == 1
    assert lab.received == [{"execute": "qmp_capabilities"}, {"execute": "query-status"}]


@pytest.mark.parametrize("token", ["wrong-token-0123456789abcdefghijkl", ""])
def test_a_wrong_token_is_refused_before_any_monitor_is_reached(lab, token):
    client = Client(lab.port)
    assert client.ask("qmp", "servvirt1", token=token) == _refused("authentication failed")
    assert client.receive() is None  # closed
    client.close()
    assert lab.connections == 0


def test_an_answer_is_good_for_its_own_challenge_only(lab):
    first, second = Client(lab.port), Client(lab.port)
    assert first.nonce != second.nonce
    # What a listener on the bridge saw of the first session, replayed.
    assert second.ask("qmp", "servvirt1", nonce=first.nonce) == _refused("authentication failed")
    # ... or moved to another VM than the one it was made for.
    proof = hmac.new(TOKEN.encode(), f"{first.nonce}\nqmp\nservdb".encode(), hashlib.sha256).hexdigest()
    first.send({"request": "qmp", "vm": "servvirt1", "hmac": proof})
    assert first.receive() == _refused("authentication failed")
    first.close()
    second.close()
    assert lab.connections == 0


def test_silence_is_refused_after_the_timeout(lab):
    client = Client(lab.port)
    assert client.receive() == _refused("no answer within 0.5 s")
    assert client.receive() is None
    client.close()


@pytest.mark.parametrize("line", [b"not json\n", b"[1, 2]\n", b'{"request": "shell", "hmac": "00"}\n',
                                  b"x" * 5000 + b"\n"])
def test_a_malformed_answer_is_refused(lab, line):
    client = Client(lab.port)
    client.stream.write(line)
    client.stream.flush()
    answer = client.receive()
    assert answer["error"]["class"] == "GateRefused", answer
    client.close()
    assert lab.connections == 0


def test_only_fencing_commands_reach_the_monitor_and_without_arguments(lab):
    client = Client(lab.port)
    assert "QMP" in client.ask("qmp", "servvirt1")
    # migrate to exec: runs a command on the host: never through the gate.
    client.send({"execute": "migrate", "arguments": {"uri": "exec:touch /tmp/x"}, "id": 7})
    answer = client.receive()
    assert answer["id"] == 7 and "not 'migrate'" in answer["error"]["desc"]
    client.send({"execute": "human-monitor-command", "arguments": {"command-line": "info status"}})
    assert "not 'human-monitor-command'" in client.receive()["error"]["desc"]
    client.send({"exec-oob": "query-status"})
    assert "not None" in client.receive()["error"]["desc"]
    client.send({"execute": "stop", "arguments": {"anything": 1}, "id": "s"})
    assert client.receive()["event"] == "STOP"
    assert client.receive() == {"return": {}, "id": "s"}
    client.close()
    assert lab.received == [{"execute": "stop", "id": "s"}]


def test_unknown_and_stopped_vms(lab):
    client = Client(lab.port)
    assert client.ask("qmp", "servvirt9") == _refused("no VM named 'servvirt9' behind this gate")
    client.close()
    client = Client(lab.port)
    answer = client.ask("qmp", "servdb")
    assert answer["error"]["desc"].startswith("cannot reach the monitor of servdb: "), answer
    client.close()


def test_list_needs_the_token_too(lab):
    client = Client(lab.port)
    assert client.ask("list") == {"return": ["servdb", "servvirt1"]}
    client.close()
    client = Client(lab.port)
    assert client.ask("list", token="wrong-token-0123456789abcdefghijkl") == _refused("authentication failed")
    client.close()


def test_the_gate_logs_refusals_without_the_token(lab):
    client = Client(lab.port)
    client.ask("qmp", "servvirt1", token="wrong-token-0123456789abcdefghijkl")
    client.close()
    client = Client(lab.port)
    client.ask("list")
    client.close()
    log = lab.log.read_text()
    assert "refused: authentication failed" in log and ": list" in log
    assert TOKEN not in log


# fence_qmp, run as pacemaker's fencer runs it.

def _agent(lab, token=TOKEN, **options):
    options = {"ip": "127.0.0.1", "ipport": lab.port, "password": token, **options}
    stdin = "".join(f"{key}={value}\n" for key, value in options.items())
    return subprocess.run([sys.executable, str(AGENT)], input=stdin, capture_output=True, text=True, timeout=60)


def test_the_agent_reboots_a_vm_through_the_gate(lab):
    run = _agent(lab, action="reboot", plug="servvirt1")
    assert (run.returncode, run.stdout, run.stderr) == (0, "Success: Powered OFF and ON\n", "")
    assert [m["execute"] for m in lab.received] == [
        "qmp_capabilities", "stop", "system_reset", "query-status",  # off: stopped and reset
        "qmp_capabilities", "query-status", "cont", "query-status"]  # on: resumed after the reset
    assert lab.connections == 2 and lab.running


def test_the_agent_off_status_on(lab):
    assert _agent(lab, action="off", port="servvirt1").returncode == 0
    status = _agent(lab, action="status", plug="servvirt1")
    assert (status.returncode, status.stdout) == (2, "Status: OFF\n")
    assert _agent(lab, action="on", plug="servvirt1").returncode == 0
    status = _agent(lab, action="status", plug="servvirt1")
    assert (status.returncode, status.stdout) == (0, "Status: ON\n")


def test_the_agent_with_a_wrong_token_fences_nothing(lab):
    run = _agent(lab, token="wrong-token-0123456789abcdefghijkl", action="off", plug="servvirt1")
    assert run.returncode == 1
    assert run.stderr == (f"fence_qmp: the fence gate at 127.0.0.1:{lab.port} refused: authentication failed\n")
    assert lab.connections == 0 and lab.running


def test_the_agent_lists_and_monitors_through_the_gate(lab):
    listed = _agent(lab, action="list")
    assert (listed.returncode, listed.stdout) == (0, "servdb,\nservvirt1,\n")
    monitor = _agent(lab, action="monitor")
    assert (monitor.returncode, monitor.stdout) == (0, "")
    # The device's monitor fails with a wrong token (pacemaker shows it).
    assert _agent(lab, token="wrong-token-0123456789abcdefghijkl", action="monitor").returncode == 1


def test_the_agent_needs_its_token_and_the_gate(lab):
    run = _agent(lab, token="", action="status", plug="servvirt1")
    assert run.returncode == 1 and "missing option password" in run.stderr
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    run = _agent(lab, ipport=port, action="status", plug="servvirt1")
    assert run.returncode == 1 and run.stderr.startswith(f"fence_qmp: cannot reach the fence gate at 127.0.0.1:{port}")
    assert lab.connections == 0


def test_the_agent_reads_fence_agents_options():
    read = fence_qmp.read_options
    assert read(["fence_qmp"], io.StringIO("ip=10.210.3.1\nport=servdb\npasswd=secret\n")) == {
        "ip": "10.210.3.1", "port": "servdb", "plug": "servdb", "passwd": "secret", "password": "secret",
        "action": "reboot", "ipport": "4300"}
    assert read(["fence_qmp", "--ip=10.210.3.1", "--ipport=4301", "--plug=servvirt1", "--action=status"],
                io.StringIO("")) == {"ip": "10.210.3.1", "ipport": "4301", "plug": "servvirt1", "action": "status"}


def test_the_agent_and_the_gate_compute_the_same_proof():
    assert fence_qmp.proof(TOKEN, "ab12", "qmp", "servdb") == qmp_gate.proof(TOKEN, "ab12", "qmp", "servdb")
    assert fence_qmp.proof(TOKEN, "ab12", "list") == qmp_gate.proof(TOKEN, "ab12", "list", "")
    assert fence_qmp.proof(TOKEN, "ab12", "qmp", "servdb") != fence_qmp.proof(TOKEN, "ab13", "qmp", "servdb")


def test_the_agent_metadata():
    run = subprocess.run([sys.executable, str(AGENT), "--action=metadata"], capture_output=True, text=True, timeout=30)
    root = ET.fromstring(run.stdout)
    assert {p.get("name") for p in root.iter("parameter")} >= {"ip", "ipport", "password", "plug"}
    assert {a.get("name") for a in root.iter("action")} >= {"on", "off", "reboot", "status", "list", "monitor"}


# The gate's pure parts.

def test_check_request():
    vms = {"servdb": "/x"}
    good = qmp_gate.proof(TOKEN, "n1", "qmp", "servdb")
    line = json.dumps({"request": "qmp", "vm": "servdb", "hmac": good}).encode() + b"\n"
    assert qmp_gate.check_request(line, "n1", TOKEN, vms) == ("qmp", "servdb")
    with pytest.raises(qmp_gate.Refused, match="authentication failed"):
        qmp_gate.check_request(line, "n2", TOKEN, vms)
    # The proof is checked first: an unknown VM is not told to a stranger.
    stranger = json.dumps({"request": "qmp", "vm": "other", "hmac": "00"}).encode()
    with pytest.raises(qmp_gate.Refused, match="authentication failed"):
        qmp_gate.check_request(stranger, "n1", TOKEN, vms)
    odd = json.dumps({"request": "qmp", "vm": "servdb", "hmac": "\u00e9" * 64}).encode()
    with pytest.raises(qmp_gate.Refused, match="authentication failed"):
        qmp_gate.check_request(odd, "n1", TOKEN, vms)
    with pytest.raises(qmp_gate.Refused, match="not JSON"):
        qmp_gate.check_request(b"\xff\xfe\n", "n1", TOKEN, vms)


def test_filter_command():
    assert qmp_gate.filter_command(b'{"execute": "system_reset", "arguments": {"x": 1}}\n') == (
        b'{"execute": "system_reset"}\n', None)
    forward, answer = qmp_gate.filter_command(b'{"execute": "quit", "id": 3}\n')
    assert forward is None and json.loads(answer)["id"] == 3


def test_gate_arguments():
    assert qmp_gate.parse_vms(["servdb=/a.qmp", "servvirt1=/b=c.qmp"]) == {"servdb": "/a.qmp", "servvirt1": "/b=c.qmp"}
    for bad in (["servdb"], ["=/a"], ["servdb=/a", "servdb=/b"], []):
        with pytest.raises(ValueError):
            qmp_gate.parse_vms(bad)
    assert qmp_gate.parse_listen("10.210.3.1:4300") == ("10.210.3.1", 4300)
    assert qmp_gate.parse_listen("[fd00::1]:4300") == ("fd00::1", 4300)
    with pytest.raises(ValueError):
        qmp_gate.parse_listen("10.210.3.1")


def test_the_gate_refuses_to_start_with_a_short_token(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("short\n")
    run = subprocess.run([sys.executable, str(GATE), "--listen", "127.0.0.1:0", "--token-file", str(token_file),
                          "--vm", "servdb=/x.qmp"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "16 characters or more" in run.stderr
