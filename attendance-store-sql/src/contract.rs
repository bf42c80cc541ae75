//! The store contract written once for both SQL stores: [`store_contract!`](crate::store_contract)
//! implements every storage port of `attendance-core` except the leave documents (see
//! [`leave_document_store!`](crate::leave_document_store)) over a store type's own statement
//! runners, and the helpers here turn domain values into the rows the statements take. Each store
//! crate keeps only what its database does differently: how a group of scans is ingested
//! (SQLite's one writer and pre-rendered inserts, PostgreSQL's parameter arrays and `COPY`
//! staging), how daily records are split into statements, how transactions begin and what they
//! lock.

use std::collections::BTreeMap;

use attendance_core::daily::DailyRecord;
use attendance_core::employee::EmployeeCode;
use attendance_core::leave::LeaveRequest;
use attendance_core::store::{StoreError, StoreResult, UserAccount};

use crate::codec::{enum_text, to_json};
use crate::stmt::{RecordRow, RequestRow};

/// Records keyed by (employee, date), the last of repeated keys standing, as memory does.
pub fn record_rows(records: &[DailyRecord]) -> StoreResult<Vec<RecordRow>> {
    let mut by_key: BTreeMap<(&EmployeeCode, chrono::NaiveDate), &DailyRecord> = BTreeMap::new();
    for record in records {
        by_key.insert((&record.employee_id, record.date), record);
    }
    by_key
        .into_values()
        .map(|r| {
            Ok(RecordRow {
                employee: r.employee_id.as_str().to_owned(),
                date: r.date,
                status: r.status.to_string(),
                data: to_json(r)?,
            })
        })
        .collect()
}

/// Leave requests as their rows, one per id, the last of repeated ids standing.
pub fn request_rows(requests: &[LeaveRequest]) -> StoreResult<Vec<RequestRow>> {
    // One row per id, the last standing, as inserting them one after the other would leave it.
    let mut by_id: BTreeMap<&str, &LeaveRequest> = BTreeMap::new();
    for r in requests {
        by_id.insert(r.id.as_str(), r);
    }
    by_id
        .into_values()
        .map(|r| {
            Ok(RequestRow {
                id: r.id.as_str().to_owned(),
                employee: r.employee.as_str().to_owned(),
                department: r.department.as_str().to_owned(),
                status: enum_text(&r.status)?,
                start: r.start,
                end: r.end,
                data: to_json(r)?,
            })
        })
        .collect()
}

/// [`StoreError::Invalid`] for an account that links an employee who does not exist.
pub fn unknown_account_employee(account: &UserAccount) -> StoreError {
    StoreError::Invalid(format!(
        "user account {} links unknown employee {}",
        account.username,
        account
            .employee
            .as_ref()
            .map(|e| e.as_str())
            .unwrap_or_default()
    ))
}

/// [`StoreError::NotFound`] for the `entity` keyed `key`.
pub fn not_found(entity: &'static str, key: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        key: key.to_string(),
    }
}

