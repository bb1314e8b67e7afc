"""Settings read from the environment and from `serve` flags: one way to write lists, flags that cannot
drift from the fields they set, and the loopback rule auth relies on."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from types import UnionType

import pytest
from pydantic import SecretStr

from servers.cli import build_parser
from servers.serve_cli import settings_from_args
from servers.settings import Settings


def test_list_items_may_hold_colons(monkeypatch, tmp_path):
    monkeypatch.setenv("REALTIME_MCP_SKILLS_DIRS", f"{tmp_path}/team:a")
    monkeypatch.setenv("REALTIME_MCP_DEVICE_TOKENS", "desk:0=tok")
    monkeypatch.setenv("REALTIME_MCP_ALLOWED_HOSTS", "example.com:443,[::1]:8765")
    settings = Settings()
    assert settings.skills_dirs == [tmp_path / "team:a"]
    assert settings.device_tokens["desk:0"].get_secret_value() == "tok"
    assert settings.allowed_hosts == ["example.com:443", "[::1]:8765"]


def test_only_commas_separate_list_items(monkeypatch, tmp_path):
    monkeypatch.setenv("REALTIME_MCP_SKILLS_DIRS", f"{tmp_path}/a:{tmp_path}/b, {tmp_path}/c ,")
    monkeypatch.setenv("REALTIME_MCP_SERVERS", "skills,pointer")
    settings = Settings()
    assert settings.skills_dirs == [tmp_path / f"a:{tmp_path}/b", tmp_path / "c"]
    assert settings.servers == ["skills", "pointer"]


def test_a_device_token_may_hold_colons_and_equals_signs(monkeypatch):
    # The id ends at the first `=`; everything after it is the token (base64 padding included).
    monkeypatch.setenv("REALTIME_MCP_DEVICE_TOKENS", "mac:1=a:b=c==,lab.pc-2=x:y")
    tokens = {k: v.get_secret_value() for k, v in Settings().device_tokens.items()}
    assert tokens == {"mac:1": "a:b=c==", "lab.pc-2": "x:y"}


def test_device_token_flags_hold_colons_too():
    args = build_parser().parse_args(["serve", "--device-token", "desk:0=t:o:k", "--device-token", "b=c"])
    tokens = {k: v.get_secret_value() for k, v in settings_from_args(args).device_tokens.items()}
    assert tokens == {"desk:0": "t:o:k", "b": "c"}


def test_verify_secrets_are_comma_separated_and_may_hold_colons(monkeypatch):
    monkeypatch.setenv("REALTIME_MCP_TOKEN_VERIFY_SECRETS", "old:secret:1,older:2")
    secrets = [s.get_secret_value() for s in Settings().token_verify_secrets]
    assert secrets == ["old:secret:1", "older:2"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.3.9", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("128.0.0.1", False),
        ("10.127.0.1", False),
        ("example.com", False),
    ],
)
def test_on_loopback_covers_the_whole_127_range(host, loopback):
    assert Settings(host=host).on_loopback is loopback


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    from servers import serve_cli

    serve_cli.register(parser.add_subparsers())
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["serve"]


def _sample(kind: object) -> tuple[str | None, object]:
    """A command-line value for a field of this type, and the value the field should then hold."""
    if typing.get_origin(kind) in (typing.Union, UnionType):
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    origin = typing.get_origin(kind)
    if kind is bool:
        return None, None  # a switch: the value is the opposite of the default
    if kind is int:
        return "4321", 4321
    if kind is str:
        return "sample:value", "sample:value"
    if origin is typing.Literal:
        choice = typing.get_args(kind)[-1]
        return str(choice), choice
    if origin is list and typing.get_args(kind)[0] is Path:
        return "/tmp/some:dir", [Path("/tmp/some:dir")]
    if origin is dict:
        return "dev:1=tok:en", {"dev:1": "tok:en"}
    raise AssertionError(f"no sample for {kind!r}: teach this test the new flag type")


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def test_every_serve_flag_sets_the_setting_it_is_named_for(monkeypatch):
    """Each `serve` option is a settings field's flag: given on the command line, it changes that field
    (and only that field) from its default. A hand-written flag with a wrong dest or type fails here."""
    monkeypatch.delenv("REALTIME_MCP_AUTH")  # set by conftest; here every field keeps its default
    defaults = settings_from_args(build_parser().parse_args(["serve"]))
    flags = [a for a in _serve_parser()._actions if a.option_strings and a.dest != "help"]
    assert len(flags) >= 10
    for action in flags:
        assert action.dest in Settings.model_fields, f"{action.option_strings[0]} sets no setting"
        field = Settings.model_fields[action.dest]
        text, expected = _sample(field.annotation)
        argv = ["serve", action.option_strings[0]] + ([text] if text is not None else [])
        settings = settings_from_args(build_parser().parse_args(argv))
        value = _plain(getattr(settings, action.dest))
        if text is None:
            expected = not field.default
        assert value == expected, action.option_strings[0]
        changed = {
            name
            for name in Settings.model_fields
            if _plain(getattr(settings, name)) != _plain(getattr(defaults, name))
        }
        assert changed == {action.dest}, action.option_strings[0]


def test_serve_flag_help_is_the_fields_description_unless_a_flag_help_is_given():
    for action in _serve_parser()._actions:
        if action.dest not in Settings.model_fields:
            continue
        field = Settings.model_fields[action.dest]
        marker = field.json_schema_extra
        assert isinstance(marker, dict)
        assert action.help == str(marker.get("flag_help") or field.description or "").replace("%", "%%")
