"""havirt.cluster.iscsiadm's decisions, with iscsiadm replaced by a fake
that answers with output captured from the VM lab. The real thing runs in
the VM lab (molecule/vmlab); these pin the defects of
community.general.open_iscsi that the module must not have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.havirt.cluster.plugins.modules import iscsiadm as m

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "iscsiadm"
TARGET = "iqn.2026-11.org.havirt.lab:servdb.cluster"
PORTAL = "10.210.3.10:3260"


def captured(name):
    return (int((FIXTURES / f"{name}.rc").read_text()), (FIXTURES / f"{name}.stdout").read_text(),
            (FIXTURES / f"{name}.stderr").read_text())


class FakeIscsiadm:
    """Answers iscsiadm argv with captured output; records every call."""

    def __init__(self, record=True, session=True):
        self.record = record
        self.session = session
        self.calls = []

    def __call__(self, module, args, **kwargs):
        argv = args[1:]
        self.calls.append(argv)
        if argv[:2] == ["-m", "session"]:
            return captured("session-P3-logged-in" if self.session else "session-none")
        if argv[:2] == ["-m", "discovery"]:
            self.record = self.record or "nonpersistent" not in argv
            return captured("discovery-nonpersistent")
        if "-S" in argv:
            return captured("node-record-S" if self.record else "node-record-missing")
        if "--login" in argv:
            self.session = True
            return 0, "", ""
        if "--logout" in argv:
            self.session = False
            return captured("logout")
        if "update" in argv:
            return 0, "", ""
        raise AssertionError(f"unexpected iscsiadm call {argv}")

    def writes(self):
        return [c for c in self.calls if "update" in c or "--login" in c or "--logout" in c or "delete" in c
                or (c[:2] == ["-m", "discovery"] and "nonpersistent" not in c)]


def run(monkeypatch, capsys, fake, check=False, diff=False, **args):
    params = dict(portal="10.210.3.10", target=TARGET, device_timeout=0, _ansible_check_mode=check, _ansible_diff=diff)
    params.update(args)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": params})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/sbin/" + name)

    def run_command(self, args, **kwargs):
        return fake(self, args, **kwargs)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    with pytest.raises(SystemExit):
        m.main()
    return json.loads(capsys.readouterr().out)


CHAP = dict(startup="automatic", chap_username="havirt-lab", chap_password="lab-only-chap-secret",
            settings={"node.session.timeo.replacement_timeout": 120})


def test_converged_host_is_unchanged_and_never_rediscovers(monkeypatch, capsys):
    fake = FakeIscsiadm()
    result = run(monkeypatch, capsys, fake, **CHAP)
    assert result["changed"] is False, result
    assert fake.writes() == []
    assert not any(c[:2] == ["-m", "discovery"] for c in fake.calls)
    assert result["session"]["sid"] == 1
    assert result["session"]["luns"][1]["device"] == "/dev/sda"


def test_login_goes_through_the_given_portal(monkeypatch, capsys):
    fake = FakeIscsiadm(session=False)
    result = run(monkeypatch, capsys, fake, **CHAP)
    assert result["changed"] is True
    logins = [c for c in fake.calls if "--login" in c]
    assert logins == [["-m", "node", "-T", TARGET, "-p", PORTAL, "--login"]]
    # Every record update names the portal too.
    assert all(c[c.index("-p") + 1] == PORTAL for c in fake.calls if "update" in c)


def test_missing_record_is_discovered_then_configured(monkeypatch, capsys):
    fake = FakeIscsiadm(record=False, session=False)
    result = run(monkeypatch, capsys, fake, **CHAP)
    assert result["changed"] is True
    assert ["-m", "discovery", "-t", "sendtargets", "-p", PORTAL, "-o", "new"] in fake.calls
    assert result["discovered"][0]["target"] == TARGET


def test_static_record_without_discovery(monkeypatch, capsys):
    fake = FakeIscsiadm(record=False, session=False)
    created = []

    def call(module, args, **kwargs):
        if args[-2:] == ["-o", "new"] and "node" in args:
            created.append(args[1:])
            fake.record = True
            return 0, "", ""
        return fake(module, args, **kwargs)
    result = run(monkeypatch, capsys, call, state="present", discover="never", **CHAP)
    assert result["changed"] is True
    assert created == [["-m", "node", "-T", TARGET, "-p", PORTAL, "-o", "new"]]
    assert not any(c[:2] == ["-m", "discovery"] for c in fake.calls)
    assert not any("--login" in c for c in fake.calls)


def test_changed_secret_is_written_not_shown_and_waits_for_next_login(monkeypatch, capsys):
    fake = FakeIscsiadm()
    args = dict(CHAP)
    args["chap_password"] = "another-secret-1"
    result = run(monkeypatch, capsys, fake, diff=True, **args)
    assert result["changed"] is True
    assert result["changed_settings"] == ["node.session.auth.password"]
    assert result["relogin_needed"] is True
    assert not any("--logout" in c for c in fake.calls)
    text = json.dumps(result)
    assert "another-secret-1" not in text and "lab-only-chap-secret" not in text
    assert "node.session.auth.password = ******** (new value)" in result["diff"]["after"]


def test_relogin_applies_a_change_now(monkeypatch, capsys):
    fake = FakeIscsiadm()
    args = dict(CHAP)
    args["startup"] = "manual"
    run(monkeypatch, capsys, fake, relogin=True, **args)
    assert [c[-1] for c in fake.writes()] == ["manual", "--logout", "--login"]


def test_check_mode_writes_nothing(monkeypatch, capsys):
    fake = FakeIscsiadm(record=False, session=False)
    result = run(monkeypatch, capsys, fake, check=True, diff=True, **CHAP)
    assert result["changed"] is True
    assert fake.writes() == []
    assert "record = absent" in result["diff"]["before"] and "session = logged in" in result["diff"]["after"]


def test_target_not_offered_fails_with_the_offered_list(monkeypatch, capsys):
    fake = FakeIscsiadm(record=False, session=False)
    result = run(monkeypatch, capsys, fake, target="iqn.2026-11.org.example:other", **CHAP)
    assert result["failed"] is True
    assert "does not offer the target iqn.2026-11.org.example:other" in result["msg"]
    assert TARGET in result["msg"] and "InitiatorName" in result["msg"]


def test_absent_logs_out_and_deletes(monkeypatch, capsys):
    fake = FakeIscsiadm()
    fake_delete = []

    def call(module, args, **kwargs):
        if "delete" in args:
            fake_delete.append(args)
            return 0, "", ""
        return fake(module, args, **kwargs)
    result = run(monkeypatch, capsys, call, state="absent")
    assert result["changed"] is True
    assert any("--logout" in c for c in fake.calls) and len(fake_delete) == 1


@pytest.mark.parametrize("args,words", [
    (dict(chap_username="u", chap_password=""), "chap_password is empty"),
    (dict(settings={"node.startup": "manual"}), "through its own option"),
])
def test_bad_input_fails_before_any_call(monkeypatch, capsys, args, words):
    fake = FakeIscsiadm()
    result = run(monkeypatch, capsys, fake, **args)
    assert result["failed"] is True and words in result["msg"]
    assert fake.calls == []


class FileBackedIscsiadm(FakeIscsiadm):
    """A fake whose node record (`-S`) is the record file in node_dir, as
    open-iscsi reads it; `stale` keeps answering with the captured record
    (a file iscsiadm does not read)."""

    def __init__(self, node_dir, stale=False, text=None, portal="10.210.3.10,3260,1", iface="default"):
        super().__init__()
        self.stale = stale
        text = text or captured("node-record-S")[1]
        self.path = node_dir / TARGET / portal / iface if iface else node_dir / TARGET / portal
        self.path.parent.mkdir(parents=True)
        self.path.write_text(text)
        self.path.chmod(0o600)

    def __call__(self, module, args, **kwargs):
        if "-S" in args[1:] and not self.stale:
            self.calls.append(args[1:])
            return 0, self.path.read_text(), ""
        return super().__call__(module, args, **kwargs)


def test_a_changed_secret_goes_into_the_record_file_never_on_a_command_line(monkeypatch, capsys, tmp_path):
    # The record file as open-iscsi 2.1.11 (Debian 13) wrote it in the VM lab, in the first place looked at.
    monkeypatch.setattr(m, "NODE_DIRS", (str(tmp_path / "var"), str(tmp_path)))
    fake = FileBackedIscsiadm(tmp_path / "var", text=(FIXTURES / "record-file-2.1.11.txt").read_text())
    before = fake.path.read_text().splitlines()
    args = {**CHAP, "chap_password": "another-secret-1"}
    result = run(monkeypatch, capsys, fake, **args)
    assert result["changed"] is True and result["changed_settings"] == ["node.session.auth.password"]
    assert not any("another-secret-1" in word for call in fake.calls for word in call)
    assert not any("update" in call for call in fake.calls)
    after = fake.path.read_text().splitlines()
    assert [(a, b) for a, b in zip(before, after) if a != b] == [
        ("node.session.auth.password = lab-only-chap-secret", "node.session.auth.password = another-secret-1")]
    assert fake.path.stat().st_mode & 0o777 == 0o600
    assert not [p.name for p in fake.path.parent.iterdir() if p.name != "default"]
    assert "another-secret-1" not in json.dumps(result)


def test_without_the_record_file_iscsiadm_sets_the_secret_with_a_warning(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(m, "NODE_DIRS", (str(tmp_path / "elsewhere"),))
    # The warning as the module gives it (ansible-core 2.19+ sends module_utils' warnings to the
    # controller's display once anything of the controller is imported, not into the result).
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning, *a, **k: warned.append(warning))
    fake = FakeIscsiadm()
    result = run(monkeypatch, capsys, fake, **{**CHAP, "chap_password": "another-secret-1"})
    assert result["changed"] is True
    assert any("another-secret-1" in call for call in fake.calls if "update" in call)
    assert any("on its command line" in warning for warning in warned), warned


def test_a_record_file_that_iscsiadm_does_not_read_back_fails(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(m, "NODE_DIRS", (str(tmp_path / "var"), str(tmp_path)))
    fake = FileBackedIscsiadm(tmp_path, stale=True)
    result = run(monkeypatch, capsys, fake, **{**CHAP, "chap_password": "another-secret-1"})
    assert result["failed"] is True
    assert "does not hold the new node.session.auth.password" in result["msg"]
    assert "another-secret-1" not in json.dumps(result)


def test_a_static_records_flat_file_takes_the_secret(monkeypatch, capsys, tmp_path):
    """A record made with `-o new` (tpgt -1): open-iscsi 2.1.8 keeps it in
    the file NODES/TARGET/ADDRESS,PORT (no tpgt, no iface directory)."""
    monkeypatch.setattr(m, "NODE_DIRS", (str(tmp_path / "var"), str(tmp_path)))
    text = captured("node-record-S")[1].replace("node.tpgt = 1", "node.tpgt = -1")
    fake = FileBackedIscsiadm(tmp_path, text=text, portal="10.210.3.10,3260", iface=None)
    result = run(monkeypatch, capsys, fake, **{**CHAP, "chap_password": "another-secret-1"})
    assert result["changed"] is True
    assert "node.session.auth.password = another-secret-1" in fake.path.read_text().splitlines()
    assert not any("another-secret-1" in word for call in fake.calls for word in call)


def test_a_record_file_that_cannot_be_written_fails_and_leaves_no_copy_of_the_secret(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(m, "NODE_DIRS", (str(tmp_path),))
    fake = FileBackedIscsiadm(tmp_path)

    def refuse(self, src, dest, *a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(basic.AnsibleModule, "atomic_move", refuse)
    result = run(monkeypatch, capsys, fake, **{**CHAP, "chap_password": "another-secret-1"})
    assert result["failed"] is True and "cannot write the CHAP secret into the node record" in result["msg"]
    assert [p.name for p in fake.path.parent.iterdir()] == ["default"]
    assert "another-secret-1" not in fake.path.read_text()
