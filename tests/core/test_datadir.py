"""The data folder: --data-dir, else $LABTHINGS_DATA_DIR, else the platform's per-user one."""

from __future__ import annotations

from pathlib import Path

import pytest

from labthings.core.datadir import DATA_DIR_ENV, data_dir, default_data_dir

HOME = Path.home()


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, HOME / ".local" / "share" / "labthings"),
        ("linux", {"XDG_DATA_HOME": "/srv/xdg"}, Path("/srv/xdg/labthings")),
        ("linux", {"XDG_DATA_HOME": "relative"}, HOME / ".local" / "share" / "labthings"),
        ("freebsd13", {}, HOME / ".local" / "share" / "labthings"),
        ("darwin", {}, HOME / "Library" / "Application Support" / "labthings"),
        ("win32", {"LOCALAPPDATA": "C:/Users/ann/AppData/Local"}, None),
    ],
)
def test_default_per_platform(platform: str, environ: dict[str, str], expected: Path) -> None:
    if expected is None:
        expected = Path(environ["LOCALAPPDATA"]) / "labthings"
    assert default_data_dir(platform, environ) == expected


def test_the_option_wins_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert data_dir(tmp_path / "given") == tmp_path / "given"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert data_dir() == default_data_dir()


def test_relative_and_home_paths_are_made_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_dir("~/lab") == HOME / "lab"
    assert data_dir("lab").is_absolute()
