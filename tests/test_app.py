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


@pytest.mark.parametrize(
    ("servers", "standalone", "accepts_devices"),
    [
        (["skills"], None, False),
        (["skills", "screen", "pointer"], "skills", False),
        (["skills", "pointer"], None, True),
        (["screen"], None, True),
        (["skills", "screen", "pointer"], "pointer", True),
    ],
)
async def test_devices_connect_only_where_a_device_server_runs(
    tmp_path, servers, standalone, accepts_devices
):
    from servers.hub.endpoint import DEVICE_PATH

    app = create_app(
        Settings(skills_dirs=[tmp_path], local_device=False, servers=servers), standalone=standalone
    )
    paths = [getattr(route, "path", None) for route in app.routes]
    assert (DEVICE_PATH in paths) is accepts_devices
    assert "/healthz" in paths


@pytest.mark.parametrize(
    ("argv", "tuned"),
    [
        (["serve"], True),
        (["serve", "pointer"], True),
        (["serve", "skills"], False),
        (["serve", "--no-local-device"], False),
    ],
)
def test_serve_tunes_the_allocator_at_start_up_when_it_captures_locally(monkeypatch, tmp_path, argv, tuned):
    import uvicorn

    from capture_client import pipeline
    from servers.cli import main

    calls: list[str] = []
    monkeypatch.setattr(pipeline, "tune_allocator", lambda: calls.append("tuned"))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *args, **kwargs: calls.append("served"))
    assert main([*argv, "--skills", str(tmp_path), "--no-reload"]) == 0
    assert calls == (["tuned", "served"] if tuned else ["served"])


def test_a_capture_does_not_tune_the_allocator(monkeypatch):
    """Tuning is process-wide (mallopt), so it happens at start-up, never inside a capture."""
    from capture_client import pipeline
    from capture_client.backends.base import RawCapture, ScreenBackend
    from wire.geometry import Rect
    from wire.protocol import DisplayInfo

    class GreyScreen(ScreenBackend):
        def displays(self) -> list[DisplayInfo]:
            return [DisplayInfo(index=0, x=0, y=0, width=64, height=40, pixel_width=64, pixel_height=40)]

        def grab(self, area: Rect) -> RawCapture:
            w, h = int(area.width), int(area.height)
            return RawCapture(bytes([128]) * (w * h * 4), w, h, w * 4, "BGRX", area)

    def refuse() -> None:
        raise AssertionError("tune_allocator called during a capture")

    monkeypatch.setattr(pipeline, "tune_allocator", refuse)
    frame = pipeline.capture(GreyScreen(), max_edge=64)
    assert (frame.geometry.image_width, frame.geometry.image_height) == (64, 40)
