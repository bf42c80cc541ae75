//! The metrics this crate emits, through the [`metrics`] facade only: with no recorder
//! installed (a host that does not export metrics, the tests of this crate) each call is a
//! cheap no-op. A server installs a recorder (the `attendance-server` binary installs the
//! Prometheus exporter and renders it at `GET /metrics`).
//!
//! Names follow Prometheus conventions: `attendance_` first, the unit last (`_seconds`),
//! `_total` for counters. Labels are bounded: `source` is a machine type
//! ([`MachineType::as_str`](attendance_core::machine::MachineType::as_str)) or a small fixed
//! set of names given by the host ([`IngestSender::with_source`](crate::engine::IngestSender::with_source)),
//! never a machine id or a user.

/// Counter: scans stored as new by the engine, label `source` (the machine type of the
/// batch's producer, or the host's name for it).
pub const SCANS_INGESTED: &str = "attendance_scans_ingested_total";
/// Counter: scans that were stored already (re-sent by a device, repeated in a batch), label
/// `source`.
pub const SCAN_DUPLICATES: &str = "attendance_scan_duplicates_total";
/// Counter: scans set aside as outside the storable window (device clock reset or far ahead),
/// label `source`. ADMS `ATTLOG` lines the parser could not read are counted by
/// [`ADMS_LINES_REJECTED`].
pub const SCANS_SET_ASIDE: &str = "attendance_scans_set_aside_total";
/// Counter: ADMS `ATTLOG` lines refused by the parser (not a scan: set aside before the
/// engine).
pub const ADMS_LINES_REJECTED: &str = "attendance_adms_lines_rejected_total";
/// Counter: device pushes refused because they came from outside the machine's
/// `allowed_sources`, labelled `source` (`zkteco_adms`, `hikvision`).
pub const PUSH_SOURCES_REFUSED: &str = "attendance_push_sources_refused_total";
/// Counter: store writes of the engine that failed (each retry counts).
pub const STORE_ERRORS: &str = "attendance_store_errors_total";
/// Histogram: how long one recompute pass of the engine took (the days of the scans stored
/// since the last pass), in seconds.
pub const RECOMPUTE_SECONDS: &str = "attendance_recompute_duration_seconds";
/// Counter: (employee, day) pairs recomputed by the engine's recompute passes.
pub const DAYS_RECOMPUTED: &str = "attendance_days_recomputed_total";

/// Registers the descriptions (help text and unit) of this crate's metrics with the installed
/// recorder; call once after installing one (harmless without one).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        SCANS_INGESTED,
        Unit::Count,
        "Scans stored as new, by source (machine type)"
    );
    describe_counter!(
        SCAN_DUPLICATES,
        Unit::Count,
        "Scans received that were stored already, by source"
    );
    describe_counter!(
        SCANS_SET_ASIDE,
        Unit::Count,
        "Scans set aside as dated outside the storable window, by source"
    );
    describe_counter!(
        ADMS_LINES_REJECTED,
        Unit::Count,
        "ADMS ATTLOG lines the parser refused"
    );
    describe_counter!(
        PUSH_SOURCES_REFUSED,
        Unit::Count,
        "Device pushes refused for coming from outside their machine's allowed sources"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Failed store writes of the ingest engine (each retry counts)"
    );
    describe_histogram!(
        RECOMPUTE_SECONDS,
        Unit::Seconds,
        "Duration of one recompute pass over the days of newly stored scans"
    );
    describe_counter!(
        DAYS_RECOMPUTED,
        Unit::Count,
        "Employee days recomputed by the engine's recompute passes"
    );
}
