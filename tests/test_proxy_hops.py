"""PORTAL_PROXY_HOPS: behind a trusted proxy, rate limits count each client's own address."""

from __future__ import annotations

import pytest

from portal.core.roles import Role


def _attempts(client, email: str, address: str, count: int) -> list[int]:
    return [
        client.submit(
            "/auth/login",
            {"email": email, "password": "wrong password!"},
            headers={"X-Forwarded-For": address},
        ).status_code
        for _ in range(count)
    ]


@pytest.mark.parametrize("app_config", [{"PORTAL_PROXY_HOPS": 1}])
def test_behind_a_proxy_each_forwarded_address_has_its_own_limit(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    first, second = make_user(Role.DELEGATE), make_user(Role.DELEGATE)
    assert _attempts(client, first.email, "203.0.113.7", 3) == [422, 422, 429]
    # Another client behind the same proxy is not blocked by the first one's attempts.
    assert _attempts(client, second.email, "203.0.113.8", 2) == [422, 422]


def test_without_proxy_hops_a_forwarded_address_is_not_trusted(client, make_user):
    client.application.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    first, second = make_user(Role.DELEGATE), make_user(Role.DELEGATE)
    assert _attempts(client, first.email, "203.0.113.7", 2) == [422, 422]
    # A forged header does not give the same client a fresh allowance.
    assert _attempts(client, second.email, "203.0.113.8", 1) == [429]
