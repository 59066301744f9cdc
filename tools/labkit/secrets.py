"""No secret of the inventory in what Ansible wrote at -vvv.

Both labs' Molecule scenarios run every playbook with Ansible's log at
verbosity 3 (ANSIBLE_LOG_PATH, ANSIBLE_LOG_VERBOSITY) and
community.general.log_plays (ANSIBLE_LOG_FOLDER, one file per host). The
log's level reaches Ansible's own -vvv messages: each SSH command and the
raw answer of the module it ran (unless the task is no_log). The results as
the callback prints them are written there at stdout's level only, so what
the controller adds to them (a loop's items, set_fact, assert and debug
results) and what local tasks return would be missed: log_plays writes
every result as -vvv prints it, module arguments included.

The secrets are the values of every option the roles declare `no_log: true`
(meta/argument_specs.yml, suboptions included: a fence device's
secret_options), read for every node as the roles see them (inventory first,
then the role's default, templated), plus havirt_pki_ca_passphrase.

The search streams each file in blocks (a converge's -vvv log runs to tens
of MB): memory stays bounded whatever a line's length. A hit names the
variable, the host, the file and the line, never the value."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import yaml

PROJECT = Path(__file__).resolve().parents[2]
# Secrets the roles read under another name (xen_migration_ca_passphrase's
# default), named here too in case a role stops reading them.
EXTRA_SECRETS = ("havirt_pki_ca_passphrase",)
BLOCK = 1 << 20


class Hit(NamedTuple):
    """Where a secret was found: `name` says whose (var@host), never what."""

    name: str
    path: Path
    line: int


def log_files(scenario: str) -> tuple[Path, Path]:
    """The scenario's -vvv log and its results folder (molecule/SCENARIO/molecule.yml)."""
    cache = PROJECT / ".cache"
    return (Path(os.environ.get("ANSIBLE_LOG_PATH") or cache / f"ansible-{scenario}-vvv.log"),
            Path(os.environ.get("ANSIBLE_LOG_FOLDER") or cache / f"ansible-{scenario}-results"))


def no_log_options(roles_dir: Path) -> dict[str, set[tuple[str, ...]]]:
    """Every option declared `no_log: true` in roles/*/meta/argument_specs.yml,
    by role: a path of option names, the top-level variable first
    (('pacemaker_fence_devices', 'secret_options') for a suboption)."""
    found: dict[str, set[tuple[str, ...]]] = {}

    def walk(role: str, options: dict, path: tuple[str, ...]) -> None:
        for name, spec in (options or {}).items():
            spec = spec or {}
            if spec.get("no_log"):
                found.setdefault(role, set()).add(path + (name,))
            walk(role, spec.get("options"), path + (name,))

    for specs in sorted(roles_dir.glob("*/meta/argument_specs.yml")):
        role = specs.parent.parent.name
        for entry in (yaml.safe_load(specs.read_text()) or {}).get("argument_specs", {}).values():
            walk(role, (entry or {}).get("options"), ())
    return found


def values_at(value, path: tuple[str, ...]) -> list:
    """The values under `path` in `value`, through lists (a list of dicts
    is walked item by item, as the argument spec's `elements: dict`)."""
    if isinstance(value, list):
        return [found for item in value for found in values_at(item, path)]
    if not path:
        return [value]
    if isinstance(value, dict) and path[0] in value:
        return values_at(value[path[0]], path[1:])
    return []


