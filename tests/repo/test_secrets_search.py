"""The labs' secrets check (tools/labkit/secrets.py) offline: it finds a
secret in a log (across its read blocks, and as JSON escapes it), names the
variable and never the value, refuses a log that is not a -vvv run of
site.yml, and reads the lab inventories' secrets through the roles'
argument specs and defaults."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.vars.manager import VariableManager
from offline_templating import trusted

ROOT = Path(__file__).resolve().parents[2]  # the checkout (tools/labkit is not in the collection)
spec = importlib.util.spec_from_file_location("lab_secrets", ROOT / "tools" / "labkit" / "secrets.py")
secrets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(secrets)
# Collections' filters (ansible.utils...) as ansible-playbook finds them
# (once per process: another test module may have done it).
if AnsibleCollectionConfig.collection_finder is None:
    init_plugin_loader([str(ROOT / "collections")])

SECRET = "lab-only-chap-secret"
LOG = """2026-12-01 10:00:00,000 p=1 u=root n=ansible INFO| PLAY [Names and time on every node] ****
2026-12-01 10:00:01,000 p=1 u=root n=ansible INFO| <10.210.1.10> ESTABLISH SSH CONNECTION FOR USER: root
2026-12-01 10:00:02,000 p=1 u=root n=ansible INFO| ok: [servdb] => {"stdout": "secret lab-only-chap-secret"}
2026-12-01 10:00:03,000 p=1 u=root n=ansible INFO| PLAY RECAP ****
"""


def _log(tmp_path, text, name="ansible.log"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_secret_in_the_log_is_found_with_its_line_and_whose_it_is(tmp_path):
    path = _log(tmp_path, LOG)
    hits = secrets.search([path], {SECRET: "iscsi_target_chap_password@servdb"})
    assert hits == [secrets.Hit("iscsi_target_chap_password@servdb", path, 3)]


def test_no_hit_without_the_secret(tmp_path):
    path = _log(tmp_path, LOG.replace(SECRET, "********"))
    assert secrets.search([path], {SECRET: "x@servdb"}) == []


@pytest.mark.parametrize("block", [1, 2, 7, 8, 13, 64, 1 << 20])
def test_a_secret_across_two_blocks_is_found(tmp_path, block):
    """Whatever the block size, the secret and its line are found."""
    path = _log(tmp_path, "a\nbb\n" + "c" * 37 + SECRET + "\nd\n")
    assert secrets.search([path], {SECRET: "s"}, block=block) == [secrets.Hit("s", path, 3)]


def test_a_secret_as_json_writes_it(tmp_path):
    """A quote or a backslash in a secret is escaped in a JSON result."""
    secret = 'pa"ss\\word-1234'
    path = _log(tmp_path, '{"stdin": "password=pa\\"ss\\\\word-1234\\n"}\n')
    assert secret not in path.read_text()
    assert secrets.search([path], {secret: "password@servdb"}) == [secrets.Hit("password@servdb", path, 1)]


@pytest.mark.parametrize("secret", ['pa"ss\\word\'s-1234', "pässwörd-1234", "tab\tsecret-1234", "plain-secret-1234"])
def test_a_secret_in_the_raw_answer_of_a_module_over_ssh(tmp_path, secret):
    """The -vvv log writes a module's answer as ssh.py does:
    str((rc, stdout_bytes, stderr_bytes)), the JSON escapes escaped again."""
    answer = str((0, json.dumps({"stdout": secret}).encode(), b""))
    path = _log(tmp_path, "x INFO| <10.210.1.10> " + answer + "\n")
    assert secrets.search([path], {secret: "s"}) == [secrets.Hit("s", path, 1)]


def test_each_file_is_searched(tmp_path):
    clean = _log(tmp_path, "nothing here\n", "servvirt1")
    dirty = _log(tmp_path, "x\n" + SECRET + "\n", "servvirt2")
    assert secrets.search([clean, dirty], {SECRET: "s"}) == [secrets.Hit("s", dirty, 2)]


class FakeInventory:
    """The verify tests' `inv` fixture, for one node."""

    @staticmethod
    def group(name):
        return ["servdb"] if name == "cluster" else []

    @staticmethod
    def hostvars(name):
        return {"ansible_host": "10.210.1.10", "ansible_user": "root"}


def _scenario(tmp_path, monkeypatch, log_text, results=None):
    log = _log(tmp_path, log_text)
    folder = tmp_path / "results"
    folder.mkdir()
    for name, text in (results or {}).items():
        (folder / name).write_text(text)
    monkeypatch.setattr(secrets, "log_files", lambda scenario: (log, folder))
    monkeypatch.setattr(secrets, "lab_secrets", lambda: ({SECRET: "iscsi_target_chap_password@servdb"}, []))
    return log, folder


def test_the_check_fails_on_a_secret_and_does_not_print_it(tmp_path, monkeypatch, capsys):
    _scenario(tmp_path, monkeypatch, "clean log\n", {"servdb": '{"module_args": {"x": "' + SECRET + '"}}\n'})
    with pytest.raises(AssertionError) as failure:
        secrets.check_no_secret_in_the_logs("default")
    message = str(failure.value)
    assert "iscsi_target_chap_password@servdb in servdb line 1" in message
    assert SECRET not in message
    out = capsys.readouterr().out
    assert "secrets: 1 values of the inventory (1 forms) searched in 2 files" in out
    assert SECRET not in out


