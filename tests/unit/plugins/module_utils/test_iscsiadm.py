"""iscsiadm output parsers, fed with output captured from the VM lab's
open-iscsi 2.1.8 (Debian 12) against servdb's tgt target
(fixtures/iscsiadm/*.stdout/.stderr/.rc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import iscsiadm as u

FIXTURES = Path(__file__).parent / "fixtures" / "iscsiadm"
TARGET = "iqn.2026-11.org.havirt.lab:servdb.cluster"


def captured(name):
    return ((FIXTURES / f"{name}.stdout").read_text(), (FIXTURES / f"{name}.stderr").read_text(),
            int((FIXTURES / f"{name}.rc").read_text()))


def test_session_with_a_disk_lun_and_tgt_controller_lun():
    out, err, rc = captured("session-P3-logged-in")
    assert rc == 0
    sessions = u.parse_sessions(out)
    assert len(sessions) == 1
    session = sessions[0]
    assert (session["target"], session["address"], session["port"], session["tpgt"]) == (TARGET, "10.210.3.10", 3260, 1)
    assert session["sid"] == 1
    assert session["state"] == "LOGGED_IN"
    assert session["connection_state"] == "LOGGED IN"
    assert session["iface"] == "default"
    assert session["username"] == "havirt-lab"
    # tgt's LUN 0 is its controller: no disk; LUN 1 is the shared disk.
    assert [(lun["lun"], lun["disk"], lun["state"]) for lun in session["luns"]] == [(0, "", ""), (1, "sda", "running")]
    assert session["luns"][1]["host"] == 6


@pytest.mark.parametrize("name, state, connection, internal", [
    # The VM lab (open-iscsi 2.1.11, LIO): the session as status.yml reads it,
    ("session-P1-logged-in", "LOGGED_IN", "LOGGED IN", "NO CHANGE"),
    # and 30 s after the storage node's power went (its QEMU quit).
    ("session-P1-failed", "FAILED", "TRANSPORT WAIT", "REOPEN"),
])
def test_a_session_s_state_is_read_from_the_short_listing(name, state, connection, internal):
    out, err, rc = captured(name)
    assert rc == 0 and not err
    (session,) = u.parse_sessions(out)
    assert (session["state"], session["connection_state"], session["internal_state"]) == (state, connection, internal)
    assert (session["target"], session["address"], session["port"], session["sid"]) == (
        "iqn.2026-11.org.havirt.lab:servdb.cluster", "10.210.3.10", 3260, 1)
    assert session["luns"] == []  # -P 1 lists no LUN


def test_no_active_sessions_is_rc_21_with_nothing_to_parse():
    out, err, rc = captured("session-none")
    assert rc == 21 and out == ""
    assert "No active sessions" in err
    assert u.parse_sessions(out) == []
    assert u.explain_exit_code(rc).startswith("no records")


def test_find_session_matches_target_and_portal():
    sessions = u.parse_sessions(captured("session-P3-logged-in")[0])
    assert u.find_session(sessions, TARGET, "10.210.3.10", 3260) is sessions[0]
    assert u.find_session(sessions, TARGET, "10.210.3.99", 3260) is None
    assert u.find_session(sessions, TARGET, "10.210.3.10", 3261) is None
    assert u.find_session(sessions, "iqn.2026-11.org.example:other", "10.210.3.10", 3260) is None


@pytest.mark.parametrize("name", ["discovery-nonpersistent", "discovery-new-existing", "node-list"])
def test_portal_lists(name):
    out, err, rc = captured(name)
    assert rc == 0
    assert u.parse_portal_list(out) == [{"address": "10.210.3.10", "port": 3260, "tpgt": 1, "target": TARGET}]


def test_portal_list_with_ipv6_and_warnings():
    text = ("iscsiadm: some warning\n"
            "[fd00::10]:3260,1 iqn.2026-11.org.example:a\n"
            "192.168.0.10:3261,-1 iqn.2026-11.org.example:b\n")
    assert u.parse_portal_list(text) == [
        {"address": "fd00::10", "port": 3260, "tpgt": 1, "target": "iqn.2026-11.org.example:a"},
        {"address": "192.168.0.10", "port": 3261, "tpgt": -1, "target": "iqn.2026-11.org.example:b"},
    ]


def test_discovery_on_a_closed_port_explains_itself():
    out, err, rc = captured("discovery-closed-port")
    assert rc == 11 and u.parse_portal_list(out) == []
    assert "Connection refused" in err
    assert "target listening" in u.explain_exit_code(rc)


def test_node_record_with_secrets_shown():
    out, err, rc = captured("node-record-S")
    record = u.parse_node_record(out)
    assert record["node.name"] == TARGET
    assert record["node.startup"] == "automatic"
    assert record["node.session.auth.authmethod"] == "CHAP"
    assert record["node.session.auth.username"] == "havirt-lab"
    assert record["node.session.auth.password"] == "lab-only-chap-secret"
    assert record["node.session.auth.password_in"] == ""
    assert record["node.session.timeo.replacement_timeout"] == "120"
    assert record["node.conn[0].address"] == "10.210.3.10"
    assert "# BEGIN RECORD 2.1.8" not in record


def test_node_record_without_show_masks_the_secret():
    record = u.parse_node_record(captured("node-record")[0])
    assert record["node.session.auth.password"] == "********"


def test_missing_record_is_rc_21():
    out, err, rc = captured("node-record-missing")
    assert rc == 21 and u.parse_node_record(out) == {}
    assert "No records found" in err


@pytest.mark.parametrize("name,rc,words", [
    ("login-auth-failure", 24, "authorization failure"),
    ("update-unknown-setting", 7, "invalid argument"),
    ("logout-not-logged-in", 21, "no records"),
])
def test_error_outputs_and_their_explanations(name, rc, words):
    out, err, got = captured(name)
    assert got == rc
    assert words in u.explain_exit_code(rc)


def test_settings_to_change_and_secret_safe_diff():
    record = u.parse_node_record(captured("node-record-S")[0])
    wanted = {"node.startup": "automatic", "node.session.auth.password": "a-new-secret-value",
              "node.session.timeo.replacement_timeout": "60", "node.session.bogus": "1"}
    changes = u.settings_to_change(record, wanted)
    assert changes == [("node.session.auth.password", "lab-only-chap-secret", "a-new-secret-value"),
                       ("node.session.timeo.replacement_timeout", "120", "60"),
                       ("node.session.bogus", None, "1")]
    names = list(wanted)
    secrets = ("node.session.auth.password",)
    before = u.render_settings(record, names, secrets)
    after = u.render_settings(dict(record, **wanted), names, secrets, {"node.session.auth.password"})
    assert "secret" not in before + after.replace("(new value)", "")
    assert "lab-only-chap-secret" not in before and "a-new-secret-value" not in after
    assert "node.session.auth.password = ********\n" in before
    assert "node.session.auth.password = ******** (new value)\n" in after
    assert "node.session.bogus = (not set)" in before


def test_same_settings_change_nothing():
    record = u.parse_node_record(captured("node-record-S")[0])
    assert u.settings_to_change(record, {"node.startup": "automatic", "node.session.auth.username": "havirt-lab"}) == []


def test_portal_and_by_path_names():
    assert u.portal_string("10.210.3.10", 3260) == "10.210.3.10:3260"
    assert u.portal_string("fd00::10", 3260) == "[fd00::10]:3260"
    assert u.by_path_name("10.210.3.10", 3260, TARGET, 1) == (
        "/dev/disk/by-path/ip-10.210.3.10:3260-iscsi-iqn.2026-11.org.havirt.lab:servdb.cluster-lun-1")
    # udev's path_id prints the kernel's persistent address as it is: an
    # IPv6 address without brackets, a record's host name as the name.
    assert u.by_path_name("fd00::10", 3260, TARGET, 1) == (
        "/dev/disk/by-path/ip-fd00::10:3260-iscsi-iqn.2026-11.org.havirt.lab:servdb.cluster-lun-1")
    assert u.by_path_name("servdb", 3260, TARGET, 1).startswith("/dev/disk/by-path/ip-servdb:3260-iscsi-")


# A portal given by host name. The session below is the captured one as it
# reads for a record made by name (`iscsiadm -m node -o new -p servdb:3260`):
# the kernel's persistent address is the record's (the name), which
# iscsiadm prints in brackets because it has no dot (open-iscsi
# session_info.c); the current portal is the address iscsid connected to.
RESOLVED = [(2, 1, 6, "", ("10.210.3.10", 3260)), (10, 1, 6, "", ("fd00::10", 3260, 0, 0)),
            (2, 1, 6, "", ("10.210.3.10", 3260))]


def _session_by_name():
    out = captured("session-P3-logged-in")[0]
    assert "\tPersistent Portal: 10.210.3.10:3260,1\n" in out
    return out.replace("\tPersistent Portal: 10.210.3.10:3260,1\n", "\tPersistent Portal: [servdb]:3260,1\n")


def test_sessions_show_the_records_persistent_portal():
    session = u.parse_sessions(captured("session-P3-logged-in")[0])[0]
    assert (session["persistent_address"], session["persistent_port"]) == ("10.210.3.10", 3260)
    session = u.parse_sessions(_session_by_name())[0]
    assert (session["address"], session["persistent_address"], session["persistent_port"]) == \
        ("10.210.3.10", "servdb", 3260)


def test_a_host_name_resolves_to_itself_and_each_address_once(monkeypatch):
    asked = []

    def getaddrinfo(host, port, family=0, kind=0, *rest):
        asked.append((host, port, kind))
        return RESOLVED
    monkeypatch.setattr(u.socket, "getaddrinfo", getaddrinfo)
    assert u.portal_addresses("servdb", 3260) == ["servdb", "10.210.3.10", "fd00::10"]
    assert asked == [("servdb", 3260, u.socket.SOCK_STREAM)]


@pytest.mark.parametrize("portal,addresses", [("10.210.3.10", ["10.210.3.10"]), ("fd00::10", ["fd00::10"]),
                                              ("[fd00::10]", ["fd00::10"])])
def test_an_address_is_not_resolved(monkeypatch, portal, addresses):
    def getaddrinfo(*args):
        raise AssertionError("an address was resolved")
    monkeypatch.setattr(u.socket, "getaddrinfo", getaddrinfo)
    assert u.portal_addresses(portal, 3260) == addresses


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    def getaddrinfo(*args):
        raise u.socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(u.socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(u.PortalNotResolved) as failed:
        u.portal_addresses("servbd", 3260)
    assert "the portal servbd does not resolve on this host (" in str(failed.value)
    assert "Name or service not known" in str(failed.value)


def test_the_session_of_a_host_name_is_found_by_its_addresses():
    """The session shows the address iscsid connected to: a portal given
    by name matches it through the name's addresses (not through the
    name, which no session shows as its current portal)."""
    sessions = u.parse_sessions(captured("session-P3-logged-in")[0])
    assert u.find_session(sessions, TARGET, "servdb", 3260) is None
    assert u.find_session(sessions, TARGET, ["servdb", "10.210.3.10", "fd00::10"], 3260) is sessions[0]
    assert u.find_session(sessions, TARGET, ["servdb", "fd00::10"], 3260) is None
    assert u.find_session(sessions, TARGET, ["servdb", "10.210.3.10"], 3261) is None


def test_the_session_of_a_record_made_by_name_is_found_by_the_name():
    """Even when the name resolves elsewhere now: the session was made
    from the name's record."""
    sessions = u.parse_sessions(_session_by_name())
    assert u.find_session(sessions, TARGET, ["servdb", "10.210.9.9"], 3260) is sessions[0]
    assert u.find_session(sessions, TARGET, ["servdb2", "10.210.9.9"], 3260) is None


