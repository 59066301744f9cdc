"""A role's Python file (roles/ROLE/files/NAME.py) loaded as a module: the
scripts the roles install on the nodes (DRBD's fence-peer handler,
pacemaker's alert agent) are not part of the collection's import path."""

from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[3]


def load(role: str, name: str):
    """roles/<role>/files/<name>.py, executed as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "roles" / role / "files" / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
