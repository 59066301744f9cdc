"""tools/labkit/probes.py's install script, run by the local shell with
stand-ins for the tools: nothing happens when every probe is there, apt
installs only the packages of the missing ones, and apt's lists are
refreshed once when apt does not know a package."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lab_probes", ROOT / "tools" / "labkit" / "probes.py")
probes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probes)

# A stand-in apt-get (shell builtins only: PATH holds nothing else): logs
# its arguments; `install` fails (as apt does without lists) until
# `update` has run, when the bin directory holds a file named no-lists.
APT = """#!/bin/sh
echo "$*" >> {bin}/apt.log
if [ "$1" = update ]; then : > {bin}/updated; exit 0; fi
if [ -e {bin}/no-lists ] && [ ! -e {bin}/updated ]; then echo "E: Unable to locate package $5" >&2; exit 100; fi
exit 0
"""


def _run(tmp_path, present, commands, lists=True):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in list(present) + ["apt-get"]:
        tool = bin_dir / name
        tool.write_text(APT.format(bin=bin_dir) if name == "apt-get" else "#!/bin/sh\n")
        tool.chmod(0o755)
    if not lists:
        (bin_dir / "no-lists").write_text("")
    run = subprocess.run(["/bin/sh", "-c", probes.install_script(commands)], env={"PATH": str(bin_dir)},
                         capture_output=True, text=True)
    log = bin_dir / "apt.log"
    return run, log.read_text().splitlines() if log.exists() else []


def test_nothing_is_installed_when_every_probe_is_there(tmp_path):
    run, apt = _run(tmp_path, ["curl", "ping"], probes.GUESTS)
    assert run.returncode == 0, run.stderr
    assert apt == []


def test_only_the_missing_probes_packages_are_installed(tmp_path):
    run, apt = _run(tmp_path, ["ping"], probes.GUESTS)
    assert run.returncode == 0, run.stderr
    assert apt == ["install -y -qq --no-install-recommends curl"]


def test_apt_lists_are_refreshed_when_apt_knows_no_package(tmp_path):
    run, apt = _run(tmp_path, [], probes.ISCSI, lists=False)
    assert run.returncode == 0, run.stderr
    assert apt == ["install -y -qq --no-install-recommends libiscsi-bin libiscsi-bin", "update -qq",
                   "install -y -qq --no-install-recommends libiscsi-bin libiscsi-bin"]


def test_every_probe_has_its_package():
    assert set(probes.GUESTS + probes.ISCSI + probes.MAIL) <= set(probes.PACKAGES)
