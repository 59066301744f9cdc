"""galaxy.yml against the collection it describes: every other collection
the roles, playbooks and plugins use is a declared dependency (and only
those), the ansible package requirements.txt installs satisfies each, and
the tarball ansible-galaxy builds holds the collection and nothing of the
labs, the benchmarks or the repository's own tests and tools."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
OWN = {"ansible.builtin", "havirt.cluster"}
# What the collection is: the parts that are installed and run.
COLLECTION_PARTS = ("roles", "playbooks", "plugins")
NAME = r"[a-z0-9_]+"
FQCN = re.compile(rf"^({NAME}\.{NAME})\.{NAME}$")
# Jinja: a filter (| ns.coll.name), a test (is [not] ns.coll.name), a lookup.
JINJA_USES = (
    re.compile(rf"\|\s*({NAME}\.{NAME})\.{NAME}\b"),
    re.compile(rf"\bis\s+(?:not\s+)?({NAME}\.{NAME})\.{NAME}\b"),
    re.compile(rf"\b(?:lookup|query|q)\(\s*['\"]({NAME}\.{NAME})\.{NAME}['\"]"),
)
PYTHON_IMPORT = re.compile(rf"^\s*(?:from|import)\s+ansible_collections\.({NAME})\.({NAME})\b", re.MULTILINE)
# Never in the tarball: the labs, the benchmarks, the repository's tests,
# tools and CI, the checkout's own playbooks and settings.
NOT_THE_COLLECTION = ("bench/", "tools/", "tools/labkit/", "tests/repo/", "tests/conftest.py", "molecule/",
                      "inventories/", "collections/", ".ci/", ".venv/", ".lab/", ".vmlab/", ".cache/", ".ansible/",
                      "docs/lab.md", "docs/testing.md", "Makefile", "ansible.cfg", "requirements.txt",
                      "site.yml", "evacuate.yml", "maintenance.yml", "migrate.yml", "status.yml", "backup.yml", "restore.yml", "upgrade.yml",
                      "replace.yml",
                      ".ansible-lint", ".yamllint")


def _jinja_uses(text: str) -> set[str]:
    return {match for pattern in JINJA_USES for match in pattern.findall(text)}


def _yaml_uses(data) -> set[str]:
    """Collections named by a task's module (a key) or by Jinja in any value."""
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and FQCN.match(key):
                found.add(FQCN.match(key).group(1))
            found |= _yaml_uses(value)
    elif isinstance(data, list):
        for item in data:
            found |= _yaml_uses(item)
    elif isinstance(data, str):
        found |= _jinja_uses(data)
    return found


def collections_used(root: Path) -> dict[str, set[str]]:
    """{collection: files that use it} for the collection's parts under ``root``
    (YAML tasks and playbooks, Jinja templates, Python plugins' imports)."""
    used: dict[str, set[str]] = {}
    for part in COLLECTION_PARTS:
        for path in sorted((root / part).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if path.suffix in (".yml", ".yaml"):
                names = _yaml_uses(yaml.safe_load(path.read_text()))
            elif path.suffix == ".j2":
                names = _jinja_uses(path.read_text())
            elif path.suffix == ".py":
                names = {f"{ns}.{coll}" for ns, coll in PYTHON_IMPORT.findall(path.read_text())}
            else:
                continue
            for name in names - OWN:
                used.setdefault(name, set()).add(str(path.relative_to(root)))
    return used


def _galaxy() -> dict:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())


def test_the_scan_finds_modules_filters_tests_lookups_and_imports(tmp_path):
    """The scanner itself, on a collection made up here (one use of each kind)."""
    tasks = tmp_path / "roles" / "web" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(yaml.safe_dump([
        {"name": "a container", "community.docker.docker_container": {"name": "x"}},
        {"name": "an address", "ansible.builtin.debug": {"msg": "{{ a | ansible.netcommon.ipaddr }}"},
         "when": "b is not community.general.a_module"},
        {"name": "a lookup", "ansible.builtin.set_fact": {"c": "{{ lookup('community.hashi_vault.hashi_vault', 'x') }}"}},
        {"name": "ours", "havirt.cluster.iscsiadm": {"portal": "{{ item.name.first }}"}},
    ]))
    templates = tmp_path / "roles" / "web" / "templates"
    templates.mkdir()
    (templates / "a.conf.j2").write_text("listen {{ address | ansible.utils.ipwrap }}\n")
    plugins = tmp_path / "plugins" / "modules"
    plugins.mkdir(parents=True)
    (plugins / "m.py").write_text("from ansible_collections.community.crypto.plugins.module_utils import x\n"
                                  "# see M(community.mysql.mysql_user)\n")
    assert sorted(collections_used(tmp_path)) == ["ansible.netcommon", "ansible.utils", "community.crypto",
                                                  "community.docker", "community.general", "community.hashi_vault"]


def test_every_collection_the_collection_uses_is_a_declared_dependency():
    used = collections_used(ROOT)
    declared = _galaxy().get("dependencies") or {}
    undeclared = {name: sorted(files) for name, files in used.items() if name not in declared}
    assert undeclared == {}, "galaxy.yml dependencies lack these (used in the files listed)"
    assert sorted(set(declared) - set(used)) == [], "galaxy.yml declares collections nothing uses"


def test_the_ansible_package_satisfies_each_dependency():
    """The collections installed with the ansible package that requirements.txt
    pins for this controller's Python meet galaxy.yml's minimum versions."""
    import ansible_collections

    roots = [Path(p) for p in ansible_collections.__path__]
    for name, spec in (_galaxy().get("dependencies") or {}).items():
        manifests = [root / name.replace(".", "/") / "MANIFEST.json" for root in roots]
        manifest = next((m for m in manifests if m.exists()), None)
        assert manifest, f"{name} is not installed (the ansible package brings it)"
        version = json.loads(manifest.read_text())["collection_info"]["version"]
        specifier = SpecifierSet("" if str(spec).strip() == "*" else str(spec).replace(" ", ""))
        assert Version(version) in specifier, f"{name} {version} does not meet {spec}"


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> tuple[list[str], dict]:
    """The member names and MANIFEST.json of the tarball ansible-galaxy builds from the checkout."""
    out = tmp_path_factory.mktemp("build")
    built = subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("havirt-cluster-*.tar.gz")
    with tarfile.open(path) as archive:
        return archive.getnames(), json.load(archive.extractfile("MANIFEST.json"))


def test_the_tarball_holds_the_collection_and_its_dependencies(tarball):
    names, manifest = tarball
    for wanted in ("README.md", "LICENSE", "meta/runtime.yml", "playbooks/site.yml", "plugins/modules/iscsiadm.py",
                   "roles/hosts/tasks/main.yml", "tests/unit/plugins/modules/conftest.py"):
        assert wanted in names, wanted
    assert manifest["collection_info"]["dependencies"] == (_galaxy().get("dependencies") or {})


def test_the_tarball_leaves_out_what_is_not_the_collection(tarball):
    names = tarball[0]
    strays = sorted(name for name in names
                    if any(name == part.rstrip("/") or name.startswith(part) for part in NOT_THE_COLLECTION))
    assert strays == []
