//! Day overrides: HR sets a day's status by hand on `daily-attendance/{employee_id}/{date}/`, and
//! every route that shows or counts days applies the override in force.
//!
//! - `PUT daily-attendance/{employee_id}/{date}/` with `{status, reason}` (HR and admins,
//!   [`Action::EditAttendance`]) sets the override: the day is computed first when no record is
//!   stored yet, the override stored beside it (a recompute keeps it), published and audited;
//!   the answer is the day's summary with the override applied. The same `PUT` without a body
//!   (or with `{}`) still recomputes the day, as it always did.
//! - `DELETE` on the same path removes the override in force (`reason` optional, in the body or
//!   as `?reason=`) and answers the day as computed. With no override in force, a `DELETE` that
//!   gives a reason is 404; one without a reason still deletes the stored record, as it always
//!   did (204).
//!
//! The helpers below read overrides once per answer (or once per overridden employee where
//! records must be matched with them) and apply them: a summary shows the overridden `status`
//! beside `computed_status` and `override`; lists filter and statistics count by the status
//! shown.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use attendance_core::access::Action;
use attendance_core::daily::DailyRecord;
use attendance_core::employee::{Employee, EmployeeCode};
use attendance_core::overrides::DayOverride;
use attendance_core::report::DailySummary;
use attendance_core::service::ServiceError;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{RecordOrder, RecordQuery, StoreError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::routes::corrections::optional_json;
use crate::routes::employees::{employee_for, parse_code};
use crate::routes::scans::today;
use crate::state::AppState;

/// How many stored records one read behind a filtered list or a count reads at most.
const READ_LIMIT: u64 = 1_000_000;

/// The bounds of an open date range when overrides are read (every store takes these dates).
fn open_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> (NaiveDate, NaiveDate) {
    (
        from.unwrap_or(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default()),
        to.unwrap_or(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default()),
    )
}

/// The body of `PUT daily-attendance/{employee_id}/{date}/`: both fields set an override;
/// neither (or no body) recomputes the day.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct OverrideInput {
    /// The status to show and count (`Present-OnTime`, `Absent`, `Leave-Sick`, …; not
    /// `Pending`).
    #[serde(default)]
    pub status: Option<String>,
    /// Why (required with `status`, at most 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The optional body (or query) of `DELETE daily-attendance/{employee_id}/{date}/`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
pub struct RemoveInput {
    /// Why the override is removed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `body` read as an [`OverrideInput`] that sets an override, or `None` when it asks for the
/// plain recompute (no body, `{}`).
pub(crate) fn override_body(
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Option<OverrideInput>> {
    Ok(optional_json::<OverrideInput>(body)?
        .filter(|input| input.status.is_some() || input.reason.is_some()))
}

/// The overrides of `codes` (`None`: everyone) from `from` to `to`.
pub(crate) async fn overrides_of(
    state: &AppState,
    codes: Option<&[EmployeeCode]>,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<DayOverride>> {
    if codes.is_some_and(<[EmployeeCode]>::is_empty) || from > to {
        return Ok(Vec::new());
    }
    Ok(state.service.overrides(codes, from, to).await?)
}

/// The summaries of `employee`'s `records`, with `overrides` applied.
pub(crate) fn summaries_of(
    employee: &Employee,
    records: &[DailyRecord],
    overrides: &[DayOverride],
    tz: chrono_tz::Tz,
) -> Vec<DailySummary> {
    records
        .iter()
        .map(|r| DailySummary::with_overrides(employee, r, overrides, tz))
        .collect()
}

/// The summary of `employee`'s `record` with its override, if any (one read).
pub(crate) async fn summary_with_override(
    state: &AppState,
    employee: &Employee,
    record: &DailyRecord,
    tz: chrono_tz::Tz,
) -> ApiResult<DailySummary> {
    let overrides = overrides_of(
        state,
        Some(std::slice::from_ref(&employee.employee_id)),
        record.date,
        record.date,
    )
    .await?;
    Ok(DailySummary::with_overrides(
        employee, record, &overrides, tz,
    ))
}

/// The employees whose overrides a record query can meet: its employee, its department's
/// (one read), or everyone (`None`).
async fn codes_of_query(
    state: &AppState,
    query: &RecordQuery,
) -> ApiResult<Option<Vec<EmployeeCode>>> {
    if let Some(code) = &query.employee {
        return Ok(Some(vec![code.clone()]));
    }
    match &query.department {
        Some(department) => Ok(Some(
            state
                .store
                .list_employees(Some(department.clone()))
                .await?
                .into_iter()
                .map(|e| e.employee_id)
                .collect(),
        )),
        None => Ok(None),
    }
}

/// The stored records `query` admits (its status and page ignored) that have an override, each
/// with it: one read of the overrides, then one read of records per overridden employee.
async fn overridden_records(
    state: &AppState,
    query: &RecordQuery,
) -> ApiResult<Vec<(DailyRecord, DayOverride)>> {
    let (from, to) = open_range(query.from, query.to);
    let codes = codes_of_query(state, query).await?;
    let overrides = overrides_of(state, codes.as_deref(), from, to).await?;
    let mut by_employee: BTreeMap<EmployeeCode, Vec<DayOverride>> = BTreeMap::new();
    for day in overrides {
        by_employee
            .entry(day.employee_id.clone())
            .or_default()
            .push(day);
    }
    let mut out = Vec::new();
    for (code, days) in by_employee {
        let dates: BTreeSet<NaiveDate> = days.iter().map(|d| d.date).collect();
        let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
            continue;
        };
        let records = state
            .store
            .query_records(&RecordQuery {
                from: Some(*first),
                to: Some(*last),
                employee: Some(code),
                department: query.department.clone(),
                order: RecordOrder::EmployeeThenDate,
                limit: READ_LIMIT,
                ..RecordQuery::default()
            })
            .await?;
        for record in records.results {
            if let Some(day) = days.iter().find(|d| d.is_for(&record)) {
                out.push((record, day.clone()));
            }
        }
    }
    Ok(out)
}

/// The counts of `store_counts` (by computed status) moved to the status shown: each
/// overridden record the query admits counts under its override.
pub(crate) async fn counts_with_overrides(
    state: &AppState,
    query: &RecordQuery,
    store_counts: Vec<(AttendanceStatus, u64)>,
) -> ApiResult<Vec<(AttendanceStatus, u64)>> {
    let mut counts: BTreeMap<String, (AttendanceStatus, u64)> = store_counts
        .into_iter()
        .map(|(s, n)| (s.to_string(), (s, n)))
        .collect();
    for (record, day) in overridden_records(state, query).await? {
        if record.status == day.status {
            continue;
        }
        if let Some((_, n)) = counts.get_mut(&record.status.to_string()) {
            *n = n.saturating_sub(1);
        }
        counts
            .entry(day.status.to_string())
            .or_insert_with(|| (day.status.clone(), 0))
            .1 += 1;
    }
    Ok(counts.into_values().filter(|(_, n)| *n > 0).collect())
}

/// The order `order` puts records in (text keys bytewise, as every store sorts them).
fn compare(order: RecordOrder, a: &DailyRecord, b: &DailyRecord) -> Ordering {
    match order {
        RecordOrder::DateThenEmployee => (a.date, &a.employee_id).cmp(&(b.date, &b.employee_id)),
        RecordOrder::DateDescThenEmployee => b
            .date
            .cmp(&a.date)
            .then_with(|| a.employee_id.cmp(&b.employee_id)),
        RecordOrder::EmployeeThenDate => (&a.employee_id, a.date).cmp(&(&b.employee_id, b.date)),
    }
}

/// The page `query` asks for, with its count, filtered by the status shown: without a status
/// filter (or with no override that changes what it admits) the store's page as it is;
/// otherwise the store's records up to the end of the page, less those whose override shows
/// another status, plus those whose override shows this one, in the query's order.
pub(crate) async fn page_with_overrides(
    state: &AppState,
    query: &RecordQuery,
) -> ApiResult<(Vec<DailyRecord>, u64)> {
    let Some(status) = &query.status else {
        let page = state.store.query_records(query).await?;
        return Ok((page.results, page.count));
    };
    let mut hidden: HashSet<(EmployeeCode, NaiveDate)> = HashSet::new();
    let mut added: Vec<DailyRecord> = Vec::new();
    for (record, day) in overridden_records(state, query).await? {
        match (&record.status == status, &day.status == status) {
            (true, false) => {
                hidden.insert((record.employee_id.clone(), record.date));
            }
            (false, true) => added.push(record),
            _ => {}
        }
    }
    if hidden.is_empty() && added.is_empty() {
        let page = state.store.query_records(query).await?;
        return Ok((page.results, page.count));
    }
    let end = query.offset.saturating_add(query.limit);
    let prefix = state
        .store
        .query_records(&RecordQuery {
            offset: 0,
            limit: end.saturating_add(hidden.len() as u64).min(READ_LIMIT),
            ..query.clone()
        })
        .await?;
    let count = (prefix.count + added.len() as u64).saturating_sub(hidden.len() as u64);
    let mut merged: Vec<DailyRecord> = prefix
        .results
        .into_iter()
        .filter(|r| !hidden.contains(&(r.employee_id.clone(), r.date)))
        .chain(added)
        .collect();
    merged.sort_by(|a, b| compare(query.order, a, b));
    let page = merged
        .into_iter()
        .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
        .collect();
    Ok((page, count))
}

/// `PUT daily-attendance/{employee_id}/{date}/` with a body that sets an override.
pub(crate) async fn put(
    state: &AppState,
    user: &AuthUser,
    code: &str,
    date: NaiveDate,
    input: OverrideInput,
) -> ApiResult<Json<DailySummary>> {
    let code = parse_code(code)?;
    let employee = employee_for(state, user, Action::EditAttendance, &code).await?;
    let status: AttendanceStatus = input
        .status
        .as_deref()
        .ok_or_else(|| {
            ApiError::unprocessable("status is required to override a day")
                .with_details(json!({"field": "status"}))
        })?
        .trim()
        .parse()?;
    let settings = state.store.settings().await?;
    if date > today(&settings) {
        return Err(ApiError::unprocessable("date is in the future")
            .with_details(json!({"field": "date", "date": date})));
    }
    let now = Utc::now();
    let day = DayOverride::new(
        code.clone(),
        date,
        status,
        input.reason.as_deref().unwrap_or(""),
        &user.username,
        now,
    )?;
    let record = match state.store.record(&code, date).await? {
        Some(record) => record,
        None => state
            .service
            .recompute(&employee, &BTreeSet::from([date]), now)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::internal("recompute returned no record"))?,
    };
    state.service.put_override(&user.actor, &day).await?;
    tracing::info!(employee = %code, %date, status = %day.status, by = %user.username, "day overridden");
    Ok(Json(DailySummary::with_overrides(
        &employee,
        &record,
        std::slice::from_ref(&day),
        settings.time_zone,
    )))
}

/// `DELETE daily-attendance/{employee_id}/{date}/`: removes the override in force (200, the day
/// as computed); without one, 404 when a reason was given, else the stored record is deleted
/// (204).
pub(crate) async fn delete(
    state: &AppState,
    user: &AuthUser,
    code: &str,
    date: NaiveDate,
    query: RemoveInput,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let code = parse_code(code)?;
    let employee = employee_for(state, user, Action::EditAttendance, &code).await?;
    let body: RemoveInput = optional_json(body)?.unwrap_or_default();
    let reason = query
        .reason
        .or(body.reason)
        .filter(|r| !r.trim().is_empty());
    let now = Utc::now();
    let removed = state
        .service
        .remove_override(
            &user.actor,
            &user.username,
            &code,
            date,
            reason.as_deref(),
            now,
        )
        .await;
    match removed {
        Ok(old) => {
            tracing::info!(employee = %code, %date, status = %old.status, by = %user.username, "day override removed");
            let record = match state.store.record(&code, date).await? {
                Some(record) => record,
                None => state
                    .service
                    .recompute(&employee, &BTreeSet::from([date]), now)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| ApiError::internal("recompute returned no record"))?,
            };
            let tz = state.store.settings().await?.time_zone;
            Ok(Json(DailySummary::new(&employee, &record, tz)).into_response())
        }
        Err(ServiceError::Store(StoreError::NotFound {
            entity: "day override",
            ..
        })) => {
            if reason.is_some() {
                return Err(ApiError::not_found(format!(
                    "no override of {code} on {date} is in force"
                ))
                .with_details(json!({"entity": "day override", "key": format!("{code} {date}")})));
            }
            state.store.delete_record(&code, date).await?;
            tracing::info!(employee = %code, %date, by = %user.username, "daily record deleted");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) => Err(e.into()),
    }
}
