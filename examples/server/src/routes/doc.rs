//! What the OpenAPI document says of every operation alike, added once after the modules'
//! documents are merged, so no handler can forget it:
//!
//! - `x-roles`: the roles that may call each operation behind a login (from core's access
//!   policy, [`attendance_core::access`]; a role listed may still be refused a target outside
//!   its scope with 403, a role not listed is always refused). `scripts/api-fuzz.sh` fails any
//!   2xx answered to a role an operation does not list.
//! - the answers every handler can give through the shared extractors: 401 from [`AuthUser`]
//!   on every operation behind a login; 400 from `ApiPath` / `ApiQuery` (and from an
//!   unreadable JSON body or a missing JSON content type) on every operation with parameters or
//!   a body; 413 (over [`MAX_BODY_BYTES`]) and 422 (a body of the wrong shape) on every
//!   operation with a body; 422 on every operation with a text path parameter (a code the
//!   handler parses).
//!
//! [`AuthUser`]: crate::auth::AuthUser
//! [`MAX_BODY_BYTES`]: crate::MAX_BODY_BYTES

use serde_json::json;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr, Response};

/// Every role.
const EVERYONE: &[&str] = &["employee", "department_head", "hr_staff", "super_admin"];
/// Those who decide for others: department heads (their department), HR and super admins.
const DECIDERS: &[&str] = &["department_head", "hr_staff", "super_admin"];
/// Site administration: HR staff and super admins.
const HR: &[&str] = &["hr_staff", "super_admin"];

/// The roles of every operation behind a login: (method, path, roles).
pub const OPERATION_ROLES: &[(&str, &str, &[&str])] = &[
    ("get", "/api/auth/me", EVERYONE),
    ("post", "/api/auth/password/", EVERYONE),
    // HR staff manage `employee` and `department_head` accounts only (403 for the others).
    ("get", "/api/auth/users/", HR),
    ("post", "/api/auth/users/", HR),
    ("get", "/api/auth/users/{username}/", HR),
    ("put", "/api/auth/users/{username}/", HR),
    ("delete", "/api/auth/users/{username}/", HR),
    ("get", "/api/attendance/audit-log/", HR),
    ("get", "/api/attendance/corrections/", EVERYONE),
    ("post", "/api/attendance/corrections/", EVERYONE),
    ("get", "/api/attendance/corrections/{id}/", EVERYONE),
    (
        "post",
        "/api/attendance/corrections/{id}/approve/",
        DECIDERS,
    ),
    ("post", "/api/attendance/corrections/{id}/reject/", DECIDERS),
    ("get", "/api/attendance/daily-attendance/", EVERYONE),
    ("post", "/api/attendance/daily-attendance/", HR),
    ("get", "/api/attendance/daily-attendance/summary/", EVERYONE),
    (
        "get",
        "/api/attendance/daily-attendance/{employee_id}/{date}/",
        EVERYONE,
    ),
    (
        "put",
        "/api/attendance/daily-attendance/{employee_id}/{date}/",
        HR,
    ),
    (
        "delete",
        "/api/attendance/daily-attendance/{employee_id}/{date}/",
        HR,
    ),
    ("get", "/api/attendance/employees/", EVERYONE),
    ("post", "/api/attendance/employees/", HR),
    ("post", "/api/attendance/employees/import/", HR),
    ("get", "/api/attendance/employees/{employee_id}/", EVERYONE),
    ("put", "/api/attendance/employees/{employee_id}/", HR),
    ("delete", "/api/attendance/employees/{employee_id}/", HR),
    ("get", "/api/attendance/holidays/", EVERYONE),
    ("post", "/api/attendance/holidays/", HR),
    ("get", "/api/attendance/holidays/{id}/", EVERYONE),
    ("put", "/api/attendance/holidays/{id}/", HR),
    ("delete", "/api/attendance/holidays/{id}/", HR),
    ("get", "/api/attendance/leave-balances/", EVERYONE),
    ("post", "/api/attendance/leave-balances/allocate/", HR),
    ("post", "/api/attendance/leave-balances/rollover/", HR),
    ("get", "/api/attendance/leave-policies/", EVERYONE),
    ("post", "/api/attendance/leave-policies/", HR),
    (
        "get",
        "/api/attendance/leave-policies/{leave_type}/",
        EVERYONE,
    ),
    ("put", "/api/attendance/leave-policies/{leave_type}/", HR),
    ("get", "/api/attendance/leave-requests/", EVERYONE),
    ("post", "/api/attendance/leave-requests/", EVERYONE),
    ("get", "/api/attendance/leave-requests/{id}/", EVERYONE),
    (
        "post",
        "/api/attendance/leave-requests/{id}/approve/",
        DECIDERS,
    ),
    (
        "post",
        "/api/attendance/leave-requests/{id}/reject/",
        DECIDERS,
    ),
    (
        "post",
        "/api/attendance/leave-requests/{id}/cancel/",
        EVERYONE,
    ),
    (
        "get",
        "/api/attendance/leave-requests/{id}/documents/",
        EVERYONE,
    ),
    (
        "post",
        "/api/attendance/leave-requests/{id}/documents/",
        EVERYONE,
    ),
    (
        "get",
        "/api/attendance/leave-requests/{id}/documents/{doc_id}",
        EVERYONE,
    ),
    ("get", "/api/attendance/machines/", HR),
    ("post", "/api/attendance/machines/", HR),
    ("get", "/api/attendance/machines/{id}/", HR),
    ("put", "/api/attendance/machines/{id}/", HR),
    ("delete", "/api/attendance/machines/{id}/", HR),
    ("post", "/api/attendance/machines/{id}/test/", HR),
    ("get", "/api/attendance/reports/monthly/", EVERYONE),
    ("get", "/api/attendance/scans/", EVERYONE),
    ("post", "/api/attendance/scans/", HR),
    ("post", "/api/attendance/scans/import/", HR),
    ("get", "/api/attendance/scans/set-aside/", HR),
    ("post", "/api/attendance/scans/{id}/void/", HR),
    ("get", "/api/attendance/settings/", EVERYONE),
    ("put", "/api/attendance/settings/", HR),
    ("get", "/api/attendance/statistics/", EVERYONE),
    ("get", "/api/attendance/system-status/", HR),
    ("get", "/api/attendance/timesheet/", EVERYONE),
];