def test_addresses_are_compared_as_addresses():
    session = dict(u.parse_sessions(captured("session-P3-logged-in")[0])[0], address="fd00::10",
                   persistent_address="fd00::10")
    assert u.find_session([session], TARGET, "fd00:0:0::10", 3260) is session
    assert u.find_session([session], TARGET, "[FD00::10]", 3260) is session
    assert u.same_address("SERVDB", "servdb") and not u.same_address("servdb", "10.210.3.10")


def test_discovery_of_a_host_name_offers_the_target_by_address():
    offered = u.parse_portal_list(captured("discovery-nonpersistent")[0])
    assert u.find_offered(offered, TARGET, ["servdb", "10.210.3.10"], 3260) == offered[0]
    assert u.find_offered(offered, TARGET, ["servdb"], 3260) is None
    assert u.find_offered(offered, "iqn.2026-11.org.example:other", ["servdb", "10.210.3.10"], 3260) is None


def test_the_record_of_a_host_name_is_the_names_or_an_addresss():
    """`iscsiadm -m node` captured with records made statically (open-iscsi
    2.1.8, Debian 12): one by name, which iscsiadm lists in brackets."""
    out, err, rc = captured("node-list-static-by-name")
    records = u.parse_portal_list(out)
    assert {"address": "servdb", "port": 3260, "tpgt": 4294967295, "target": TARGET} in records
    assert u.record_portal(records, TARGET, ["servdb", "10.210.3.10"], 3260) == "servdb"
    # A record discovery made (under the address the target named).
    discovered = u.parse_portal_list(captured("node-list")[0])
    assert u.record_portal(discovered, TARGET, ["servdb", "10.210.3.10"], 3260) == "10.210.3.10"
    assert u.record_portal(discovered, TARGET, ["servdb", "fd00::10"], 3260) is None
    assert u.record_portal(records, "iqn.2026-11.org.havirt.lab:v6", ["v6-name", "fd00:0::10"], 3260) == "fd00::10"


