//! Leave under `/api/attendance/`: policies, balances, requests with their approval chain, and the
//! documents attached to a request (a medical certificate).
//!
//! - Amounts are shown and taken in **days** (numbers, in steps of 0.5); core keeps them as whole
//!   half days.
//! - `leave-policies/` lists the stored policies; a named leave type with no stored policy is
//!   listed with its statutory default (`is_default: true`), which is also what the rules apply.
//!   Nothing is seeded: the first `PUT` of a type stores it (or `POST leave-policies/` with the
//!   type in the body, which refuses a type stored already).
//! - Year-end: `leave-balances/allocate/` without an `employee_id` allocates the year's
//!   entitlements to every active employee in scope, `leave-balances/rollover/` carries a year's
//!   unused balance forward; both are idempotent (core's `AttendanceService::allocate_year` and
//!   `rollover_year`). The runtime runs both once at the start of each year.
//! - Errors from core's submission rules answer 422 with their message, a short balance at
//!   submission included (the application as asked breaks a rule); a short balance at the final
//!   approval answers 409 (the stored balance changed since the request was submitted), as do
//!   decisions on a request that is no longer pending.
//! - Documents are kept in the database through core's `LeaveDocumentStore` port, bytes and
//!   all, so they outlive a restart; the store checks the per-request limit in the same
//!   transaction as the insert. A document is at most [`MAX_DOCUMENT_BYTES`] and must be a PDF,
//!   JPEG or PNG by its first bytes.
//!
//! One module per concept: `policies`, `balances`, `requests` (with their decisions) and
//! `documents`; this module holds the amounts in days shared by all of them, the OpenAPI doc
//! and the router.

mod balances;
mod documents;
mod policies;
mod requests;

use attendance_core::calendar::LeaveType;
use attendance_core::employee::EmployeeCode;
use attendance_core::leave::HalfDays;
use axum::Router;
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde_json::json;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::routes::both_slashes;
use crate::routes::scans::today;
use crate::state::AppState;

pub use balances::{
    AllocationBody, BalanceParams, BalanceSheet, BalanceView, BalancesAnswer, RolloverBody,
    YearAllocationBody, YearEndView,
};
pub use documents::{DocumentView, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_PER_REQUEST, UploadParams};
pub use policies::{PolicyBody, PolicyView};
pub use requests::{DecisionBody, LeaveRequestBody, LeaveRequestView, RequestFilter};

fn days(amount: HalfDays) -> f64 {
    amount.halves() as f64 / 2.0
}

/// `value` days as half days: a finite multiple of 0.5 from 0 to 100 000; 422 naming `field`
/// otherwise.
fn half_days(field: &str, value: f64) -> ApiResult<HalfDays> {
    let halves = value * 2.0;
    if !value.is_finite() || !(0.0..=200_000.0).contains(&halves) || halves.fract() != 0.0 {
        return Err(ApiError::unprocessable(format!(
            "{field} must be a number of days from 0 to 100000 in steps of 0.5, not {value}"
        ))
        .with_details(json!({ "field": field })));
    }
    Ok(HalfDays::new(halves as i64))
}

fn parse_leave_type(text: &str) -> ApiResult<LeaveType> {
    Ok(text.parse::<LeaveType>()?)
}

/// Today on the site's clock (the settings' time zone), as the leave rules count dates.
async fn site_today(state: &AppState) -> ApiResult<NaiveDate> {
    Ok(today(&state.store.settings().await?))
}

/// The employee named by `given`, else the caller's own; 422 when neither.
fn employee_or_own(user: &AuthUser, given: Option<&str>) -> ApiResult<EmployeeCode> {
    match given {
        Some(code) => Ok(EmployeeCode::parse(code)?),
        None => user.actor.employee.clone().ok_or_else(|| {
            ApiError::unprocessable("employee_id is required: the caller is no employee")
                .with_details(json!({ "field": "employee_id" }))
        }),
    }
}

/// The OpenAPI of the leave routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        policies::list_policies,
        policies::get_policy,
        policies::put_policy,
        policies::create_policy,
        balances::get_balances,
        balances::allocate,
        balances::rollover,
        requests::create_request,
        requests::list_requests,
        requests::get_request,
        requests::approve,
        requests::reject,
        requests::cancel,
        documents::upload_document,
        documents::list_documents,
        documents::download_document
    ),
    components(schemas(
        PolicyView,
        PolicyBody,
        BalanceView,
        BalanceSheet,
        BalancesAnswer,
        AllocationBody,
        YearAllocationBody,
        RolloverBody,
        YearEndView,
        LeaveRequestView,
        LeaveRequestBody,
        DecisionBody,
        DocumentView
    ))
)]
pub struct LeaveDoc;

/// The leave routes.
pub fn routes() -> Router<AppState> {
    let base = "/api/attendance";
    let mut router = Router::new();
    for (path, route) in [
        (
            "leave-policies/",
            get(policies::list_policies).post(policies::create_policy),
        ),
        (
            "leave-policies/{leave_type}/",
            get(policies::get_policy)
                .put(policies::put_policy)
                .post(policies::put_policy),
        ),
        ("leave-balances/", get(balances::get_balances)),
        ("leave-balances/allocate/", post(balances::allocate)),
        ("leave-balances/rollover/", post(balances::rollover)),
        (
            "leave-requests/",
            get(requests::list_requests).post(requests::create_request),
        ),
        ("leave-requests/{id}/", get(requests::get_request)),
        ("leave-requests/{id}/approve/", post(requests::approve)),
        ("leave-requests/{id}/reject/", post(requests::reject)),
        ("leave-requests/{id}/cancel/", post(requests::cancel)),
        (
            "leave-requests/{id}/documents/",
            get(documents::list_documents).post(documents::upload_document),
        ),
        (
            "leave-requests/{id}/documents/{doc_id}",
            get(documents::download_document),
        ),
    ] {
        router = both_slashes(router, &format!("{base}/{path}"), route);
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_convert_in_half_steps_only() {
        assert_eq!(half_days("d", 2.5).unwrap(), HalfDays::new(5));
        assert_eq!(half_days("d", 0.0).unwrap(), HalfDays::ZERO);
        for bad in [-0.5, 1.3, f64::NAN, f64::INFINITY, 100_000.5] {
            assert!(half_days("d", bad).is_err(), "{bad}");
        }
        assert_eq!(days(HalfDays::new(3)), 1.5);
    }
}