/// Adds `x-roles` and the shared answers (see the module docs) to every operation of `doc`.
pub(crate) fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ];
        for (method, operation) in operations
            .into_iter()
            .filter_map(|(method, operation)| Some((method, operation?)))
        {
            complete_operation(method, path, operation);
        }
    }
}

fn complete_operation(method: &str, path: &str, operation: &mut Operation) {
    let behind_login = operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement).is_ok_and(|v| v.get("bearer").is_some())
    });
    if behind_login {
        if let Some((_, _, roles)) = OPERATION_ROLES
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
        {
            let extensions = ExtensionsBuilder::new()
                .add("x-roles", json!(roles))
                .build();
            match operation.extensions.as_mut() {
                Some(existing) => existing.merge(extensions),
                None => operation.extensions = Some(extensions),
            }
        }
        add_response(
            operation,
            "401",
            "missing, invalid, expired or revoked token",
        );
    }
    let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = operation.request_body.is_some();
    if has_parameters || has_body {
        add_response(
            operation,
            "400",
            "a path or query parameter, or the body, that cannot be read",
        );
    }
    if has_text_path_parameter(operation) {
        add_response(
            operation,
            "422",
            "an id in the path that is not a valid one (wrong characters, too long)",
        );
    }
    if has_body {
        add_response(operation, "413", "body over the size limit");
        add_response(operation, "422", "a body of the wrong shape or values");
    }
}

/// Whether a path parameter is text, which the handlers parse as a code (`EmployeeCode`, a
/// username, a leave type, …) and refuse with 422 when it is not one.
fn has_text_path_parameter(operation: &Operation) -> bool {
    operation.parameters.iter().flatten().any(|parameter| {
        let Ok(parameter) = serde_json::to_value(parameter) else {
            return false;
        };
        parameter["in"] == "path" && parameter["schema"]["type"] == "string"
    })
}

/// Adds `status` with `description` unless the operation documents it already.
fn add_response(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(Response::new(description)));
}
