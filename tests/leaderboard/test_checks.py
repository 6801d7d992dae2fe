"""Start-up checks for production: the collected static files must be there."""

import json
from pathlib import Path

import pytest
from django.core import checks

PRODUCTION_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def _static_errors() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if m.id == "leaderboard.E002"]


@pytest.fixture
def production_static(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.DEBUG = False
    settings.STORAGES = PRODUCTION_STORAGES
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    return Path(settings.STATIC_ROOT)


def test_production_without_collected_static_files_fails_the_checks(production_static: Path) -> None:
    [error] = _static_errors()
    assert error.level == checks.ERROR
    assert "collectstatic" in (error.hint or "")
    assert str(production_static) in error.msg


def test_production_with_a_static_manifest_passes(production_static: Path) -> None:
    production_static.mkdir()
    manifest = {"paths": {"css/site.css": "css/site.0123456789ab.css"}, "version": "1.1", "hash": "x"}
    (production_static / "staticfiles.json").write_text(json.dumps(manifest))
    assert _static_errors() == []


def test_development_needs_no_collected_static_files(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    settings.STATIC_ROOT = tmp_path / "empty"
    assert _static_errors() == []
