"""Tokens: minting, verification, key rotation, the secret's home, and the `token mint` command."""

import stat
import time

import jwt
import pytest
from pydantic import SecretStr

from servers.auth.secrets import AuthConfigError, load_or_create_secret, secret_path, token_keys
from servers.auth.tokens import InvalidTokenError, TokenKeys, mint, parse_scopes, parse_ttl, verify
from servers.cli import main
from servers.settings import Settings

SECRET = "s" * 40
OLD_SECRET = "o" * 40
KEYS = TokenKeys.from_secrets(SECRET)


def _mint(keys=KEYS, **overrides):
    args = {
        "device": "mac-1",
        "scopes": ["screen"],
        "ttl": 60,
        "issuer": "realtime-mcp",
        "audience": "realtime-mcp",
    }
    return mint(keys, **(args | overrides))


def _verify(token, keys=KEYS, audience="realtime-mcp"):
    return verify(keys, token, issuer="realtime-mcp", audience=audience)


def test_minted_token_carries_device_scopes_and_lifetime():
    before = int(time.time())
    claims = _verify(_mint(scopes=["skills", "pointer"], ttl=3600))
    assert claims.device == "mac-1"
    assert claims.scopes == ("skills", "pointer")
    assert before <= claims.issued_at <= before + 2
    assert claims.expires_at - claims.issued_at == 3600
    assert len(claims.token_id) == 32


def test_every_token_has_its_own_id():
    assert _verify(_mint()).token_id != _verify(_mint()).token_id


def test_expired_token_is_refused():
    token = _mint(ttl=60, now=time.time() - 120)
    with pytest.raises(InvalidTokenError, match="expired"):
        _verify(token)


def test_tampered_token_is_refused():
    header, payload, signature = _mint().split(".")
    forged = jwt.encode(
        jwt.decode(_mint(), options={"verify_signature": False}) | {"sub": "mac-2"},
        "x" * 40,
        algorithm="HS256",
    ).split(".")[1]
    with pytest.raises(InvalidTokenError, match="bad signature"):
        _verify(f"{header}.{forged}.{signature}")
    with pytest.raises(InvalidTokenError):
        _verify(f"{header}.{payload}.{signature[:-4]}AAAA")


def test_token_signed_with_another_secret_is_refused():
    with pytest.raises(InvalidTokenError, match="unknown key"):
        _verify(_mint(keys=TokenKeys.from_secrets("z" * 40)))


def test_unsigned_token_is_refused():
    claims = jwt.decode(_mint(), options={"verify_signature": False})
    kid = jwt.get_unverified_header(_mint())["kid"]
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError):
        _verify(unsigned)


def test_wrong_audience_and_issuer_are_refused():
    with pytest.raises(InvalidTokenError, match="audience"):
        _verify(_mint(audience="someone-else"))
    with pytest.raises(InvalidTokenError, match="issuer"):
        _verify(_mint(issuer="someone-else"))


def test_garbage_is_refused():
    for token in ("", "abc", "a.b.c", "Bearer x"):
        with pytest.raises(InvalidTokenError):
            _verify(token)


def test_rotation_accepts_old_secret_until_it_is_dropped():
    old_token = _mint(keys=TokenKeys.from_secrets(OLD_SECRET))
    rotated = TokenKeys.from_secrets(SECRET, [OLD_SECRET])
    assert _verify(old_token, keys=rotated).device == "mac-1"
    assert _verify(_mint(keys=rotated), keys=TokenKeys.from_secrets(SECRET)).device == "mac-1"
    with pytest.raises(InvalidTokenError):
        _verify(old_token, keys=TokenKeys.from_secrets(SECRET))


def test_short_secrets_are_refused():
    with pytest.raises(ValueError, match="32 characters"):
        TokenKeys.from_secrets("short")


def test_ttl_and_scope_parsing():
    assert [parse_ttl(t) for t in ("90", "90s", "15m", "1h", "7d")] == [90, 90, 900, 3600, 604800]
    for bad in ("", "1w", "-5", "0", "h", "999d"):
        with pytest.raises(ValueError):
            parse_ttl(bad)
    assert parse_scopes("skills, screen,skills") == ("skills", "screen")
    for bad in ("", "admin", "skills,root"):
        with pytest.raises(ValueError, match="Scopes must be among"):
            parse_scopes(bad)


def test_device_ids_follow_the_capture_protocol():
    with pytest.raises(ValueError, match="Device id"):
        _mint(device="mac 1/../x")
    assert _verify(_mint(device="studio.mac:2_b-1")).device == "studio.mac:2_b-1"


def test_generated_secret_is_private_and_stable(tmp_path):
    path = tmp_path / "state" / "token-secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_secret(path) == first


def test_secret_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "token-secret"
    path.write_text(SECRET)
    path.chmod(0o644)
    with pytest.raises(AuthConfigError, match="chmod 600"):
        load_or_create_secret(path)


def test_server_off_loopback_needs_an_explicit_secret(tmp_path):
    settings = Settings(auth=True, host="0.0.0.0", state_dir=tmp_path)
    with pytest.raises(AuthConfigError, match="REALTIME_MCP_TOKEN_SECRET"):
        token_keys(settings, for_server=True)
    assert not secret_path(settings).exists()
    configured = Settings(auth=True, host="0.0.0.0", state_dir=tmp_path, token_secret=SecretStr(SECRET))
    assert token_keys(configured, for_server=True).signing == SECRET.encode()


def test_loopback_server_and_cli_share_the_generated_secret(tmp_path):
    settings = Settings(auth=True, state_dir=tmp_path)
    assert token_keys(settings, for_server=True) == token_keys(settings, for_server=False)
    assert secret_path(settings).exists()


def test_rotation_secrets_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REALTIME_MCP_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("REALTIME_MCP_TOKEN_VERIFY_SECRETS", f"{OLD_SECRET}, {'p' * 40}")
    keys = token_keys(Settings(), for_server=True)
    assert keys.verifying == (OLD_SECRET.encode(), b"p" * 40)
    assert SECRET not in repr(Settings())


def test_token_mint_command_prints_a_verifiable_token(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("REALTIME_MCP_STATE_DIR", str(tmp_path))
    assert main(["token", "mint", "--device", "mac-1", "--scopes", "screen,pointer", "--ttl", "2h"]) == 0
    token = capsys.readouterr().out.strip()
    keys = token_keys(Settings(), for_server=False)
    claims = _verify(token, keys=keys)
    assert (claims.device, claims.scopes) == ("mac-1", ("screen", "pointer"))
    assert claims.expires_at - claims.issued_at == 7200


def test_token_mint_command_explains_bad_input(capsys):
    assert main(["token", "mint", "--device", "mac-1", "--scopes", "everything"]) == 2
    assert "Scopes must be among skills, screen, pointer, device" in capsys.readouterr().err
    assert main(["token", "mint", "--device", "mac-1", "--ttl", "forever"]) == 2
    assert "TTL 'forever' is not understood" in capsys.readouterr().err
