"""A stand-in for GitHub: the OAuth web flow, /user and /user/emails, and team memberships."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

from werkzeug.wrappers import Request, Response

from tests.standins.server import StandIn, json_response, serve_forever


class GitHubStandIn(StandIn):
    def __init__(
        self,
        client_id: str = "gh-client-id",
        client_secret: str = "gh-client-secret",  # noqa: S107 - a stand-in's fixed test secret
        api_token: str = "ghp-provisioning-token",  # noqa: S107 - a stand-in's fixed test secret
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_token = api_token
        self.users: dict[str, dict[str, Any]] = {}
        self.next_login: str | None = None
        self.deny = False
        self.codes: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.memberships: dict[str, dict[str, str]] = {}
        self.calls: list[str] = []
        self.down = False
        self.fail_statuses: list[int] = []

    def add_user(
        self, login: str, user_id: int, email: str | None, *, name: str = "", verified: bool = True
    ) -> None:
        emails = [{"email": email, "verified": verified, "primary": True}] if email else []
        self.users[login] = {"id": user_id, "login": login, "name": name or login, "emails": emails}

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"memberships": self.memberships, "calls": self.calls}

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.calls.append(f"{request.method} {request.path}")
            if self.down:
                return json_response({"message": "Service unavailable"}, 503)
            if self.fail_statuses:
                status = self.fail_statuses.pop(0)
                headers = {"Retry-After": "1"} if status == 429 else None
                return json_response({"message": "failure"}, status, headers)
        path = request.path
        if path == "/login/oauth/authorize":
            return self._authorize(request)
        if path == "/login/oauth/access_token":
            return self._access_token(request)
        if path in ("/user", "/user/emails"):
            return self._user(request, emails=path.endswith("emails"))
        if path.startswith("/orgs/"):
            return self._membership(request)
        return json_response({"message": "Not Found"}, 404)

    def _authorize(self, request: Request) -> Response:
        redirect_uri = request.args["redirect_uri"]
        state = request.args.get("state", "")
        if self.deny or self.next_login is None or request.args.get("client_id") != self.client_id:
            query = urlencode({"error": "access_denied", "state": state})
        else:
            code = secrets.token_hex(8)
            self.codes[code] = self.next_login
            query = urlencode({"code": code, "state": state})
        return Response(status=302, headers={"Location": f"{redirect_uri}?{query}"})

    def _access_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return json_response({"error": "incorrect_client_credentials"})
        login = self.codes.pop(form.get("code", ""), None)
        if login is None:
            return json_response({"error": "bad_verification_code"})
        token = "gho_" + secrets.token_hex(12)
        self.tokens[token] = login
        return json_response(
            {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
        )

    def _user(self, request: Request, *, emails: bool) -> Response:
        token = (
            request.headers.get("Authorization", "").removeprefix("Bearer ").removeprefix("token ")
        )
        login = self.tokens.get(token)
        if login is None:
            return json_response({"message": "Bad credentials"}, 401)
        user = self.users[login]
        if emails:
            return json_response(user["emails"])
        return json_response({"id": user["id"], "login": user["login"], "name": user["name"]})

    def _membership(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_token}":
            return json_response({"message": "Bad credentials"}, 401)
        parts = request.path.strip("/").split("/")
        # orgs/{org}/teams/{team}/memberships/{username}
        if len(parts) != 6 or parts[2] != "teams" or parts[4] != "memberships":
            return json_response({"message": "Not Found"}, 404)
        team_key = f"{parts[1]}/{parts[3]}"
        username = parts[5]
        with self.lock:
            team = self.memberships.setdefault(team_key, {})
            if request.method == "PUT":
                state = "active" if username in self.users else "pending"
                team[username] = state
                return json_response({"state": state, "role": "member"})
            if request.method == "DELETE":
                if team.pop(username, None) is None:
                    return json_response({"message": "Not Found"}, 404)
                return Response(status=204)
            if username in team:
                return json_response({"state": team[username], "role": "member"})
        return json_response({"message": "Not Found"}, 404)


if __name__ == "__main__":
    serve_forever(GitHubStandIn(), "GitHub stand-in")
