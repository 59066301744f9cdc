"""The container lab's fence agent (tools/lab/files/fence_podman) speaks
HTTP to podman's API over a unix socket only: run as pacemaker runs it
(options on stdin), against a stand-in libpod API on a unix socket in a
temporary directory that records every request and keeps each container's
state as podman does."""

from __future__ import annotations

import http.server
import importlib.machinery
import importlib.util
import io
import json
import socketserver
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "tools" / "lab" / "files" / "fence_podman"
# The agent as a module, leaving no bytecode next to it in tools/.
_LOADER = importlib.machinery.SourceFileLoader("lab_fence_podman", str(AGENT))
fence_podman = importlib.util.module_from_spec(importlib.util.spec_from_loader("lab_fence_podman", _LOADER))
_WRITE_BYTECODE, sys.dont_write_bytecode = sys.dont_write_bytecode, True
try:
    _LOADER.exec_module(fence_podman)
finally:
    sys.dont_write_bytecode = _WRITE_BYTECODE

API = "/v4.0.0/libpod"
NODES = ("havirt-servdb", "havirt-servvirt1", "havirt-servvirt2")


class FakeLibpod(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The few libpod calls the agent makes, with podman's answers: kill of
    a stopped container 409, start of a running one 304, unknown 404."""

    daemon_threads = True

    def __init__(self, path):
        self.running = {name: True for name in NODES}
        self.requests = []
        super().__init__(str(path), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # a unix peer has no address to log
        pass

    def _answer(self, code, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.requests.append((self.command, self.path, self.headers.get("Host"),
                                     self.headers.get("Content-Length")))

    def do_GET(self):
        self._record()
        running = self.server.running
        if self.path == f"{API}/containers/json?all=true":
            return self._answer(200, [{"Names": [name], "State": "running" if on else "exited"}
                                      for name, on in running.items()])
        for name, on in running.items():
            if self.path == f"{API}/containers/{name}/json":
                return self._answer(200, {"Name": name, "State": {"Running": on}})
        return self._answer(404, {"cause": "no such container"})

    def do_POST(self):
        self._record()
        running = self.server.running
        for name in running:
            if self.path == f"{API}/containers/{name}/kill?signal=KILL":
                if not running[name]:
                    return self._answer(409, {"cause": "container state improper"})
                running[name] = False
                return self._answer(204)
            if self.path == f"{API}/containers/{name}/start":
                if running[name]:
                    return self._answer(304)
                running[name] = True
                return self._answer(204)
        return self._answer(404, {"cause": "no such container"})


@pytest.fixture
def libpod(tmp_path):
    server = FakeLibpod(tmp_path / "podman.sock")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _agent(stdin):
    return subprocess.run([sys.executable, str(AGENT)], input=stdin, capture_output=True, text=True, timeout=30)


def _options(server, **extra):
    lines = {"unix_socket": server.server_address, **extra}
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def test_reboot_kills_then_starts_the_container_over_the_unix_socket(libpod):
    run = _agent(_options(libpod, action="reboot", plug="havirt-servvirt1"))
    assert (run.returncode, run.stdout, run.stderr) == (0, "Success: Powered OFF and ON\n", "")
    container = f"{API}/containers/havirt-servvirt1"
    assert libpod.requests == [
        ("POST", f"{container}/kill?signal=KILL", "localhost", "0"),
        ("GET", f"{container}/json", "localhost", None),
        ("POST", f"{container}/start", "localhost", "0"),
        ("GET", f"{container}/json", "localhost", None),
    ]
    assert libpod.running["havirt-servvirt1"]


def test_off_then_status_then_on(libpod):
    assert _agent(_options(libpod, action="off", port="havirt-servdb")).returncode == 0
    assert not libpod.running["havirt-servdb"]
    status = _agent(_options(libpod, action="status", plug="havirt-servdb"))
    assert (status.returncode, status.stdout) == (2, "Status: OFF\n")
    # Killing it again is an error for podman; the state decides.
    assert _agent(_options(libpod, action="off", plug="havirt-servdb")).returncode == 0
    assert _agent(_options(libpod, action="on", plug="havirt-servdb")).returncode == 0
    status = _agent(_options(libpod, action="status", plug="havirt-servdb"))
    assert (status.returncode, status.stdout) == (0, "Status: ON\n")


def test_list_and_monitor(libpod):
    libpod.running["havirt-servvirt2"] = False
    listed = _agent(_options(libpod, action="list"))
    assert (listed.returncode, listed.stdout) == (0, "havirt-servdb,\nhavirt-servvirt1,\nhavirt-servvirt2,\n")
    states = _agent(_options(libpod, action="list-status"))
    assert states.stdout == "havirt-servdb,on\nhavirt-servvirt1,on\nhavirt-servvirt2,off\n"
    monitor = _agent(_options(libpod, action="monitor"))
    assert (monitor.returncode, monitor.stdout) == (0, "")
    assert [path for _, path, _, _ in libpod.requests] == [f"{API}/containers/json?all=true"] * 3


def test_an_unknown_container_fails(libpod):
    run = _agent(_options(libpod, action="status", plug="havirt-nope"))
    assert run.returncode == 1
    assert run.stderr == "fence_podman: no container named havirt-nope\n"


def test_a_missing_socket_fails_and_names_it(tmp_path):
    path = tmp_path / "absent.sock"
    run = _agent(f"action=status\nplug=havirt-servdb\nunix_socket={path}\n")
    assert run.returncode == 1
    assert run.stderr.startswith(f"fence_podman: cannot reach the libpod API at {path}: ")


@pytest.mark.parametrize("tcp", ["ip=10.210.1.1\n", "ipport=8780\n", "ip=10.210.1.1\nipport=8780\n"])
def test_the_former_tcp_options_are_refused_and_nothing_is_called(libpod, tcp):
    run = _agent(_options(libpod, action="off", plug="havirt-servdb") + tcp)
    assert run.returncode == 1
    assert "podman's API is no longer served over TCP" in run.stderr
    assert libpod.requests == [] and libpod.running["havirt-servdb"]


def test_options_from_stdin_and_arguments():
    read = fence_podman.read_options
    assert read(["fence_podman"], io.StringIO("action=off\nport=havirt-servdb\n# a comment\n")) == {
        "action": "off", "port": "havirt-servdb", "plug": "havirt-servdb",
        "unix_socket": "/run/havirt-lab-fence/podman.sock"}
    assert read(["fence_podman", "--unix-socket=/tmp/x.sock", "--plug=havirt-servvirt1"], io.StringIO("")) == {
        "unix_socket": "/tmp/x.sock", "plug": "havirt-servvirt1", "action": "reboot"}
    # An empty value (an unset inventory variable) falls back to the default.
    assert read(["fence_podman"], io.StringIO("unix_socket=\n"))["unix_socket"] == fence_podman.DEFAULT_SOCKET


def test_the_default_socket_is_where_the_lab_mounts_it():
    import yaml

    lab = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all" / "lab.yml").read_text())
    api = lab["havirt_lab_fence_api"]
    assert fence_podman.DEFAULT_SOCKET == f"{api['node_dir']}/{api['socket']}"


def test_the_metadata_offers_the_unix_socket_and_no_tcp_address():
    run = subprocess.run([sys.executable, str(AGENT), "--action=metadata"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0
    parameters = {p.get("name"): p for p in ET.fromstring(run.stdout).iter("parameter")}
    assert "unix_socket" in parameters and not {"ip", "ipport"} & set(parameters)
    assert parameters["unix_socket"].find("content").get("default") == fence_podman.DEFAULT_SOCKET


def test_a_reboot_with_a_power_on_delay_returns_once_off_and_starts_the_node_later(libpod):
    """The fencer reads the agent's stdout and stderr until every copy is
    closed: the detached power-on must not hold them for the delay (run with
    pipes, as pacemaker runs it, and timed). The delay is long beside the
    agent's own start (over 1.5 s seen with CI's lab on the same 2 cores)."""
    import time

    delay = 6
    started = time.monotonic()
    run = _agent(_options(libpod, action="reboot", plug="havirt-servvirt2", power_on_delay=delay))
    returned = time.monotonic() - started
    assert (run.returncode, run.stdout, run.stderr) == (0, f"Success: Powered OFF, ON in {delay}s\n", "")
    assert returned < delay, f"the agent's output was held {returned:.1f} s"
    assert not libpod.running["havirt-servvirt2"]
    deadline = started + delay + 15
    while not libpod.running["havirt-servvirt2"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert libpod.running["havirt-servvirt2"], "the container was not started after the delay"
    assert time.monotonic() - started >= delay
    assert [method for method, _, _, _ in libpod.requests][0] == "POST"
    assert libpod.requests[-2][:2] == ("POST", f"{API}/containers/havirt-servvirt2/start")


@pytest.mark.parametrize("delay, message", [("soon", "power_on_delay 'soon' is not a number of seconds"),
                                            ("-3", "power_on_delay -3 is negative")])
def test_a_bad_power_on_delay_is_refused_before_any_call(libpod, delay, message):
    run = _agent(_options(libpod, action="reboot", plug="havirt-servdb", power_on_delay=delay))
    assert (run.returncode, run.stderr) == (1, f"fence_podman: {message}\n")
    assert libpod.requests == [] and libpod.running["havirt-servdb"]


def test_the_metadata_declares_the_power_on_delay():
    run = subprocess.run([sys.executable, str(AGENT), "--action=metadata"], capture_output=True, text=True, timeout=30)
    parameters = {p.get("name"): p for p in ET.fromstring(run.stdout).iter("parameter")}
    assert parameters["power_on_delay"].find("content").get("default") == "0"
