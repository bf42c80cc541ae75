//! `GET /api/attendance/reports/monthly/`: the monthly payroll report (core's `MonthlyReport`)
//! over the caller's scope, as JSON or as a CSV or XLSX file.
//!
//! The scope is the timesheet's ([`Action::ViewTimesheet`]): an employee gets their own row, a
//! department head their department's, HR and super admins everyone's. `employee_id=` narrows
//! to one employee (403 outside the scope, 404 unknown; reported whether active or not),
//! `department=` to one department (403 for a department outside the scope, and for an
//! employee, whose scope is one row); without them the whole scope's active employees are
//! reported. The computation is [`crate::reports::monthly_report`].

use attendance_core::access::{Action, ListFilter, list_filter};
use attendance_core::employee::{Department, Employee};
use attendance_core::report::monthly::MonthlyReport;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::export::{self, ExportFormat};
use crate::reports::{leave_types, monthly_report};
use crate::routes::both_slashes;
use crate::routes::daily::parse_month;
use crate::routes::employees::{employee_for, employees_in_scope, parse_code};
use crate::routes::scans::today;
use crate::state::AppState;

/// Query of `GET reports/monthly/`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct MonthlyQuery {
    /// The month, `YYYY-MM` (the current one or earlier).
    pub month: Option<String>,
    /// Only this department.
    pub department: Option<String>,
    /// Only this employee.
    pub employee_id: Option<String>,
    /// `json` (the default), `csv` (one line per employee) or `xlsx` (a `Summary` sheet and
    /// one sheet per department).
    pub format: Option<String>,
}

/// The employees `user` asks the report of, checked against their scope.
pub(crate) async fn report_employees(
    state: &AppState,
    user: &AuthUser,
    department: Option<Department>,
    employee: Option<&str>,
) -> ApiResult<Vec<Employee>> {
    if let Some(code) = employee {
        let code = parse_code(code)?;
        let employee = employee_for(state, user, Action::ViewTimesheet, &code).await?;
        return Ok(match department {
            Some(d) if d != employee.department => Vec::new(),
            _ => vec![employee],
        });
    }
    if let Some(department) = &department {
        match list_filter(&user.actor, Action::ViewTimesheet)? {
            ListFilter::All => {}
            ListFilter::Department(own) if own == *department => {}
            ListFilter::Department(_) | ListFilter::Employee(_) => {
                return Err(
                    ApiError::forbidden("the department's report is outside your scope")
                        .with_details(json!({"field": "department"})),
                );
            }
        }
    }
    Ok(
        employees_in_scope(state, user, Action::ViewTimesheet, department)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .collect(),
    )
}

/// The file name of a report: `attendance-YYYY-MM[-DEPARTMENT][-EMPLOYEE].csv|xlsx`, the
/// department and employee made safe for a file name.
pub fn report_file_name(
    month: NaiveDate,
    department: Option<&str>,
    employee: Option<&str>,
    format: ExportFormat,
) -> String {
    let month = month.format("%Y-%m").to_string();
    let mut parts = vec![month.as_str()];
    parts.extend(department);
    parts.extend(employee);
    export::file_name("attendance", &parts, format)
}

/// The monthly payroll report of the caller's scope: per employee the employee's fields, the
/// days by status (working, present on time / considered / late, absent, on leave by type,
/// holidays, weekends, pending), the days worked on holidays and weekends, working hours,
/// overtime and extra overtime (summed in seconds, then rounded to two decimals), snack and
/// night-bill days, late minutes and overridden days (an override in force counts its day by
/// the status set); the totals of each department and of all. Days without a closed record are
/// computed first. Future months are refused (422). `format=csv` answers
/// `attendance-YYYY-MM[-DEPT].csv` (one line per employee; the columns are listed in the
/// README), `format=xlsx` a workbook with a `Summary` sheet and one sheet per department.
#[utoipa::path(get, path = "/api/attendance/reports/monthly/", tag = "reports",
    security(("bearer" = [])), params(MonthlyQuery),
    responses((status = 200, description = "core's MonthlyReport {month, generated_at, leave_types, \
            employees, departments: [{department, totals}], totals}; with format=csv or xlsx an attachment",
            content((Object = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, description = "bad query"),
        (status = 403, description = "department or employee outside your scope"),
        (status = 404, description = "unknown employee"),
        (status = 422, description = "bad or future month, bad format or field")))]
async fn monthly(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<MonthlyQuery>,
) -> ApiResult<Response> {
    let format = ExportFormat::parse(query.format.as_deref())?;
    let (first, last) = parse_month(query.month.as_deref())?;
    let settings = state.store.settings().await?;
    let today = today(&settings);
    if first > today {
        return Err(ApiError::unprocessable("month is in the future")
            .with_details(json!({"field": "month", "today": today})));
    }
    let department = query
        .department
        .as_deref()
        .map(Department::parse)
        .transpose()?;
    let employees = report_employees(
        &state,
        &user,
        department.clone(),
        query.employee_id.as_deref(),
    )
    .await?;
    let kinds = leave_types(state.store.as_ref()).await?;
    let report: MonthlyReport = monthly_report(
        state.store.as_ref(),
        &state.service,
        &employees,
        (first, last),
        &kinds,
        Utc::now(),
        &mut |_| {},
    )
    .await?;
    tracing::info!(by = %user.username, month = %report.month, employees = report.employees.len(),
        format = format.extension(), "monthly report");
    if format == ExportFormat::Json {
        return Ok(Json(report).into_response());
    }
    let bytes = export::monthly_file(&report, format)?;
    let name = report_file_name(
        first,
        department.as_ref().map(Department::as_str),
        query.employee_id.as_deref(),
        format,
    );
    Ok(export::attachment(format, &name, bytes))
}

/// The OpenAPI of the report routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(monthly))]
pub struct ReportsDoc;

/// The report routes.
pub fn routes() -> Router<AppState> {
    both_slashes(
        Router::new(),
        "/api/attendance/reports/monthly/",
        get(monthly),
    )
}
