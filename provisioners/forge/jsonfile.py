"""The local forge's JSON records beside a bare repository (pull requests, pipeline runs): read with a
default when absent, written atomically (a temporary file renamed over the old one) so a process killed
mid-write never leaves half a record. Callers hold the repository's file lock; this module locks nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read(path: Path, empty: dict[str, Any]) -> dict[str, Any]:
    if not path.exists():
        return empty
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