def leaves(value) -> list[str]:
    """The non-empty strings of a secret value (a dict's values, a list's
    items, nested; numbers as text)."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in leaves(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in leaves(item)]
    if value is None or isinstance(value, bool):
        return []
    text = str(value)
    return [text] if text else []


def unresolved(text: str) -> bool:
    """A value still holding Jinja: it could not be templated offline."""
    return "{{" in text or "{%" in text


def inventory_secrets(hosts: list[str], role_value, roles_dir: Path = PROJECT / "roles",
                      extra: tuple[str, ...] = EXTRA_SECRETS) -> tuple[dict[str, str], list[str]]:
    """The secrets of the inventory: ({value: 'var@host'}, [skipped]).

    `role_value(host, role, var)` gives a variable as the role sees it
    (templated), or raises KeyError when neither the inventory nor the role
    sets it. A value that still holds Jinja is skipped and named in the
    second list, so a test can say so."""
    secrets: dict[str, str] = {}
    skipped: list[str] = []
    wanted = [(role, path) for role, paths in sorted(no_log_options(roles_dir).items()) for path in sorted(paths)]
    wanted += [(None, (name,)) for name in extra]
    for host in hosts:
        for role, path in wanted:
            try:
                top = role_value(host, role, path[0])
            except KeyError:
                continue
            for value in values_at(top, path[1:]):
                for text in leaves(value):
                    where = f"{'.'.join(path)}@{host}"
                    if unresolved(text):
                        skipped.append(where)
                    else:
                        secrets.setdefault(text, where)
    return secrets, skipped


def forms(secret: str) -> set[str]:
    """A secret as each kind of output writes it: as is; inside a JSON
    string (a result: a quote, a backslash, a control or non-ASCII character
    escaped); and inside Python's repr of the bytes of such JSON (the raw
    answer of a module over SSH in the -vvv log: the escapes escaped again)."""
    found = {secret}
    for ascii_only in (True, False):
        inside_json = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        found.add(inside_json)
        # A leading '"' makes repr() quote with ' as it does for a JSON answer.
        found.add(repr(b'"' + inside_json.encode())[3:-1])
    return found


def needles(secrets: dict[str, str]) -> dict[bytes, str]:
    """What to look for, each form of each secret, and whose it is."""
    found: dict[bytes, str] = {}
    for value, name in secrets.items():
        for form in sorted(forms(value)):
            found.setdefault(form.encode(), name)
    return found


def search(paths: list[Path], secrets: dict[str, str], block: int = BLOCK) -> list[Hit]:
    """Every secret found in the files, its first place in each file.

    Each file is read in blocks of `block` bytes; the last bytes of a block
    (one less than the longest needle) are searched again with the next
    one, so a secret across two blocks is found too."""
    wanted = needles(secrets)
    if not wanted:
        return []
    keep = max(len(needle) for needle in wanted) - 1
    hits: list[Hit] = []
    for path in paths:
        left = dict(wanted)
        tail = b""
        lines_before_tail = 0
        with open(path, "rb") as stream:
            while left:
                chunk = stream.read(block)
                if not chunk:
                    break
                data = tail + chunk
                for needle in list(left):
                    at = data.find(needle)
                    if at >= 0:
                        hits.append(Hit(left.pop(needle), path, lines_before_tail + data.count(b"\n", 0, at) + 1))
                tail = data[-keep:] if keep else b""
                lines_before_tail += data.count(b"\n") - tail.count(b"\n")
    return hits


def lab_secrets() -> tuple[dict[str, str], list[str]]:
    """The secrets of the inventory under test (HAVIRT_TEST_INVENTORY), for
    every cluster node, through the verify tests' inventory helper."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    from labkit import inventory

    def role_value(host, role, var):
        hostvars = inventory.hostvars(host)
        value = hostvars[var] if role is None else inventory.role_var(host, role, var)
        # A role default is a template over the host's variables.
        return Templar(loader=DataLoader(), variables=hostvars).template(value, fail_on_undefined=False)

    return inventory_secrets(inventory.group("cluster"), role_value)


def converge_plays() -> list[str]:
    """The header Ansible writes for each play of site.yml."""
    plays = yaml.safe_load((PROJECT / "playbooks" / "site.yml").read_text()) or []
    return [f"PLAY [{play['name']}]" for play in plays if "hosts" in play]


def missing(path: Path, markers: list[str]) -> list[str]:
    """The markers that are not in the file (streamed as the secrets are)."""
    found = {hit.name for hit in search([path], {marker: marker for marker in markers})}
    return [marker for marker in markers if marker not in found]


# What the scenario tests (molecule/*/tests/test_secrets.py) assert, shared.

def check_log_is_the_runs_at_vvv(inv, scenario: str) -> None:
    """The log exists, is Ansible's at -vvv (each node's SSH connection is
    only written at -vvv) and holds every play of site.yml: a search of it
    cannot pass on an empty, a quiet or another run's log."""
    log, _ = log_files(scenario)
    assert log.is_file() and log.stat().st_size > 0, f"no Ansible log at {log}: see molecule/{scenario}/molecule.yml"
    markers = converge_plays()
    for name in inv.group("cluster"):
        hv = inv.hostvars(name)
        markers.append(f"<{hv['ansible_host']}> ESTABLISH SSH CONNECTION FOR USER: {hv.get('ansible_user', 'root')}")
    absent = missing(log, sorted(set(markers)))
    assert not absent, f"{log} is not the scenario's runs at -vvv: it lacks {absent}"


def check_results_are_logged_with_their_arguments(inv, scenario: str) -> None:
    """log_plays wrote each node's results of converge.yml with the module
    arguments (the `invocation` -vvv shows)."""
    _, folder = log_files(scenario)
    for name in inv.group("cluster"):
        path = folder / name
        assert path.is_file() and path.stat().st_size > 0, f"no results of {name} in {folder}"
        absent = missing(path, ["converge.yml - ", '{"module_args": '])
        assert not absent, f"{path} lacks {absent}: not the converge's results with their arguments"


def check_no_secret_in_the_logs(scenario: str) -> None:
    """No secret of the inventory in the log or in any node's results."""
    log, folder = log_files(scenario)
    files = [log] + sorted(path for path in folder.iterdir() if path.is_file())
    secrets, skipped = lab_secrets()
    size = sum(path.stat().st_size for path in files)
    print(f"\nsecrets: {len(secrets)} values of the inventory ({len(needles(secrets))} forms) searched in "
          f"{len(files)} files, {size / 1e6:.1f} MB (the -vvv log {log.stat().st_size / 1e6:.1f} MB): "
          f"{', '.join(sorted(set(secrets.values())))}")
    if skipped:
        print(f"secrets: not searched, still Jinja offline: {', '.join(sorted(set(skipped)))}")
    assert secrets, "no secret found in the inventory: the search would prove nothing"
    hits = search(files, secrets)
    assert not hits, "secrets in Ansible's output: " + "; ".join(
        f"{hit.name} in {hit.path.name} line {hit.line}" for hit in hits)