/// Defines, in the calling module, the statement runners both stores' glue goes through, for one
/// sqlx database: `execute` (rows affected), `fetch_all`, `fetch_optional`, `fetch_count` (the
/// one `COUNT` column as `u64`), `get` (a column, decoded), `json_rows` (the JSON of the first
/// column of every row, decoded) and `scan_rows` (scans from rows in
/// [`ScanRow`](crate::codec::ScanRow) column order). Each renders a sea-query statement with `builder` and binds
/// its values; every error becomes a [`StoreError`] through [`db`](crate::error::db) with `what`
/// as the failed operation. Also `apply_pending_migrations`, the schema migration in a
/// transaction the caller began (and locked where its database needs it). The calling crate must
/// depend on `sqlx`, `sea-query-sqlx`, `serde` and `tracing`.
#[macro_export]
macro_rules! statement_runners {
    (
        database: $database:ty,
        row: $row:ty,
        builder: $builder:expr,
        backend: $backend:expr,
        label: $label:literal
    ) => {
        /// A statement rendered with its values bound.
        fn query(
            statement: &impl sea_query_sqlx::SqlxBinder,
        ) -> sqlx::query::Query<'static, $database, sea_query_sqlx::SqlxValues> {
            let (sql, values) = sea_query_sqlx::SqlxBinder::build_sqlx(statement, $builder);
            sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
        }

        async fn execute<'e, E>(
            executor: E,
            statement: &impl sea_query_sqlx::SqlxBinder,
            what: &'static str,
        ) -> attendance_core::store::StoreResult<u64>
        where
            E: sqlx::Executor<'e, Database = $database>,
        {
            query(statement)
                .execute(executor)
                .await
                .map(|r| r.rows_affected())
                .map_err($crate::error::db(what))
        }

        async fn fetch_all<'e, E>(
            executor: E,
            statement: &impl sea_query_sqlx::SqlxBinder,
            what: &'static str,
        ) -> attendance_core::store::StoreResult<Vec<$row>>
        where
            E: sqlx::Executor<'e, Database = $database>,
        {
            query(statement)
                .fetch_all(executor)
                .await
                .map_err($crate::error::db(what))
        }

        async fn fetch_optional<'e, E>(
            executor: E,
            statement: &impl sea_query_sqlx::SqlxBinder,
            what: &'static str,
        ) -> attendance_core::store::StoreResult<Option<$row>>
        where
            E: sqlx::Executor<'e, Database = $database>,
        {
            query(statement)
                .fetch_optional(executor)
                .await
                .map_err($crate::error::db(what))
        }

        async fn fetch_count<'e, E>(
            executor: E,
            statement: &impl sea_query_sqlx::SqlxBinder,
            what: &'static str,
        ) -> attendance_core::store::StoreResult<u64>
        where
            E: sqlx::Executor<'e, Database = $database>,
        {
            let row = query(statement)
                .fetch_one(executor)
                .await
                .map_err($crate::error::db(what))?;
            $crate::codec::to_u64(what, get(&row, 0, what)?)
        }

        fn get<'r, T>(
            row: &'r $row,
            index: usize,
            what: &'static str,
        ) -> attendance_core::store::StoreResult<T>
        where
            T: sqlx::Decode<'r, $database> + sqlx::Type<$database>,
        {
            sqlx::Row::try_get(row, index).map_err($crate::error::db(what))
        }

        fn json_rows<T: serde::de::DeserializeOwned>(
            rows: &[$row],
            what: &'static str,
        ) -> attendance_core::store::StoreResult<Vec<T>> {
            rows.iter()
                .map(|row| $crate::codec::from_json(what, &get::<String>(row, 0, what)?))
                .collect()
        }

        /// Scans from rows whose columns are in [`ScanRow`](crate::codec::ScanRow) order.
        fn scan_rows(
            rows: &[$row],
            what: &'static str,
        ) -> attendance_core::store::StoreResult<Vec<attendance_core::scan::ScanData>> {
            rows.iter()
                .map(|row| {
                    $crate::codec::ScanRow {
                        machine_id: get(row, 0, what)?,
                        device_user_id: get(row, 1, what)?,
                        at_second: get(row, 2, what)?,
                        at_ns: get(row, 3, what)?,
                        punch_state: get(row, 4, what)?,
                        verify_mode: get(row, 5, what)?,
                        raw: get(row, 6, what)?,
                    }
                    .into_scan()
                })
                .collect()
        }

        /// Creates the migrations table if it is missing and applies, in `tx` (which the caller
        /// commits), every migration not applied yet, recording each.
        async fn apply_pending_migrations(
            tx: &mut sqlx::Transaction<'static, $database>,
            what: &'static str,
        ) -> attendance_core::store::StoreResult<()> {
            let table = $crate::schema::migrations_table().to_string($builder);
            sqlx::Executor::execute(&mut **tx, sqlx::AssertSqlSafe(table))
                .await
                .map_err($crate::error::db(what))?;
            let applied: std::collections::HashSet<i64> =
                fetch_all(&mut **tx, &$crate::stmt::select_applied_migrations(), what)
                    .await?
                    .iter()
                    .map(|row| get::<i64>(row, 0, what))
                    .collect::<attendance_core::store::StoreResult<_>>()?;
            for migration in $crate::schema::pending_migrations(&applied) {
                for statement in (migration.statements)($backend) {
                    let sql = statement.render($builder);
                    sqlx::Executor::execute(&mut **tx, sqlx::AssertSqlSafe(sql))
                        .await
                        .map_err($crate::error::db(what))?;
                }
                let record = $crate::stmt::insert_applied_migration(
                    migration.version,
                    migration.description,
                );
                execute(&mut **tx, &record, what).await?;
                tracing::info!(version = migration.version, "applied {} migration", $label);
            }
            Ok(())
        }
    };
}

