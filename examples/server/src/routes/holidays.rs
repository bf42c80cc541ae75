//! `/api/attendance/holidays/`: the site's holidays (single or multi-day, recurring yearly,
//! observed or not). Everyone who may view holidays lists them; HR creates, replaces and deletes
//! them through [`AttendanceService`](attendance_core::service::AttendanceService), which
//! recomputes the daily records of the dates a change touches.

use attendance_core::access::{Action, authorize};
use attendance_core::holiday::{Holiday, HolidayType, NewHoliday};
use attendance_core::store::StoredHoliday;
use std::convert::identity;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::{both_slashes, paginate};
use crate::state::AppState;

/// A holiday as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HolidayView {
    /// The store's id.
    pub id: i64,
    /// The name (`Victory Day`).
    pub name: String,
    /// The first day.
    pub start: NaiveDate,
    /// The last day (inclusive; equal to `start` for a single day).
    pub end: NaiveDate,
    /// Whether it falls on the same month and day every year.
    pub recurring_yearly: bool,
    /// Whether it is a day off (an unobserved holiday is listed but worked).
    pub observed: bool,
    /// How many days one occurrence lasts.
    pub length_days: u64,
    /// `public`, `company` or `optional` (descriptive: `observed` says whether it is a day off).
    #[schema(value_type = String, example = "public")]
    pub holiday_type: HolidayType,
    /// The seed's name of `start`.
    pub start_date: NaiveDate,
    /// The seed's name of `end`.
    pub end_date: NaiveDate,
    /// The seed's name of `recurring_yearly`.
    pub is_recurring: bool,
    /// The seed's name of `observed`.
    pub is_observed: bool,
}

impl From<&StoredHoliday> for HolidayView {
    fn from(stored: &StoredHoliday) -> Self {
        let h = &stored.holiday;
        Self {
            id: stored.id,
            name: h.name().to_owned(),
            start: h.start(),
            end: h.end(),
            recurring_yearly: h.recurring_yearly(),
            observed: h.observed(),
            length_days: h.length_days(),
            holiday_type: h.holiday_type(),
            start_date: h.start(),
            end_date: h.end(),
            is_recurring: h.recurring_yearly(),
            is_observed: h.observed(),
        }
    }
}

/// A holiday as a client gives it (core's `NewHoliday`). Each field may also be given by the
/// seed's name (`start_date`, `end_date`, `is_recurring`, `is_observed`); giving both names of
/// one field is refused.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayBody {
    /// The name, 1 to 100 characters.
    pub name: String,
    /// The first day (or `start_date`).
    #[serde(alias = "start_date")]
    pub start: NaiveDate,
    /// The last day (inclusive; or `end_date`); left out for a single day.
    #[serde(default, alias = "end_date")]
    pub end: Option<NaiveDate>,
    /// Whether it falls on the same month and day every year (or `is_recurring`; default false).
    #[serde(default, alias = "is_recurring")]
    pub recurring_yearly: bool,
    /// Whether it is a day off (or `is_observed`; default true).
    #[serde(default = "observed_by_default", alias = "is_observed")]
    pub observed: bool,
    /// `public` (default), `company` or `optional`.
    #[serde(default)]
    #[schema(value_type = String, example = "public")]
    pub holiday_type: HolidayType,
}

fn observed_by_default() -> bool {
    true
}

/// The answer to a change: the holiday and how many daily records were recomputed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HolidayChangeView {
    /// The holiday as stored now.
    pub holiday: HolidayView,
    /// How many daily records were recomputed.
    pub recomputed: usize,
}

/// `GET /holidays/` filters.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct HolidayFilter {
    /// Only holidays with a day in this year (recurring ones included), 1 to 9999.
    pub year: Option<i32>,
}

/// Parses a body (after the caller was authorised, so a caller without the right gets 403 and
/// never learns what was wrong with the body).
fn parse_body(body: Value) -> ApiResult<Holiday> {
    let body: HolidayBody = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("invalid holiday: {e}")))?;
    Ok(Holiday::parse(&NewHoliday {
        name: body.name,
        start: body.start,
        end: body.end,
        recurring_yearly: body.recurring_yearly,
        observed: body.observed,
        holiday_type: body.holiday_type,
    })?)
}

/// Lists the holidays, by start date, optionally of one year.
#[utoipa::path(get, path = "/api/attendance/holidays/", tag = "holidays", security(("bearer" = [])),
    params(HolidayFilter, PageParams),
    responses((status = 200, body = Paginated<HolidayView>), (status = 403, description = "not allowed"),
        (status = 422, description = "year out of range")))]
