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
