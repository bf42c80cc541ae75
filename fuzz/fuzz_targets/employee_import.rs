//! The server's employee import (REST `POST /api/employees/import` and the CLI): the format
//! sniffer, the CSV and JSON row readers and every row rule of `employee_import::validate`, over
//! an empty in-memory store.
#![no_main]

use attendance_core::store::block_on;
use attendance_core::store::memory::MemoryStore;
use attendance_server::employee_import::{Format, read_rows, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [Format::sniff(data), Format::Csv, Format::Json] {
        let Ok(rows) = read_rows(format, data) else {
            continue;
        };
        let count = rows.len();
        let store = MemoryStore::new();
        if let Ok(valid) = block_on(validate(&store, rows)) {
            assert_eq!(valid.len(), count);
        }
    }
});