async fn list_holidays(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(filter): ApiQuery<HolidayFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<HolidayView>>> {
    authorize(&user.actor, Action::ViewHolidays, None)?;
    let range = match filter.year {
        Some(year) => {
            let first = NaiveDate::from_ymd_opt(year, 1, 1).filter(|_| (1..=9999).contains(&year));
            let last = NaiveDate::from_ymd_opt(year, 12, 31);
            match (first, last) {
                (Some(first), Some(last)) => Some((first, last)),
                _ => return Err(ApiError::unprocessable("year must be from 1 to 9999")),
            }
        }
        None => None,
    };
    let all: Vec<HolidayView> = state
        .store
        .list_holidays()
        .await?
        .iter()
        .filter(|h| {
            range.is_none_or(|(first, last)| !h.holiday.dates_between(first, last).is_empty())
        })
        .map(HolidayView::from)
        .collect();
    Ok(Json(paginate(all.into_iter(), page, &uri, identity)))
}

/// Adds a holiday and recomputes the daily records of its dates.
#[utoipa::path(post, path = "/api/attendance/holidays/", tag = "holidays", security(("bearer" = [])),
    request_body = HolidayBody,
    responses((status = 201, body = HolidayChangeView), (status = 403, description = "not allowed"),
        (status = 422, description = "missing fields, reversed dates, too long")))]
async fn create_holiday(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<HolidayChangeView>)> {
    authorize(&user.actor, Action::ManageHolidays, None)?;
    let holiday = parse_body(body)?;
    let change = state
        .service
        .create_holiday(&user.actor, &user.username, &holiday, Utc::now())
        .await?;
    let stored = change
        .holiday
        .ok_or_else(|| ApiError::internal("create_holiday returned no holiday"))?;
    tracing::info!(user = %user.username, id = stored.id, recomputed = change.recomputed, "holiday created");
    Ok((
        StatusCode::CREATED,
        Json(HolidayChangeView {
            holiday: HolidayView::from(&stored),
            recomputed: change.recomputed,
        }),
    ))
}

/// One holiday.
#[utoipa::path(get, path = "/api/attendance/holidays/{id}/", tag = "holidays", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the holiday's id")),
    responses((status = 200, body = HolidayView), (status = 403, description = "not allowed"),
        (status = 404, description = "no such holiday")))]
async fn get_holiday(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<HolidayView>> {
    authorize(&user.actor, Action::ViewHolidays, None)?;
    Ok(Json(HolidayView::from(&state.store.holiday(id).await?)))
}

/// Replaces a holiday and recomputes the daily records of its old and new dates.
#[utoipa::path(put, path = "/api/attendance/holidays/{id}/", tag = "holidays", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the holiday's id")), request_body = HolidayBody,
    responses((status = 200, body = HolidayChangeView), (status = 403, description = "not allowed"),
        (status = 404, description = "no such holiday"), (status = 422, description = "invalid holiday")))]
async fn put_holiday(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<HolidayChangeView>> {
    authorize(&user.actor, Action::ManageHolidays, None)?;
    let holiday = parse_body(body)?;
    let change = state
        .service
        .update_holiday(&user.actor, &user.username, id, &holiday, Utc::now())
        .await?;
    let stored = change.holiday.unwrap_or(StoredHoliday { id, holiday });
    tracing::info!(user = %user.username, id, recomputed = change.recomputed, "holiday replaced");
    Ok(Json(HolidayChangeView {
        holiday: HolidayView::from(&stored),
        recomputed: change.recomputed,
    }))
}

/// Deletes a holiday and recomputes the daily records of its dates; 204.
#[utoipa::path(delete, path = "/api/attendance/holidays/{id}/", tag = "holidays", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the holiday's id")),
    responses((status = 204, description = "deleted"), (status = 403, description = "not allowed"),
        (status = 404, description = "no such holiday")))]
async fn delete_holiday(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    authorize(&user.actor, Action::ManageHolidays, None)?;
    let change = state
        .service
        .delete_holiday(&user.actor, &user.username, id, Utc::now())
        .await?;
    tracing::info!(user = %user.username, id, recomputed = change.recomputed, "holiday deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI of the holiday routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list_holidays,
        create_holiday,
        get_holiday,
        put_holiday,
        delete_holiday
    ),
    components(schemas(HolidayView, HolidayBody, HolidayChangeView))
)]
pub struct HolidaysDoc;

/// The holiday routes.
pub fn routes() -> Router<AppState> {
    let router = both_slashes(
        Router::new(),
        "/api/attendance/holidays/",
        get(list_holidays).post(create_holiday),
    );
    both_slashes(
        router,
        "/api/attendance/holidays/{id}/",
        get(get_holiday).put(put_holiday).delete(delete_holiday),
    )
}
