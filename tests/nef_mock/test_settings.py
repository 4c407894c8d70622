"""NEF settings: development secrets are refused outside dev mode; the environment is read with NEF_."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nef_mock.settings import NefSettings

REAL_SECRET = "x" * 40


def test_default_secrets_are_refused_outside_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEF_DEV_MODE", raising=False)
    with pytest.raises(ValidationError, match="NEF_TOKEN_SECRET"):
        NefSettings()
    with pytest.raises(ValidationError, match="NEF_CLIENTS"):
        NefSettings(token_secret=REAL_SECRET)
    with pytest.raises(ValidationError, match="32 characters"):
        NefSettings(token_secret="short", clients={"af": {"secret": REAL_SECRET, "afId": "af"}})


def test_environment_configures_clients_and_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEF_TOKEN_SECRET", REAL_SECRET)
    monkeypatch.setenv(
        "NEF_CLIENTS", '{"fl-af": {"secret": "' + REAL_SECRET + '", "afId": "fl-af", "apis": ["3gpp-musa"]}}'
    )
    monkeypatch.setenv("NEF_TOKEN_TTL_S", "120")
    settings = NefSettings()
    assert settings.clients["fl-af"].af_id == "fl-af"
    assert settings.clients["fl-af"].apis == ["3gpp-musa"]
    assert settings.token_ttl_s == 120 and not settings.auth_disabled and not settings.dev_mode


def test_auth_disabled_and_dev_mode_are_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEF_AUTH_DISABLED", "true")
    assert NefSettings().auth_disabled
    monkeypatch.delenv("NEF_AUTH_DISABLED")
    monkeypatch.setenv("NEF_DEV_MODE", "true")
    assert NefSettings().dev_mode and not NefSettings().auth_disabled
