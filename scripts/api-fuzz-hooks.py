"""schemathesis hooks for scripts/api-fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

`role_allows`: no request succeeds outside its role. Every operation that needs a login says
which roles may call it in the OpenAPI document's `x-roles` extension (`employee`,
`department_head`, `hr_staff`, `super_admin`; a role listed may still be refused a target
outside its scope). The run's role is API_FUZZ_ROLE; a 2xx answer to a caller whose role is not
listed is a failure, and so is an operation with a bearer requirement and no `x-roles`.

`before_call`: the run's own login (API_FUZZ_USER) is never changed or deactivated through
`/api/auth/users/{username}/`: that would revoke the token the run uses (documented behaviour)
and leave the rest of the run testing only 401s. Such a request goes to another, unknown,
username instead.
"""

import os

import schemathesis

ROLES = {"employee", "department_head", "hr_staff", "super_admin"}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    own = os.environ.get("API_FUZZ_USER")
    if own is None or case.method.upper() not in ("PUT", "DELETE"):
        return
    parameters = case.path_parameters or {}
    if parameters.get("username") == own:
        parameters["username"] = own + "-not-me"


@schemathesis.check
def role_allows(ctx, response, case):
    role = os.environ.get("API_FUZZ_ROLE")
    if role is None:
        return None
    raw = case.operation.definition.raw
    roles = raw.get("x-roles")
    if roles is None:
        secured = any("bearer" in requirement for requirement in raw.get("security") or [])
        if secured:
            raise AssertionError(
                f"{case.operation.label} needs a login but its document has no `x-roles`"
            )
        return None
    unknown = set(roles) - ROLES
    if unknown:
        raise AssertionError(f"`x-roles` names unknown roles: {sorted(unknown)}")
    if role not in roles and 200 <= response.status_code < 300:
        raise AssertionError(
            f"{role} got {response.status_code} from {case.operation.label}, "
            f"which only {', '.join(roles)} may call"
        )
    return None
