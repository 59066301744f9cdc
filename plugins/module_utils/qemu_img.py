# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's disk image file (raw or qcow2) as ``qemu-img`` sees it, and what
to do to make it what the inventory says: create it, grow it, or refuse.

The decisions are plain functions of what ``qemu-img info --output=json``
and ``/proc/self/mountinfo`` printed; the unit tests feed them with what
QEMU 7.2 (Debian 12) and QEMU 10.0 (Debian 13) printed for real images
(tests/unit/plugins/module_utils/fixtures/qemu_img/README.md).

Never done here: shrinking (it cuts the guest's file system), converting
between formats, or touching an image a running QEMU holds (QEMU's image
locking refuses the write; the refusal says how to grow it live).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re

FORMATS = ("raw", "qcow2")
SECTOR = 512
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_OCTAL = re.compile(r"\\([0-7]{3})")


class ImageError(Exception):
    """What qemu-img printed is not what these functions understand, or the
    image cannot be made what was asked; the message says what to do."""


def parse_size(value):
    """Bytes from an int or a size as the inventory writes it: ``64M``,
    ``10G``, ``512K``, ``1T``, ``65536`` (binary units, as qemu-img reads
    them; ``MiB``/``MB`` are read as ``M``), rounded up to whole 512-byte
    sectors as qemu-img does. Raises ImageError."""
    if isinstance(value, bool):
        raise ImageError("size %r is not a size" % (value,))
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ImageError("size %r is not a size: write bytes or a number with K, M, G or T (binary units), "
                             "e.g. 20G" % (value,))
        size = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if size <= 0:
        raise ImageError("size %r is not above 0" % (value,))
    # qemu-img rounds a size up to whole 512-byte sectors: ask for what it makes,
    # or an image of 1000 bytes would be "grown" on every run.
    return -(-size // SECTOR) * SECTOR


def human(size):
    """``64 MiB``, ``1.5 GiB``: a size in bytes for messages."""
    for unit, factor in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= factor:
            text = ("%.1f" % (size / float(factor))).rstrip("0").rstrip(".")
            return "%s %s (%d bytes)" % (text, unit, size)
    return "%d bytes" % size


def parse_info(stdout):
    """``qemu-img info --output=json`` -> dict(format, virtual_size,
    actual_size, backing_file, backing_format). Raises ImageError."""
    try:
        data = json.loads(stdout)
        return dict(format=data["format"], virtual_size=int(data["virtual-size"]),
                    actual_size=int(data.get("actual-size", 0)),
                    backing_file=data.get("full-backing-filename", data.get("backing-filename")),
                    backing_format=data.get("backing-filename-format"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageError("qemu-img info printed what this module does not understand (%s): %s"
                         % (exc, stdout[:300]))


def is_lock_error(stderr):
    """Whether qemu-img was refused the image because another process (a
    running QEMU) holds its lock."""
    return 'Failed to get "write" lock' in stderr or "Is another process using the image" in stderr


def _unescape(field):
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """``/proc/self/mountinfo`` -> [dict(mount_point, fstype, source)], in
    the file's order (a later mount on the same point hides an earlier one)."""
    mounts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            raise ImageError("/proc/self/mountinfo has a line this module does not understand: %r" % line)
        mounts.append(dict(mount_point=_unescape(fields[4]), fstype=tail[0], source=_unescape(tail[1])))
    return mounts


def mount_of(mounts, path):
    """The mount (of parse_mountinfo) that holds ``path``, an absolute,
    normalized path: the longest mount point above it, the last one
    mounted there."""
    path = os.path.normpath(path)
    best = None
    for mount in mounts:
        point = mount["mount_point"]
        inside = path == point or point == "/" or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best["mount_point"])):
            best = mount
    return best


def fstype_problem(mounts, path, fstype):
    """None when the directory of ``path`` lies on a file system of type
    ``fstype``, else the reason, for a sysadmin: an image written to the
    root file system because the shared store is not mounted would run one
    hypervisor's VM on a disk the other never sees."""
    directory = os.path.dirname(os.path.normpath(path))
    mount = mount_of(mounts, directory)
    if mount is None:
        return "no file system holds %s" % directory
    if mount["fstype"] != fstype:
        return ("%s is on %s (%s, mounted at %s), not on %s: is the shared store mounted?"
                % (directory, mount["fstype"], mount["source"], mount["mount_point"], fstype))
    return None


def plan(path, current, fmt, size, source=None):
    """What to do for ``path`` to be a ``fmt`` image of ``size`` bytes, given
    ``current`` (parse_info's dict, or None when the file does not exist):
    ``create``, ``grow`` or ``none``. A different format or a smaller size
    raise ImageError (nothing is changed). ``source`` (parse_info's dict of
    the image to copy, with its ``path``) only counts when ``path`` does not
    exist: an existing image is the guest's, whatever the source."""
    if fmt not in FORMATS:
        raise ImageError("format %r: this module makes %s images" % (fmt, " and ".join(FORMATS)))
    if current is None:
        if source is not None and size is not None and size < source["virtual_size"]:
            raise ImageError(
                "the source image %s is %s, bigger than the %s asked for %s: a copy cannot be smaller than its "
                "source. Give a size of %s or more (or none: the source's)"
                % (source["path"], human(source["virtual_size"]), human(size), path, human(source["virtual_size"])))
        if size is None and source is None:
            raise ImageError("%s does not exist and no size was given to create it" % path)
        return "create"
    if current["format"] != fmt:
        raise ImageError(
            "%s is a %s image, not %s as asked; it is never converted here (a guest's disk). Convert it by hand "
            "with the VM stopped (qemu-img convert -f %s -O %s), or write format: %s in the inventory"
            % (path, current["format"], fmt, current["format"], fmt, current["format"]))
    if size is None or size == current["virtual_size"]:
        return "none"
    if size < current["virtual_size"]:
        raise ImageError(
            "%s is %s, bigger than the %s asked: shrinking would cut the guest's file system. Write its current size "
            "in the inventory (or shrink the guest's file system and the image by hand)"
            % (path, human(current["virtual_size"]), human(size)))
    return "grow"


def partial_path(path):
    """Where an image copied from a source is written before it is renamed
    to ``path``: a copy cut short never passes for a VM's disk."""
    return os.path.join(os.path.dirname(path), ".%s.havirt-partial" % os.path.basename(path))


def create_commands(qemu_img, path, fmt, size, source=None):
    """The qemu-img commands that create ``path``: an empty image of
    ``size`` bytes, or a copy of ``source`` (parse_info's dict with its
    ``path``) converted to ``fmt`` into partial_path(path) and grown to
    ``size`` when that is bigger than the source (the caller renames it)."""
    if source is None:
        return [[qemu_img, "create", "-q", "-f", fmt, path, str(size)]]
    partial = partial_path(path)
    commands = [[qemu_img, "convert", "-q", "-f", source["format"], "-O", fmt, source["path"], partial]]
    if size is not None and size > source["virtual_size"]:
        commands.append([qemu_img, "resize", "-q", "-f", fmt, partial, str(size)])
    return commands


# Writing an image into a disk that exists (a LUN's backing store, a DRBD
# device): module disk_from_image.

CHECKSUM_ALGORITHMS = ("sha256", "sha512", "sha1", "md5")
_HEX = re.compile(r"^[0-9a-f]+$")
_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128, "sha1": 40, "md5": 32}


def parse_checksum(value):
    """``(algorithm, hex)`` from ``sha256:9f86...`` (as get_url takes it);
    ``("", "")`` for none. Raises ImageError for anything else."""
    value = (value or "").strip()
    if not value:
        return "", ""
    parts = value.split(":", 1)
    algorithm, digest = parts[0].strip().lower(), (parts[1] if len(parts) == 2 else "").strip().lower()
    if algorithm not in CHECKSUM_ALGORITHMS or not _HEX.match(digest) or len(digest) != _DIGEST_LENGTHS[algorithm]:
        raise ImageError("checksum %r is not ALGORITHM:HEX with ALGORITHM one of %s (e.g. sha256: and its 64 hex "
                         "digits, as the image's SHA256SUMS file gives it)" % (value, ", ".join(CHECKSUM_ALGORITHMS)))
    return algorithm, digest


def marker_path(state_dir, path):
    """The marker of a write in progress into ``path``: one file per disk in
    ``state_dir``, named after the disk's path."""
    return os.path.join(state_dir, path.strip("/").replace("/", "%") + ".writing")


def check_fits(path, disk_size, image, source):
    """Raise ImageError when the disk ``path`` of ``disk_size`` bytes is
    smaller than ``image`` (parse_info's dict of ``source``): the guest's
    file system would be cut. (Whether the disk may be written at all is
    the caller's: only a blank disk, or one whose write was cut short.)"""
    if disk_size < image["virtual_size"]:
        raise ImageError(
            "the disk %s is %s, smaller than the image %s (%s): the guest's file system would be cut. Give the disk "
            "%s or more (iscsi_target_luns' size for a new LUN file, the DRBD backing device's size)"
            % (path, human(disk_size), source, human(image["virtual_size"]), human(image["virtual_size"])))


def _image_opts(driver, filename, size=None, block=False):
    """A --image-opts string; commas in a file name are doubled."""
    opts = ["driver=%s" % driver]
    if size is not None:
        opts.append("size=%d" % size)
    opts.append("file.driver=%s" % ("host_device" if block else "file"))
    opts.append("file.filename=%s" % filename.replace(",", ",,"))
    return ",".join(opts)


def fill_commands(qemu_img, image_format, source, path, image_size=None, block=False):
    """The qemu-img commands that write ``source`` into ``path`` (raw, its
    size kept) and then compare the first ``image_size`` bytes of the disk
    with the image (the rest of the disk is the guest's to grow into)."""
    commands = [[qemu_img, "convert", "-q", "-n", "-f", image_format, "-O", "raw", source, path]]
    if image_size is not None:
        commands.append([qemu_img, "compare", "-q", "--image-opts",
                         _image_opts(image_format, source),
                         _image_opts("raw", path, size=image_size, block=block)])
    return commands
