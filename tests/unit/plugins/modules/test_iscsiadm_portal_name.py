"""havirt.cluster.iscsiadm with the portal given by host name (its docs
allow it). iscsiadm keeps a discovered record under the address the
target names and reports each session by the address iscsid connected
to, so a name never matched either: each run discovered and logged in
again (changed every time) and the wait for the LUNs never ended. Here a
fake iscsiadm keeps a node database as iscsiadm does (records by the
portal they were made with) and answers with output captured from the VM
lab; the resolver is replaced, so no name is looked up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.havirt.cluster.plugins.module_utils import iscsiadm as u
from ansible_collections.havirt.cluster.plugins.modules import iscsiadm as m

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "iscsiadm"
TARGET = "iqn.2026-11.org.havirt.lab:servdb.cluster"
ADDRESS = "10.210.3.10"
CHAP = dict(startup="automatic", chap_username="havirt-lab", chap_password="lab-only-chap-secret",
            settings={"node.session.timeo.replacement_timeout": 120})


def captured(name):
    return (int((FIXTURES / f"{name}.rc").read_text()), (FIXTURES / f"{name}.stdout").read_text(),
            (FIXTURES / f"{name}.stderr").read_text())


class Initiator:
    """iscsiadm and its node database: `records` holds the portals (as
    given to -p) that have a record of TARGET; discovery adds the one the
    target names (its address); a login through a record makes the session,
    whose persistent portal is that record's (the kernel's, as the captured
    session shows it, with iscsiadm's brackets for an address without a dot)."""

    def __init__(self, records=(), session=None):
        self.records = set(records)
        self.session = session
        self.calls = []

    def __call__(self, module, args, **kwargs):
        argv = args[1:]
        self.calls.append(argv)
        portal = argv[argv.index("-p") + 1] if "-p" in argv else None
        if argv == ["-m", "node"]:
            lines = []
            for known in sorted(self.records):
                address, port = known.rsplit(":", 1)
                lines.append(f"{address if '.' in address else '[' + address + ']'}:{port},4294967295 {TARGET}\n")
            return (0, "".join(lines), "") if lines else captured("node-record-missing")
        if argv[:2] == ["-m", "session"]:
            if self.session is None:
                return captured("session-none")
            rc, out, err = captured("session-P3-logged-in")
            address = self.session.rsplit(":", 1)[0]
            shown = address if "." in address else f"[{address}]"
            return rc, out.replace(f"Persistent Portal: {ADDRESS}:3260,1", f"Persistent Portal: {shown}:3260,1"), err
        if argv[:2] == ["-m", "discovery"]:
            if "new" in argv:
                self.records.add(f"{ADDRESS}:3260")
            return captured("discovery-nonpersistent")
        if "-S" in argv:
            return captured("node-record-S" if portal in self.records else "node-record-missing")
        if argv[-2:] == ["-o", "new"]:
            self.records.add(portal)
            return 0, "", ""
        if "--login" in argv:
            assert portal in self.records, f"login through {portal}, which has no record"
            self.session = portal
            return 0, "", ""
        if "update" in argv:
            return 0, "", ""
        raise AssertionError(f"unexpected iscsiadm call {argv}")

    def through(self, what):
        """The -p of the calls that contain `what`."""
        return [c[c.index("-p") + 1] for c in self.calls if what in c and "-p" in c]


def run(monkeypatch, capsys, fake, resolved=(ADDRESS,), **args):
    params = dict(portal="servdb", target=TARGET, device_timeout=0)
    params.update(args)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": params})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/sbin/" + name)

    def run_command(self, argv, **kwargs):
        return fake(self, argv, **kwargs)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)

    def getaddrinfo(host, port, family=0, kind=0, *rest):
        if host != "servdb" or not resolved:
            raise u.socket.gaierror(-2, "Name or service not known")
        return [(10 if ":" in a else 2, 1, 6, "", (a, port)) for a in resolved]
    monkeypatch.setattr(u.socket, "getaddrinfo", getaddrinfo)
    fake.calls.clear()
    with pytest.raises(SystemExit):
        m.main()
    return json.loads(capsys.readouterr().out)


def test_discovered_through_a_name_then_nothing_changes(monkeypatch, capsys):
    fake = Initiator()
    first = run(monkeypatch, capsys, fake, **CHAP)
    assert first["changed"] is True, first
    assert fake.through("discovery") == ["servdb:3260"]
    # The record discovery made is the target's address: it is configured
    # and logged in through.
    assert fake.through("--login") == [f"{ADDRESS}:3260"]
    assert first["session"]["address"] == ADDRESS
    again = run(monkeypatch, capsys, fake, **CHAP)
    assert again["changed"] is False, again
    assert not any(c[:2] == ["-m", "discovery"] or "--login" in c for c in fake.calls), fake.calls
    assert again["session"]["sid"] == 1
    assert again["devices"] == [f"/dev/disk/by-path/ip-{ADDRESS}:3260-iscsi-{TARGET}-lun-1"]


def test_a_static_record_by_name_logs_in_once(monkeypatch, capsys):
    """discover=never: the record keeps the name (iscsid resolves it at each
    login); the session shows the address, its persistent portal the name."""
    fake = Initiator()
    first = run(monkeypatch, capsys, fake, discover="never", **CHAP)
    assert first["changed"] is True
    assert fake.through("new") == ["servdb:3260"] and fake.through("--login") == ["servdb:3260"]
    again = run(monkeypatch, capsys, fake, discover="never", **CHAP)
    assert again["changed"] is False, again
    assert not any("--login" in c or "new" in c for c in fake.calls), fake.calls
    assert (again["session"]["address"], again["session"]["persistent_address"]) == (ADDRESS, "servdb")
    # udev names the disk after the record's (persistent) portal.
    assert again["devices"] == [f"/dev/disk/by-path/ip-servdb:3260-iscsi-{TARGET}-lun-1"]


def test_a_session_through_another_address_of_the_name_counts(monkeypatch, capsys):
    """The name resolves to an IPv6 and an IPv4 address; the session (made
    from the discovered record) is through the IPv4 one."""
    fake = Initiator(records={f"{ADDRESS}:3260"}, session=f"{ADDRESS}:3260")
    result = run(monkeypatch, capsys, fake, resolved=("fd00::10", ADDRESS), **CHAP)
    assert result["changed"] is False, result
    assert not any("--login" in c for c in fake.calls)


def test_logged_out_through_the_record_of_the_name(monkeypatch, capsys):
    fake = Initiator(records={f"{ADDRESS}:3260"}, session=f"{ADDRESS}:3260")
    logout = []

    def call(module, args, **kwargs):
        if "--logout" in args:
            logout.append(args[args.index("-p") + 1])
            fake.session = None
            return captured("logout")
        return fake(module, args, **kwargs)
    call.calls = fake.calls
    result = run(monkeypatch, capsys, call, state="logged_out")
    assert result["changed"] is True and logout == [f"{ADDRESS}:3260"]


def test_a_name_that_does_not_resolve_is_refused_before_any_call(monkeypatch, capsys):
    fake = Initiator()
    result = run(monkeypatch, capsys, fake, resolved=(), **CHAP)
    assert result["failed"] is True
    assert result["msg"].startswith("the portal servdb does not resolve on this host (")
    assert fake.calls == []
