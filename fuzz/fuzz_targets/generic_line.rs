//! The generic TCP line format: a format (delimiter, columns, time format) and a line, both
//! from the input, decoded into a scan; lines written by the encoder in a valid format decode
//! back to the same user, time, punch and verify.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use attendance_adapters::generic_tcp::{Field, GenericLine, LineFormat};
use attendance_core::scan::PunchState;
use chrono::{NaiveDate, NaiveDateTime};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum AnyField {
    User,
    Timestamp,
    Punch,
    Verify,
    Ignore,
}

impl From<&AnyField> for Field {
    fn from(f: &AnyField) -> Self {
        match f {
            AnyField::User => Field::User,
            AnyField::Timestamp => Field::Timestamp,
            AnyField::Punch => Field::Punch,
            AnyField::Verify => Field::Verify,
            AnyField::Ignore => Field::Ignore,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    delimiter: String,
    fields: Vec<AnyField>,
    time_format: String,
    line: Vec<u8>,
    // For the round trip.
    format_choice: u8,
    delimiter_choice: u8,
    user: u32,
    days: u16,
    seconds: u32,
    punch: Option<u8>,
    verify: Option<u8>,
}

const FORMATS: [&str; 5] = [
    "%Y-%m-%d %H:%M:%S",
    "unix",
    "%d/%m/%Y %H:%M",
    "%Y%m%d%H%M%S",
    "%Y-%m-%dT%H:%M:%S",
];
const DELIMITERS: [&str; 4] = [",", ";", "\t", "|"];

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let machine = attendance_fuzz::machine();
    let zone = attendance_fuzz::zone();
    let fields: Vec<Field> = input.fields.iter().map(Field::from).collect();
    if let Ok(format) = LineFormat::new(&input.delimiter, fields.clone(), &input.time_format) {
        let _ = format.decode(&input.line, &machine, zone);
    }

    // Round trip in a known-good format: user and timestamp once each, any other columns.
    let format_text = FORMATS[usize::from(input.format_choice) % FORMATS.len()];
    let delimiter = DELIMITERS[usize::from(input.delimiter_choice) % DELIMITERS.len()];
    let mut columns = vec![Field::User, Field::Timestamp];
    let mut punch_seen = false;
    let mut verify_seen = false;
    for f in fields {
        match f {
            Field::Punch if !punch_seen => punch_seen = true,
            Field::Verify if !verify_seen => verify_seen = true,
            Field::Ignore => {}
            _ => continue,
        }
        columns.push(f);
    }
    let Ok(format) = LineFormat::new(delimiter, columns, format_text) else {
        panic!("{format_text:?} with {delimiter:?} is a valid format");
    };
    let Some(local_time) = NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(u64::from(input.days % 36_500))))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t + chrono::Duration::seconds(i64::from(input.seconds % 86_400)))
    else {
        return;
    };
    // Minute formats drop the seconds.
    let local_time: NaiveDateTime = if format_text.contains("%S") || format_text == "unix" {
        local_time
    } else {
        local_time - chrono::Duration::seconds(i64::from(local_time.and_utc().timestamp() % 60))
    };
    let line = GenericLine {
        user: (input.user % 1_000_000 + 1).to_string(),
        local_time,
        punch: input.punch,
        verify: input.verify,
    };
    let Ok(text) = format.encode(&line) else {
        panic!("{line:?} encodes in {format_text:?}");
    };
    let scan = format.decode(text.as_bytes(), &machine, chrono_tz::UTC);
    let scan = match scan {
        Ok(scan) => scan,
        Err(e) => panic!("{text:?} decodes: {e}"),
    };
    assert_eq!(scan.device_user_id.as_str(), line.user);
    assert_eq!(scan.timestamp.naive_utc(), local_time);
    if punch_seen {
        let expected = line
            .punch
            .map_or(PunchState::Unknown, PunchState::from_code);
        assert_eq!(scan.punch_state, expected);
    }
});
