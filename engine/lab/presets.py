"""Presets: lecture experiments as ready-made training runs (resources/presets/*.toml).

    from engine.lab.presets import list_presets, load_preset
    [p.name for p in list_presets()]          # ['activation_relu', ..., 'zero_init']
    cfg = load_preset("tanh_tiny_init")       # a validated RunConfig

Each preset is a flat TOML table of RunConfig keys plus `name` and `description` (which
RunConfig.from_toml ignores), so the same file also works as `--config path/to/preset.toml`.
The description says what the run shows and what to look at; the numbers in it were measured by
running the preset (tests/engine/test_presets.py checks the quick ones).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..train.config import RunConfig
from ..errors import ConfigError

PRESET_DIR = Path(__file__).resolve().parents[2] / "resources" / "presets"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    path: Path


def list_presets(folder: Path | None = None) -> list[Preset]:
    """Every preset in the folder, sorted by name (the file stem; a `name` key may not differ)."""
    folder = Path(folder) if folder is not None else PRESET_DIR
    presets = []
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"preset file {path.name} cannot be read: {exc}") from None
        presets.append(Preset(name=path.stem, description=str(data.get("description", "")).strip(), path=path))
    return presets


def load_preset(name: str, folder: Path | None = None) -> RunConfig:
    """The RunConfig of preset `name` (file stem); unknown names list the available ones. Only
    that file is read (another, broken preset does not stop this one from loading)."""
    folder = Path(folder) if folder is not None else PRESET_DIR
    key = str(name).strip().removesuffix(".toml")
    path = folder / f"{key}.toml"
    if "/" in key or "\\" in key or not path.is_file():
        available = ", ".join(sorted(p.stem for p in folder.glob("*.toml"))) or "(none)"
        raise ConfigError(f"unknown preset '{name}'; available: {available}")
    return RunConfig.from_toml(path)
