"""Every route of the portal against every role, with the status each must get.

Each feature adds a module here with `ROUTES` (a list of `Route`) and optionally
`setup(app, users) -> dict` that creates the records its paths name (placeholders like
`{ticket_id}` in a path are filled from what setup returns). tests/test_routes_by_role.py walks
them all and fails if any route of the app is missing from every table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# "programme" is an untiered staff account with the programme-staff permission.
ROLES = (
    "anonymous",
    "applicant",
    "delegate",
    "staff",
    "tier1",
    "tier2",
    "tier3",
    "programme",
    "admin",
)
STAFF_ROLES = ("staff", "tier1", "tier2", "tier3", "programme", "admin")


@dataclass(frozen=True)
class Route:
    """A request and the status each role must get: `default` for roles not named in `expect`."""

    method: str
    path: str
    expect: dict[str, int] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    def status_for(self, role: str, default: int) -> int:
        return self.expect.get(role, default)


def signed_in(ok: int, *, anonymous: int = 302) -> dict[str, int]:
    """Any signed-in account gets `ok`; the signed-out are sent to sign in."""
    return {"anonymous": anonymous, **dict.fromkeys(ROLES[1:], ok)}


def delegates(ok: int, *, anonymous: int = 302) -> dict[str, int]:
    return {"anonymous": anonymous, "applicant": 403, **dict.fromkeys(ROLES[2:], ok)}


def staff(ok: int, *, anonymous: int = 302) -> dict[str, int]:
    return {
        "anonymous": anonymous,
        "applicant": 403,
        "delegate": 403,
        **dict.fromkeys(STAFF_ROLES, ok),
    }


def programme_staff(ok: int, *, anonymous: int = 302) -> dict[str, int]:
    """Programme staff and admins get `ok`; other staff, like everyone else, 403."""
    return {**dict.fromkeys(ROLES, 403), "anonymous": anonymous, "programme": ok, "admin": ok}


def admins(ok: int, *, anonymous: int = 302) -> dict[str, int]:
    return {**dict.fromkeys(ROLES, 403), "anonymous": anonymous, "admin": ok}


def everyone(ok: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, ok)