/// Implements [`ScanStore`](attendance_core::store::ScanStore),
/// [`EmployeeStore`](attendance_core::store::EmployeeStore),
/// [`MachineStore`](attendance_core::store::MachineStore),
/// [`DailyRecordStore`](attendance_core::store::DailyRecordStore),
/// [`SettingsStore`](attendance_core::store::SettingsStore),
/// [`HolidayStore`](attendance_core::store::HolidayStore),
/// [`LeaveStore`](attendance_core::store::LeaveStore) and
/// [`UserAccountStore`](attendance_core::store::UserAccountStore) for a store type, written once
/// for both SQL stores.
///
/// The calling crate must have in scope, as both store crates do, the statement runners of
/// [`statement_runners!`](crate::statement_runners) and [`db`](crate::error::db), and give the type the methods `begin_write`, `begin_read` (a transaction each),
/// `ingest_group(&self, Vec<ScanBatch>) -> StoreResult<Vec<IngestOutcome>>` (one group of scan
/// batches stored in one transaction, the database's own way) and
/// `async fn write_records(&self, &mut Transaction, Vec<RecordRow>) -> StoreResult<()>` (the
/// daily records of one upsert, unique by key and in key order, inserted or replaced in the
/// caller's transaction, the database's own way; a record of an unknown employee fails with
/// [`StoreError::Invalid`]), `key_chunks<'k>(&'k [&'k str]) -> Vec<&'k [&'k str]>` (the keys of one bulk
/// read, sorted and each once, split into `IN` lists of one statement each) and
/// `async fn scans_of_user_chunk(&self, &[&str], i64, i64) -> StoreResult<Vec<ScanData>>` (the
/// scans of one such chunk of device users in `[from_ns, to_ns)`, by user, then time, then
/// machine id: each database reads them its own way). `reader` names the field reads go
/// through, `writer` the one single writes go through, and `scans_of_user` the statement
/// function that selects a user's scans between two instants (with the signature of
/// [`select_scans_of_user`](crate::stmt::select_scans_of_user)).
#[macro_export]
macro_rules! store_contract {
    ($store:ty, reader: $reader:ident, writer: $writer:ident, scans_of_user: $scans_of_user:path) => {
        const _: () = {
            use attendance_core::calendar::LeaveType;
            use attendance_core::daily::DailyRecord;
            use attendance_core::employee::{Department, DeviceUserId, Employee, EmployeeCode};
            use attendance_core::holiday::Holiday;
            use attendance_core::leave::{
                LeaveLedger, LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry,
            };
            use attendance_core::machine::Machine;
            use attendance_core::scan::{MachineId, ScanData};
            use attendance_core::settings::AttendanceSettings;
            use attendance_core::status::AttendanceStatus;
            use attendance_core::store::{
                DailyRecordStore, EmployeeStore, HolidayStore, IngestOutcome, LeaveAccount,
                LeaveChange, LeaveRequestQuery, LeaveStore, MachineCursor, MachineStatus,
                MachineStore, Page, RecordQuery, ScanBatch, ScanStore, SettingsStore, StoreError,
                StoreResult, StoredHoliday, UserAccount, UserAccountStore,
            };
            use $crate::codec::{
                enum_text, from_json, nanos_clamped, parse_stored, to_json, to_u64,
            };
            use $crate::contract::{
                not_found, record_rows, request_rows, unknown_account_employee,
            };
            use $crate::ingest::only_outcome;
            use $crate::schema::Scans;
            use $crate::stmt;

            /// `keys` sorted, each once.
            fn unique_keys<'k>(keys: impl IntoIterator<Item = &'k str>) -> Vec<&'k str> {
                let set: std::collections::BTreeSet<&str> = keys.into_iter().collect();
                set.into_iter().collect()
            }

            #[async_trait::async_trait]
            impl ScanStore for $store {
                async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome> {
                    only_outcome(self.record_scan_batches(vec![batch]).await?)
                }

                async fn record_scan_batches(
                    &self,
                    batches: Vec<ScanBatch>,
                ) -> StoreResult<Vec<IngestOutcome>> {
                    self.ingest_group(batches).await
                }

                async fn machine_cursor(
                    &self,
                    machine: &MachineId,
                ) -> StoreResult<Option<MachineCursor>> {
                    let what = "read a machine cursor";
                    match fetch_optional(&self.$reader, &stmt::select_cursor(machine), what).await?
                    {
                        Some(row) => Ok(Some(MachineCursor(get(&row, 0, what)?))),
                        None => Ok(None),
                    }
                }

                async fn scans_of_user(
                    &self,
                    user: &DeviceUserId,
                    from: chrono::DateTime<chrono::Utc>,
                    to: chrono::DateTime<chrono::Utc>,
                ) -> StoreResult<Vec<ScanData>> {
                    let what = "read the scans of a user";
                    let statement = $scans_of_user(user, nanos_clamped(from), nanos_clamped(to));
                    scan_rows(&fetch_all(&self.$reader, &statement, what).await?, what)
                }

                async fn scans_of_users(
                    &self,
                    users: &[DeviceUserId],
                    from: chrono::DateTime<chrono::Utc>,
                    to: chrono::DateTime<chrono::Utc>,
                ) -> StoreResult<Vec<ScanData>> {
                    let users = unique_keys(users.iter().map(DeviceUserId::as_str));
                    let (from, to) = (nanos_clamped(from), nanos_clamped(to));
                    let mut scans = Vec::new();
                    // The chunks are in user order, so their results follow one another.
                    for chunk in Self::key_chunks(&users) {
                        scans.extend(self.scans_of_user_chunk(chunk, from, to).await?);
                    }
                    Ok(scans)
                }

                async fn count_scans(&self) -> StoreResult<u64> {
                    fetch_count(&self.$reader, &stmt::count_all(Scans::Table), "count scans").await
                }
            }

            #[async_trait::async_trait]
            impl EmployeeStore for $store {
                async fn create_employee(&self, employee: &Employee) -> StoreResult<()> {
                    let statement = stmt::insert_employee(
                        &employee.employee_id,
                        &employee.device_user_id,
                        &employee.department,
                        to_json(employee)?,
                    );
                    execute(&self.$writer, &statement, "create an employee").await?;
                    Ok(())
                }

                async fn update_employee(&self, employee: &Employee) -> StoreResult<()> {
                    let statement = stmt::update_employee(
                        &employee.employee_id,
                        &employee.device_user_id,
                        &employee.department,
                        to_json(employee)?,
                    );
                    match execute(&self.$writer, &statement, "update an employee").await? {
                        0 => Err(not_found("employee", &employee.employee_id)),
                        _ => Ok(()),
                    }
                }

                async fn employee(&self, code: &EmployeeCode) -> StoreResult<Employee> {
                    let what = "read an employee";
                    match fetch_optional(&self.$reader, &stmt::select_employee(code), what).await? {
                        Some(row) => from_json("employee", &get::<String>(&row, 0, what)?),
                        None => Err(not_found("employee", code)),
                    }
                }

                async fn employee_by_device_user(
                    &self,
                    user: &DeviceUserId,
                ) -> StoreResult<Option<Employee>> {
                    let what = "read an employee by device user";
                    match fetch_optional(
                        &self.$reader,
                        &stmt::select_employee_by_device_user(user),
                        what,
                    )
                    .await?
                    {
                        Some(row) => {
                            Ok(Some(from_json("employee", &get::<String>(&row, 0, what)?)?))
                        }
                        None => Ok(None),
                    }
                }

                async fn employees_by_device_users(
                    &self,
                    users: &[DeviceUserId],
                ) -> StoreResult<Vec<Employee>> {
                    let what = "read employees by device user";
                    let users = unique_keys(users.iter().map(DeviceUserId::as_str));
                    let mut employees: Vec<Employee> = Vec::new();
                    for chunk in Self::key_chunks(&users) {
                        let statement = stmt::select_employees_by_device_users(chunk);
                        let rows = fetch_all(&self.$reader, &statement, what).await?;
                        employees.extend(json_rows::<Employee>(&rows, "employee")?);
                    }
                    employees.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
                    Ok(employees)
                }

                async fn employees_by_codes(
                    &self,
                    codes: &[EmployeeCode],
                ) -> StoreResult<Vec<Employee>> {
                    let what = "read employees by code";
                    let codes = unique_keys(codes.iter().map(EmployeeCode::as_str));
                    let mut employees: Vec<Employee> = Vec::new();
                    for chunk in Self::key_chunks(&codes) {
                        let statement = stmt::select_employees_by_codes(chunk);
                        let rows = fetch_all(&self.$reader, &statement, what).await?;
                        employees.extend(json_rows::<Employee>(&rows, "employee")?);
                    }
                    employees.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
                    Ok(employees)
                }

                async fn list_employees(
                    &self,
                    department: Option<Department>,
                ) -> StoreResult<Vec<Employee>> {
                    let rows = fetch_all(
                        &self.$reader,
                        &stmt::list_employees(department.as_ref()),
                        "list employees",
                    )
                    .await?;
                    json_rows(&rows, "employee")
                }

                async fn delete_employee(&self, code: &EmployeeCode) -> StoreResult<()> {
                    let what = "delete an employee";
                    let mut tx = self.begin_write().await?;
                    if fetch_count(&mut *tx, &stmt::count_employee(code), what).await? == 0 {
                        return Err(not_found("employee", code));
                    }
                    if fetch_count(&mut *tx, &stmt::count_accounts_of(code), what).await? > 0
                        || fetch_count(&mut *tx, &stmt::count_requests_of(code), what).await? > 0
                    {
                        return Err(StoreError::Conflict(format!(
                            "employee {code} still has a user account or leave requests"
                        )));
                    }
                    execute(&mut *tx, &stmt::delete_records_of(code), what).await?;
                    match execute(&mut *tx, &stmt::delete_employee(code), what).await {
                        // An account or request linked in between by a concurrent transaction.
                        Err(StoreError::Invalid(why)) => return Err(StoreError::Conflict(why)),
                        other => other?,
                    };
                    tx.commit().await.map_err(db(what))
                }
            }

            #[async_trait::async_trait]
            impl MachineStore for $store {
                async fn create_machine(&self, machine: &Machine) -> StoreResult<()> {
                    let statement = stmt::insert_machine(&machine.machine_id, to_json(machine)?);
                    execute(&self.$writer, &statement, "create a machine").await?;
                    Ok(())
                }

                async fn update_machine(&self, machine: &Machine) -> StoreResult<()> {
                    let statement = stmt::update_machine(&machine.machine_id, to_json(machine)?);
                    match execute(&self.$writer, &statement, "update a machine").await? {
                        0 => Err(not_found("machine", &machine.machine_id)),
                        _ => Ok(()),
                    }
                }

                async fn machine(&self, id: &MachineId) -> StoreResult<Machine> {
                    let what = "read a machine";
                    match fetch_optional(&self.$reader, &stmt::select_machine(id), what).await? {
                        Some(row) => from_json("machine", &get::<String>(&row, 0, what)?),
                        None => Err(not_found("machine", id)),
                    }
                }

                async fn list_machines(&self) -> StoreResult<Vec<Machine>> {
                    let rows =
                        fetch_all(&self.$reader, &stmt::list_machines(), "list machines").await?;
                    json_rows(&rows, "machine")
                }

                async fn delete_machine(&self, id: &MachineId) -> StoreResult<()> {
                    let what = "delete a machine";
                    let mut tx = self.begin_write().await?;
                    execute(&mut *tx, &stmt::delete_machine_status(id), what).await?;
                    let deleted = execute(&mut *tx, &stmt::delete_machine(id), what).await?;
                    if deleted == 0 {
                        return Err(not_found("machine", id));
                    }
                    tx.commit().await.map_err(db(what))
                }

                async fn put_machine_status(&self, status: &MachineStatus) -> StoreResult<()> {
                    let what = "store a machine status";
                    let mut tx = self.begin_write().await?;
                    if fetch_count(&mut *tx, &stmt::count_machine(&status.machine_id), what).await?
                        == 0
                    {
                        return Err(not_found("machine", &status.machine_id));
                    }
                    let statement =
                        stmt::upsert_machine_status(&status.machine_id, to_json(status)?);
                    match execute(&mut *tx, &statement, what).await {
                        // The machine was deleted in between by a concurrent transaction.
                        Err(StoreError::Invalid(_)) => {
                            return Err(not_found("machine", &status.machine_id));
                        }
                        other => other?,
                    };
                    tx.commit().await.map_err(db(what))
                }

                async fn machine_statuses(&self) -> StoreResult<Vec<MachineStatus>> {
                    let rows = fetch_all(
                        &self.$reader,
                        &stmt::list_machine_statuses(),
                        "list machine statuses",
                    )
                    .await?;
                    json_rows(&rows, "machine status")
                }
            }

            #[async_trait::async_trait]
            impl DailyRecordStore for $store {
                async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()> {
                    let rows = record_rows(records)?;
                    let what = "store daily records";
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    match self.write_records(&mut tx, rows).await {
                        Err(StoreError::Invalid(_)) => {
                            return Err(StoreError::Invalid(
                                "daily record of an unknown employee".into(),
                            ));
                        }
                        other => other?,
                    };
                    tx.commit().await.map_err(db(what))
                }

                fn records_per_write(&self) -> usize {
                    self.records_per_write()
                }

                async fn record(
                    &self,
                    employee: &EmployeeCode,
                    date: chrono::NaiveDate,
                ) -> StoreResult<Option<DailyRecord>> {
                    let what = "read a daily record";
                    match fetch_optional(&self.$reader, &stmt::select_record(employee, date), what)
                        .await?
                    {
                        Some(row) => Ok(Some(from_json(
                            "daily record",
                            &get::<String>(&row, 0, what)?,
                        )?)),
                        None => Ok(None),
                    }
                }

                async fn query_records(
                    &self,
                    query: &RecordQuery,
                ) -> StoreResult<Page<DailyRecord>> {
                    let what = "query daily records";
                    let mut tx = self.begin_read().await?;
                    let count = fetch_count(&mut *tx, &stmt::count_records(query), what).await?;
                    let rows = fetch_all(&mut *tx, &stmt::query_records(query), what).await?;
                    tx.commit().await.map_err(db(what))?;
                    Ok(Page {
                        count,
                        results: json_rows(&rows, "daily record")?,
                    })
                }

                async fn delete_record(
                    &self,
                    employee: &EmployeeCode,
                    date: chrono::NaiveDate,
                ) -> StoreResult<()> {
                    match execute(
                        &self.$writer,
                        &stmt::delete_record(employee, date),
                        "delete a daily record",
                    )
                    .await?
                    {
                        0 => Err(not_found("daily record", format!("{employee} {date}"))),
                        _ => Ok(()),
                    }
                }

                async fn count_records_by_status(
                    &self,
                    query: &RecordQuery,
                ) -> StoreResult<Vec<(AttendanceStatus, u64)>> {
                    let what = "count daily records by status";
                    fetch_all(&self.$reader, &stmt::count_records_by_status(query), what)
                        .await?
                        .iter()
                        .map(|row| {
                            let status: String = get(row, 0, what)?;
                            let status: AttendanceStatus = parse_stored("status", &status)?;
                            Ok((status, to_u64(what, get(row, 1, what)?)?))
                        })
                        .collect()
                }
            }

            #[async_trait::async_trait]
            impl SettingsStore for $store {
                async fn settings(&self) -> StoreResult<AttendanceSettings> {
                    let what = "read the settings";
                    match fetch_optional(&self.$reader, &stmt::select_settings(), what).await? {
                        Some(row) => from_json("settings", &get::<String>(&row, 0, what)?),
                        None => Ok(AttendanceSettings::default()),
                    }
                }

                async fn put_settings(&self, settings: &AttendanceSettings) -> StoreResult<()> {
                    execute(
                        &self.$writer,
                        &stmt::upsert_settings(to_json(settings)?),
                        "store the settings",
                    )
                    .await?;
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl HolidayStore for $store {
                async fn create_holiday(&self, holiday: &Holiday) -> StoreResult<StoredHoliday> {
                    let what = "create a holiday";
                    let statement = stmt::insert_holiday(holiday.start(), to_json(holiday)?);
                    let rows = fetch_all(&self.$writer, &statement, what).await?;
                    let row = rows.first().ok_or_else(|| StoreError::Backend {
                        message: "the new holiday's id was not returned".into(),
                        source: None,
                    })?;
                    Ok(StoredHoliday {
                        id: get(row, 0, what)?,
                        holiday: holiday.clone(),
                    })
                }

                async fn update_holiday(&self, id: i64, holiday: &Holiday) -> StoreResult<Holiday> {
                    let what = "update a holiday";
                    let mut tx = self.begin_write().await?;
                    let old: Holiday =
                        match fetch_optional(&mut *tx, &stmt::select_holiday(id), what).await? {
                            Some(row) => from_json("holiday", &get::<String>(&row, 0, what)?)?,
                            None => return Err(not_found("holiday", id)),
                        };
                    execute(
                        &mut *tx,
                        &stmt::update_holiday(id, holiday.start(), to_json(holiday)?),
                        what,
                    )
                    .await?;
                    tx.commit().await.map_err(db(what))?;
                    Ok(old)
                }

                async fn delete_holiday(&self, id: i64) -> StoreResult<Holiday> {
                    let what = "delete a holiday";
                    let mut tx = self.begin_write().await?;
                    let old: Holiday =
                        match fetch_optional(&mut *tx, &stmt::select_holiday(id), what).await? {
                            Some(row) => from_json("holiday", &get::<String>(&row, 0, what)?)?,
                            None => return Err(not_found("holiday", id)),
                        };
                    execute(&mut *tx, &stmt::delete_holiday(id), what).await?;
                    tx.commit().await.map_err(db(what))?;
                    Ok(old)
                }

                async fn holiday(&self, id: i64) -> StoreResult<StoredHoliday> {
                    let what = "read a holiday";
                    match fetch_optional(&self.$reader, &stmt::select_holiday(id), what).await? {
                        Some(row) => Ok(StoredHoliday {
                            id,
                            holiday: from_json("holiday", &get::<String>(&row, 0, what)?)?,
                        }),
                        None => Err(not_found("holiday", id)),
                    }
                }

                async fn list_holidays(&self) -> StoreResult<Vec<StoredHoliday>> {
                    let what = "list holidays";
                    fetch_all(&self.$reader, &stmt::list_holidays(), what)
                        .await?
                        .iter()
                        .map(|row| {
                            Ok(StoredHoliday {
                                id: get(row, 0, what)?,
                                holiday: from_json("holiday", &get::<String>(row, 1, what)?)?,
                            })
                        })
                        .collect()
                }
            }

            #[async_trait::async_trait]
            impl LeaveStore for $store {
                async fn put_leave_policy(&self, policy: &LeavePolicy) -> StoreResult<()> {
                    let statement =
                        stmt::upsert_leave_policy(&policy.leave_type.to_string(), to_json(policy)?);
                    execute(&self.$writer, &statement, "store a leave policy").await?;
                    Ok(())
                }

                async fn leave_policy(&self, leave_type: &LeaveType) -> StoreResult<LeavePolicy> {
                    let what = "read a leave policy";
                    let statement = stmt::select_leave_policy(&leave_type.to_string());
                    match fetch_optional(&self.$reader, &statement, what).await? {
                        Some(row) => from_json("leave policy", &get::<String>(&row, 0, what)?),
                        None => Err(not_found("leave policy", leave_type)),
                    }
                }

                async fn leave_policies(&self) -> StoreResult<Vec<LeavePolicy>> {
                    let rows = fetch_all(
                        &self.$reader,
                        &stmt::list_leave_policies(),
                        "list leave policies",
                    )
                    .await?;
                    let mut policies: Vec<LeavePolicy> = json_rows(&rows, "leave policy")?;
                    // By leave type as the domain orders them (the named types first), not by name.
                    policies.sort_by(|a, b| a.leave_type.cmp(&b.leave_type));
                    Ok(policies)
                }

                async fn leave_account(
                    &self,
                    employee: &EmployeeCode,
                ) -> StoreResult<LeaveAccount> {
                    let what = "read a leave account";
                    let mut tx = self.begin_read().await?;
                    let version =
                        match fetch_optional(&mut *tx, &stmt::select_leave_version(employee), what)
                            .await?
                        {
                            Some(row) => to_u64(what, get(&row, 0, what)?)?,
                            None => 0,
                        };
                    let requests = json_rows(
                        &fetch_all(&mut *tx, &stmt::select_requests_of(employee), what).await?,
                        "leave request",
                    )?;
                    let ledger_rows =
                        fetch_all(&mut *tx, &stmt::select_ledger_of(employee), what).await?;
                    tx.commit().await.map_err(db(what))?;
                    let mut by_type: BTreeMap<LeaveType, Vec<LedgerEntry>> = BTreeMap::new();
                    for row in &ledger_rows {
                        let leave_type: LeaveType =
                            parse_stored("leave type", &get::<String>(row, 0, what)?)?;
                        let entry: LedgerEntry =
                            from_json("ledger entry", &get::<String>(row, 1, what)?)?;
                        by_type.entry(leave_type).or_default().push(entry);
                    }
                    let ledgers = by_type
                        .into_iter()
                        .map(|(leave_type, entries)| {
                            LeaveLedger::from_entries(employee.clone(), leave_type, entries)
                                .map_err(|e| StoreError::Backend {
                                    message: "a stored ledger entry does not validate".into(),
                                    source: Some(Box::new(e)),
                                })
                        })
                        .collect::<StoreResult<_>>()?;
                    Ok(LeaveAccount {
                        employee: employee.clone(),
                        version,
                        requests,
                        ledgers,
                    })
                }

                async fn commit_leave(&self, change: LeaveChange) -> StoreResult<u64> {
                    change.check()?;
                    let request_rows = request_rows(&change.requests)?;
                    let entry_rows = change
                        .entries
                        .iter()
                        .map(|(t, e)| Ok((t.to_string(), to_json(e)?)))
                        .collect::<StoreResult<Vec<_>>>()?;
                    let expected = i64::try_from(change.expected_version).map_err(|_| {
                        StoreError::Conflict(format!(
                            "the leave of {} is not at version {}",
                            change.employee, change.expected_version
                        ))
                    })?;

                    let what = "commit a leave change";
                    let mut tx = self.begin_write().await?;
                    if fetch_count(&mut *tx, &stmt::count_employee(&change.employee), what).await?
                        == 0
                    {
                        return Err(StoreError::Invalid(format!(
                            "leave of unknown employee {}",
                            change.employee
                        )));
                    }
                    let bumped = if expected == 0 {
                        execute(
                            &mut *tx,
                            &stmt::insert_first_leave_version(&change.employee),
                            what,
                        )
                        .await?
                    } else {
                        execute(
                            &mut *tx,
                            &stmt::bump_leave_version(&change.employee, expected),
                            what,
                        )
                        .await?
                    };
                    if bumped != 1 {
                        return Err(StoreError::Conflict(format!(
                            "the leave of {} changed since version {}",
                            change.employee, change.expected_version
                        )));
                    }
                    if !request_rows.is_empty() {
                        let ids: Vec<String> = request_rows.iter().map(|r| r.id.clone()).collect();
                        for row in
                            fetch_all(&mut *tx, &stmt::select_request_owners(&ids), what).await?
                        {
                            let owner: String = get(&row, 1, what)?;
                            if owner != change.employee.as_str() {
                                let id: String = get(&row, 0, what)?;
                                return Err(StoreError::Conflict(format!(
                                    "request id {id} belongs to another employee"
                                )));
                            }
                        }
                        execute(&mut *tx, &stmt::upsert_requests(&request_rows)?, what).await?;
                    }
                    if !entry_rows.is_empty() {
                        execute(
                            &mut *tx,
                            &stmt::insert_ledger_entries(&change.employee, &entry_rows)?,
                            what,
                        )
                        .await?;
                    }
                    tx.commit().await.map_err(db(what))?;
                    Ok(change.expected_version + 1)
                }

                async fn leave_requests_of(
                    &self,
                    employees: &[EmployeeCode],
                ) -> StoreResult<Vec<LeaveRequest>> {
                    let what = "read the leave requests of employees";
                    let employees = unique_keys(employees.iter().map(EmployeeCode::as_str));
                    let mut requests = Vec::new();
                    // The chunks are in employee order, so their results follow one another.
                    for chunk in Self::key_chunks(&employees) {
                        let statement = stmt::select_requests_of_employees(chunk);
                        let rows = fetch_all(&self.$reader, &statement, what).await?;
                        requests.extend(json_rows::<LeaveRequest>(&rows, "leave request")?);
                    }
                    Ok(requests)
                }

                async fn leave_request(&self, id: &LeaveRequestId) -> StoreResult<LeaveRequest> {
                    let what = "read a leave request";
                    match fetch_optional(&self.$reader, &stmt::select_request(id.as_str()), what)
                        .await?
                    {
                        Some(row) => from_json("leave request", &get::<String>(&row, 0, what)?),
                        None => Err(not_found("leave request", id)),
                    }
                }

                async fn query_leave_requests(
                    &self,
                    query: &LeaveRequestQuery,
                ) -> StoreResult<Page<LeaveRequest>> {
                    let what = "query leave requests";
                    let mut tx = self.begin_read().await?;
                    let count =
                        fetch_count(&mut *tx, &stmt::count_leave_requests(query)?, what).await?;
                    let rows =
                        fetch_all(&mut *tx, &stmt::query_leave_requests(query)?, what).await?;
                    tx.commit().await.map_err(db(what))?;
                    Ok(Page {
                        count,
                        results: json_rows(&rows, "leave request")?,
                    })
                }
            }

            #[async_trait::async_trait]
            impl UserAccountStore for $store {
                async fn create_account(&self, account: &UserAccount) -> StoreResult<()> {
                    let statement = stmt::insert_account(
                        &account.username,
                        account.employee.as_ref(),
                        to_json(account)?,
                    );
                    match execute(&self.$writer, &statement, "create a user account").await {
                        Err(StoreError::Invalid(_)) => Err(unknown_account_employee(account)),
                        other => other.map(|_| ()),
                    }
                }

                async fn update_account(&self, account: &UserAccount) -> StoreResult<()> {
                    let what = "update a user account";
                    let mut tx = self.begin_write().await?;
                    if let Some(code) = &account.employee
                        && fetch_count(&mut *tx, &stmt::count_employee(code), what).await? == 0
                    {
                        return Err(unknown_account_employee(account));
                    }
                    let statement = stmt::update_account(
                        &account.username,
                        account.employee.as_ref(),
                        to_json(account)?,
                    );
                    if execute(&mut *tx, &statement, what).await? == 0 {
                        return Err(not_found("user account", &account.username));
                    }
                    tx.commit().await.map_err(db(what))
                }

                async fn account(&self, username: &str) -> StoreResult<UserAccount> {
                    let what = "read a user account";
                    match fetch_optional(&self.$reader, &stmt::select_account(username), what)
                        .await?
                    {
                        Some(row) => from_json("user account", &get::<String>(&row, 0, what)?),
                        None => Err(not_found("user account", username)),
                    }
                }

                async fn list_accounts(&self) -> StoreResult<Vec<UserAccount>> {
                    let rows =
                        fetch_all(&self.$reader, &stmt::list_accounts(), "list user accounts")
                            .await?;
                    json_rows(&rows, "user account")
                }

                async fn delete_account(&self, username: &str) -> StoreResult<()> {
                    match execute(
                        &self.$writer,
                        &stmt::delete_account(username),
                        "delete a user account",
                    )
                    .await?
                    {
                        0 => Err(not_found("user account", username)),
                        _ => Ok(()),
                    }
                }
            }
        };
    };
}
