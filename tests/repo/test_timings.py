"""tools/timings.py reads the step times out of a `molecule test` log: the
container scenario has an idempotence step, the VM lab's has none (its
verify re-runs the storage roles instead)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "timings.py"
spec = importlib.util.spec_from_file_location("timings", TOOL)
timings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timings)


def _log(tmp_path, scenario, steps):
    lines = []
    for step, took in steps:
        lines.append(f"INFO     [{scenario} > {step}] Executing")
        if took is not None:
            lines.append(f"Playbook run took 0 days, 0 hours, {took // 60} minutes, {took % 60} seconds")
        lines.append(f"INFO     [{scenario} > {step}] Executed: Successful")
    path = tmp_path / f"molecule-{scenario}.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_container_scenario_prints_the_idempotent_rerun(tmp_path, capsys):
    path = _log(tmp_path, "default", [("create", 14), ("converge", 143), ("idempotence", 62), ("verify", None)])
    assert timings.main(str(path)) == 0
    assert capsys.readouterr().out.strip() == "lab create: 14s, converge site.yml: 143s, idempotent re-run: 62s"


def test_vm_lab_without_an_idempotence_step_is_not_an_error(tmp_path, capsys):
    path = _log(tmp_path, "vmlab", [("create", 103), ("converge", 798), ("verify", None)])
    assert timings.main(str(path)) == 0
    assert capsys.readouterr().out.strip() == "lab create: 103s, converge site.yml: 798s"


def test_a_scenario_name_with_a_hyphen(tmp_path, capsys):
    """make test-bookworm's scenario: before the fix its steps were never
    recognised and the target failed after a passing run."""
    path = _log(tmp_path, "vmlab-bookworm", [("create", 121), ("converge", 1197), ("verify", None)])
    assert timings.main(str(path)) == 0
    assert capsys.readouterr().out.strip() == "lab create: 121s, converge site.yml: 1197s"


def test_a_log_without_a_converge_time_fails(tmp_path, capsys):
    path = _log(tmp_path, "vmlab", [("create", 103), ("converge", None)])
    assert timings.main(str(path)) == 1
    assert "no time found for converge" in capsys.readouterr().err