def test_the_check_passes_on_clean_logs(tmp_path, monkeypatch):
    _scenario(tmp_path, monkeypatch, LOG.replace(SECRET, "********"), {"servdb": "converge.yml - x\n"})
    secrets.check_no_secret_in_the_logs("default")


def _plays_log():
    return "".join(f"x INFO| {play} ****\n" for play in secrets.converge_plays())


def test_a_log_of_every_play_at_vvv_is_accepted(tmp_path, monkeypatch):
    text = _plays_log() + "x INFO| <10.210.1.10> ESTABLISH SSH CONNECTION FOR USER: root\n"
    _scenario(tmp_path, monkeypatch, text)
    secrets.check_log_is_the_runs_at_vvv(FakeInventory, "default")


@pytest.mark.parametrize("what", ["empty", "not -vvv", "not site.yml"])
def test_a_log_that_proves_nothing_is_refused(tmp_path, monkeypatch, what):
    text = {
        "empty": "",
        "not -vvv": _plays_log(),
        "not site.yml": "x INFO| <10.210.1.10> ESTABLISH SSH CONNECTION FOR USER: root\n",
    }[what]
    _scenario(tmp_path, monkeypatch, text)
    with pytest.raises(AssertionError):
        secrets.check_log_is_the_runs_at_vvv(FakeInventory, "default")


def test_results_without_arguments_or_not_of_the_converge_are_refused(tmp_path, monkeypatch):
    good = 'Dec 01 - /x/molecule/default/converge.yml - Task - mod - OK - {"module_args": {}} => {}\n'
    _scenario(tmp_path, monkeypatch, "", {"servdb": good})
    secrets.check_results_are_logged_with_their_arguments(FakeInventory, "default")
    for bad in (good.replace("converge.yml", "create.yml"), good.replace('{"module_args": {}} => ', "")):
        (tmp_path / "results" / "servdb").write_text(bad)
        with pytest.raises(AssertionError):
            secrets.check_results_are_logged_with_their_arguments(FakeInventory, "default")


def test_every_no_log_option_of_the_roles_is_known():
    options = secrets.no_log_options(ROOT / "roles")
    assert options["drbd"] == {("drbd_shared_secret",)}
    assert options["pacemaker"] == {("pacemaker_corosync_authkey",), ("pacemaker_fence_devices", "secret_options"),
                                    ("pacemaker_alert_mail_password",)}
    assert options["iscsi_target"] == {("iscsi_target_chap_password",), ("iscsi_target_mutual_chap_password",)}
    assert options["iscsi_initiator"] == {("iscsi_initiator_chap_password",), ("iscsi_initiator_mutual_chap_password",)}
    assert options["vms"] == {("vms_iscsi_chap_password",)}
    assert options["xen_migration"] == {("xen_migration_ca_passphrase",)}


def test_suboptions_through_lists_of_dicts():
    devices = [{"name": "a", "secret_options": {"password": "pw-a", "key": ""}}, {"name": "b"},
               {"name": "c", "secret_options": {"password": 1234}}]
    values = secrets.values_at(devices, ("secret_options",))
    assert [text for value in values for text in secrets.leaves(value)] == ["pw-a", "1234"]


def _role_value(name):
    """Variables as a role sees them on each node of inventories/NAME:
    inventory first, then the role's default, templated (offline)."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(ROOT / "inventories" / name)])
    variables = VariableManager(loader=loader, inventory=inventory)

    def role_value(host, role, var):
        hostvars = variables.get_vars(host=inventory.get_host(host))
        defaults = trusted(yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())) if role else {}
        if var in hostvars:
            value = hostvars[var]
        elif var in (defaults or {}):
            value = defaults[var]
        else:
            raise KeyError(var)
        return Templar(loader=loader, variables=hostvars).template(value, fail_on_undefined=False)
    return sorted(inventory.get_groups_dict()["cluster"]), role_value


@pytest.mark.parametrize("name", ["lab", "vmlab"])
def test_the_lab_inventories_secrets_are_resolved(name):
    """The roles' defaults (iscsi_target_chap_password: havirt_iscsi_chap_password)
    resolve to the inventory's values: each secret the lab writes is searched."""
    raw = {}
    for path in (ROOT / "inventories" / name / "group_vars").glob("*/*.yml"):
        raw.update(yaml.safe_load(path.read_text()) or {})
    expected = {str(raw[var]) for var in ("havirt_iscsi_chap_password", "drbd_shared_secret",
                                          "pacemaker_corosync_authkey", "havirt_pki_ca_passphrase")}
    if name == "lab":  # the container lab's mail relay wants a login
        expected.add(str(raw["pacemaker_alert_mail_password"]))
    # The VM lab's fence gate token exists once `make vmlab-up` made it
    # (the fence device's secret_options.password reads it): a secret too.
    token = ROOT / ".vmlab" / "fence" / "token"
    if name == "vmlab" and token.exists() and token.read_text().strip():
        expected.add(token.read_text().strip())
    found, skipped = secrets.inventory_secrets(*_role_value(name))
    assert set(found) == expected
    assert skipped == []
    assert found[raw["drbd_shared_secret"]] == "drbd_shared_secret@servdb"


def test_a_value_still_jinja_offline_is_named_not_searched():
    def role_value(host, role, var):
        if var == "drbd_shared_secret":
            return "{{ vault_drbd_shared_secret }}"
        raise KeyError(var)
    found, skipped = secrets.inventory_secrets(["servvirt1"], role_value)
    assert found == {} and skipped == ["drbd_shared_secret@servvirt1"]