def test_the_record_file_is_where_open_iscsi_keeps_it():
    record = u.parse_node_record(captured("node-record-S")[0])
    portal = f"/etc/iscsi/nodes/{TARGET}/10.210.3.10,3260,1"
    assert u.record_files(record) == [portal + "/default", portal]
    assert u.record_files(record, "/var/lib/iscsi/nodes/")[0] == f"/var/lib/iscsi/nodes/{TARGET}/10.210.3.10,3260,1/default"


def test_a_static_record_has_no_tpgt_in_its_path():
    """`iscsiadm -m node -T T -p 10.9.9.9:3260 -o new` on open-iscsi 2.1.8
    (Debian 12) wrote the file /etc/iscsi/nodes/T/10.9.9.9,3260."""
    record = dict(u.parse_node_record(captured("node-record-S")[0]), **{"node.tpgt": "-1"})
    assert u.record_files(record) == [f"/etc/iscsi/nodes/{TARGET}/10.210.3.10,3260/default",
                                      f"/etc/iscsi/nodes/{TARGET}/10.210.3.10,3260"]


@pytest.mark.parametrize("key, value", [("node.name", ""), ("node.tpgt", None), ("iface.iscsi_ifacename", "../x"),
                                        ("node.conn[0].address", "..")])
def test_no_record_file_for_a_record_that_cannot_name_it(key, value):
    record = u.parse_node_record(captured("node-record-S")[0])
    if value is None:
        del record[key]
    else:
        record[key] = value
    assert u.record_files(record) == []


