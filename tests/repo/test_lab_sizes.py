"""tools/labkit/sizes.py reads a LUN's size as the iscsi_target role's
`truncate --size` does: checked against truncate itself."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lab_sizes", ROOT / "tools" / "labkit" / "sizes.py")
sizes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sizes)

SIZES = ["64M", "2G", "20G", "1k", "512K", "3MB", "5MiB", "7KB", "100", "1g", "2t", "1KiB", "1m", "1mB", " 1M",
         "1b", "1Mb", "1MIB", "1 M", "1M ", "1.5M", "1p", "M", "KB", "kiB", "iB", "B", ""]


@pytest.mark.skipif(not shutil.which("truncate"), reason="needs coreutils' truncate")
@pytest.mark.parametrize("size", SIZES)
def test_bytes_are_the_size_of_the_file_truncate_creates(tmp_path, size):
    path = tmp_path / "lun.img"
    run = subprocess.run(["truncate", "--size", size, str(path)], capture_output=True, text=True)
    if run.returncode != 0:
        with pytest.raises(ValueError):
            sizes.truncate_bytes(size)
    else:
        assert sizes.truncate_bytes(size) == path.stat().st_size


def test_the_lab_luns():
    assert sizes.truncate_bytes("64M") == 64 * 1024 * 1024
    assert sizes.truncate_bytes("2G") == 2 << 30
