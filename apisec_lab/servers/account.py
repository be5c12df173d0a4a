"""The resource API's account routes: the profile update, the account page, the people directory, a staff function.

Mixed into :class:`apisec_lab.servers.api.ResourceAPI`, which gives them ``store``, ``weaknesses`` and
``_json_body``; each handler is named in :data:`apisec_lab.servers.endpoints.ENDPOINTS`. Two of them carry a
weakness of OWASP API3:2023 (*broken object property level authorization*: which *fields* of an object a
caller may write or read), and their detectors sit in the weakened branch, where the flaw is really used:

- ``mass_assignment``: ``PATCH /me`` binds the whole body onto the account (:meth:`AccountRoutes.update_me`);
- ``excessive_data_exposure``: ``GET /people`` sends whole records (:meth:`AccountRoutes.people`).

The staff function ``POST /support/credits`` needs the role ``staff``: the router checks it before the handler
runs (:meth:`apisec_lab.servers.api.ResourceAPI._function_level`, OWASP API5:2023).
"""
from __future__ import annotations

from werkzeug.exceptions import BadRequest, NotFound

from ..http.jsonbody import read_json
from ..http.wsgi import json_response
from .endpoints import CREDITS_BODY, PROFILE_UPDATE_BODY

#: What a user may change about themselves: the allow-list of PATCH /me (its body's schema says the same).
USER_EDITABLE = tuple(PROFILE_UPDATE_BODY["properties"])
#: What a stranger may see of a user.
PUBLIC_FIELDS = ("username", "display_name")


class AccountRoutes:
    """The handlers of the account routes (a mixin of :class:`~apisec_lab.servers.api.ResourceAPI`)."""

    def update_me(self, request, principal):
        if self.weaknesses.mass_assignment:
            changes = self._bind_everything(request)
        else:
            changes = self._json_body(request, PROFILE_UPDATE_BODY)     # the allow-list, as a schema
        self.store.update_account(principal.user, changes)
        privileged = {k: v for k, v in changes.items() if k not in USER_EDITABLE}
        if privileged:       # only the weakened binding gets here
            said = ", ".join(f"{k}={v!r}" for k, v in privileged.items())
            self.store.exploited("mass_assignment", f"{principal.user} set {said} through PATCH /me",
                                 principal.grant_id, principal.client_id, principal.user)
        return self.me(request, principal)

    def _bind_everything(self, request) -> dict:
        """The mass-assignment weakness: every field of the body that is a column of the account is set.

        As an ORM's ``account.update(**body)`` does: fields the account lacks are ignored, and the values
        must still fit the columns (a wrong type is a 400, never a crash).
        """
        body = read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        changes = {k: v for k, v in body.items() if k in self.store.ACCOUNT_FIELDS}
        for name, value in changes.items():
            problem = _column_problem(self.store, name, value)
            if problem:
                raise BadRequest(f"{name}: {problem}")
        return changes

    def account(self, request, principal):
        return json_response(_account(self.store.user(principal.user)))

    def people(self, request, principal):
        rows = self.store.people()
        if not self.weaknesses.excessive_data_exposure:
            return json_response([{k: r[k] for k in PUBLIC_FIELDS} for r in rows])
        # The weakness: the whole record of everyone, for the app to filter (it shows names only).
        others = [r["username"] for r in rows if r["username"] != principal.user]
        if others:
            hidden = [k for k in rows[0].keys() if k not in PUBLIC_FIELDS]
            self.store.exploited("excessive_data_exposure",
                                 f"the {', '.join(hidden)} of {', '.join(others)} sent to {principal.user}'s app "
                                 f"({principal.client_id or 'HTTP Basic'}), which shows names only",
                                 principal.grant_id, principal.client_id, principal.user)
        return json_response([dict(r) for r in rows])

    def support_credits(self, request, principal):
        body = self._json_body(request, CREDITS_BODY)
        if not self.store.add_credits(body["username"], body["credits"]):
            raise NotFound(f"No user {body['username'][:100]!r}.")
        return json_response(_account(self.store.user(body["username"])))


def _account(row) -> dict:
    return {"username": row["username"], "role": row["role"], "plan": row["plan"],
            "print_credits": row["print_credits"]}


def _column_problem(store, name: str, value) -> str | None:
    """Why *value* does not fit the account's column *name*, or None."""
    if name == "print_credits":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**6:
            return "must be a whole number from 0 to 1000000"
        return None
    if not isinstance(value, str):
        return "must be a string"
    choices = {"role": store.ROLES, "plan": store.PLANS}.get(name)
    if choices and value not in choices:
        return f"must be one of {list(choices)}"
    limits = PROFILE_UPDATE_BODY["properties"].get(name, {})
    if not limits.get("minLength", 0) <= len(value) <= limits.get("maxLength", 200):
        return f"length must be {limits.get('minLength', 0)} to {limits.get('maxLength', 200)}"
    return None