def test_a_secret_is_set_in_place_and_nothing_else_moves():
    text = captured("node-record-S")[0]
    new = u.set_record_values(text, {"node.session.auth.password": "new-secret-2"})
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
    assert changed == [("node.session.auth.password = lab-only-chap-secret", "node.session.auth.password = new-secret-2")]
    assert u.parse_node_record(new)["node.session.auth.password"] == "new-secret-2"
    assert new.endswith("# END RECORD\n")


def test_a_missing_setting_is_added_before_the_end_of_the_record_and_empty_is_written_as_iscsiadm_does():
    text = "\n".join(line for line in captured("node-record-S")[0].splitlines() if "password_in" not in line) + "\n"
    new = u.set_record_values(text, {"node.session.auth.password_in": "mutual-3", "node.session.auth.password": ""})
    lines = new.splitlines()
    assert lines[-2:] == ["node.session.auth.password_in = mutual-3", "# END RECORD"]
    assert "node.session.auth.password = <empty>" in lines
    record = u.parse_node_record(new)
    assert (record["node.session.auth.password"], record["node.session.auth.password_in"]) == ("", "mutual-3")


def test_the_real_record_file_takes_a_secret_and_keeps_everything_else():
    """The record file open-iscsi 2.1.11 wrote in the VM lab (Debian 13)."""
    text = (FIXTURES / "record-file-2.1.11.txt").read_text()
    new = u.set_record_values(text, {"node.session.auth.password": "new-secret-2"})
    assert [(a, b) for a, b in zip(text.splitlines(), new.splitlines()) if a != b] == [
        ("node.session.auth.password = lab-only-chap-secret", "node.session.auth.password = new-secret-2")]
    assert new.splitlines()[0] == "# BEGIN RECORD 2.1.11" and new.endswith("# END RECORD\n")
    assert u.record_files(u.parse_node_record(text), "/var/lib/iscsi/nodes")[0] == (
        f"/var/lib/iscsi/nodes/{TARGET}/10.210.3.10,3260,1/default")
