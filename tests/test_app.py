"""The suite's app and CLI: what every server shares."""

import httpx
import pytest

from servers.app import create_app
from servers.cli import build_parser
from servers.serve_cli import settings_from_args
from servers.settings import Settings
from tests.support.http import serve

pytestmark = pytest.mark.anyio


async def test_healthz_answers_over_real_http(tmp_path):
    settings = Settings(skills_dirs=[tmp_path], local_device=False)
    async with serve(create_app(settings)) as url, httpx.AsyncClient() as client:
        response = await client.get(f"{url}/healthz")
    assert response.status_code == 200
    assert response.json()["servers"] == ["skills", "screen", "pointer"]


def test_flags_override_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REALTIME_MCP_PORT", "9001")
    monkeypatch.setenv("REALTIME_MCP_HOST", "127.0.0.2")
    args = build_parser().parse_args(["serve", "--port", "9100", "--skills", str(tmp_path)])
    settings = settings_from_args(args)
    assert settings.port == 9100
    assert settings.host == "127.0.0.2"
    assert settings.skills_dirs == [tmp_path]


def test_environment_lists_and_device_tokens(monkeypatch, tmp_path):
    monkeypatch.setenv("REALTIME_MCP_SKILLS_DIRS", f"{tmp_path}/a,{tmp_path}/b")
    monkeypatch.setenv("REALTIME_MCP_DEVICE_TOKENS", "mac-1=s3cret,mac-2=other")
    settings = Settings()
    assert settings.skills_dirs == [tmp_path / "a", tmp_path / "b"]
    assert settings.device_tokens["mac-1"].get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_bad_device_token_setting_is_explained(monkeypatch):
    monkeypatch.setenv("REALTIME_MCP_DEVICE_TOKENS", "no-equals-sign")
    with pytest.raises(ValueError, match="ID=TOKEN"):
        Settings()


def test_bad_setting_is_one_clear_line_not_a_traceback(monkeypatch, capsys):
    from servers.cli import main

    monkeypatch.setenv("REALTIME_MCP_PORT", "not-a-port")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "port" in err and "valid integer" in err
    assert "Traceback" not in err


def test_readme_configuration_table_matches_the_settings():
    from servers.settings_reference import README, readme_section, render

    assert readme_section(README.read_text(encoding="utf-8")) == render(), (
        "README's configuration table is out of date: run `python -m servers.settings_reference --write`"
    )
    assert "REALTIME_MCP_TOKEN_SECRET" in render()
