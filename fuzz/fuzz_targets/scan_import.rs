//! The server's scan imports: the file of `attendance-server import scans FILE` (the CSV reader,
//! the time and scan-type parsers and every line check of `scan_import::check`, over an
//! in-memory store holding one employee; accepted scans all carry a time inside the storable
//! window), and the body of `POST /api/attendance/scans/import/` as CSV and as JSON (its row
//! readers and row checks, through the `fuzzing` feature's entry point).
#![no_main]

use attendance_adapters::engine::default_earliest_scan;
use attendance_core::employee::{Employee, NewEmployee};
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{EmployeeStore as _, block_on};
use attendance_fuzz::zone;
use attendance_server::routes::scans::fuzz_import_rows;
use attendance_server::scan_import::check;
use chrono::{TimeZone as _, Utc};
use libfuzzer_sys::fuzz_target;

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    let employee = Employee::parse(&NewEmployee {
        employee_id: "E001".into(),
        employee_name: "Fuzz Employee".into(),
        department: "Assembly".into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        device_user_id: Some("1".into()),
        shift: None,
        joined_on: None,
    })
    .unwrap_or_else(|e| panic!("fuzz employee: {e}"));
    block_on(store.create_employee(&employee)).unwrap_or_else(|e| panic!("fuzz employee: {e}"));
    store
}

fuzz_target!(|data: &[u8]| {
    let store = store();
    let now = Utc
        .with_ymd_and_hms(2026, 1, 31, 12, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    if let Ok(checked) = block_on(check(&store, data, zone(), now, "fuzz.csv")) {
        let earliest = default_earliest_scan();
        for scan in &checked.scans {
            assert!(scan.timestamp >= earliest, "{scan:?}");
            assert!(
                scan.timestamp <= now + chrono::Duration::minutes(5),
                "{scan:?}"
            );
        }
    }
    for csv in [true, false] {
        if let Ok(rows) = fuzz_import_rows(data, csv, zone(), now) {
            // Line numbers only go forward.
            assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "{rows:?}");
        }
    }
});
