//! Properties of the ADMS codec: no decoder panics on arbitrary text, and every decoder reads back
//! what its encoder (used by the fake device and the router) wrote.

use attendance_adapters::adms::codec::{
    AttLogRecord, CommandResult, DeviceCommand, HandshakeOptions, LineEnding, encode_attlog,
    encode_commands, encode_devicecmd, encode_handshake, encode_ok, parse_attlog, parse_commands,
    parse_devicecmd, parse_handshake, parse_ok, parse_operlog,
};
use chrono::{DateTime, NaiveDateTime};
use proptest::prelude::*;

fn time() -> impl Strategy<Value = NaiveDateTime> {
    // 2000-01-01 to 2099-12-31, whole seconds.
    (946_684_800i64..4_102_444_799)
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap().naive_utc())
}

fn record() -> impl Strategy<Value = AttLogRecord> {
    (
        "[0-9A-Za-z]{1,12}",
        time(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u16>()),
        proptest::collection::vec("[0-9A-Za-z+.= -]{0,8}", 0..9),
    )
        .prop_map(|(pin, time, status, verify, extra)| AttLogRecord {
            pin,
            time,
            status,
            verify,
            extra,
        })
}

proptest! {
    #[test]
    fn decoders_never_panic(body in any::<String>()) {
        let parsed = parse_attlog(&body);
        prop_assert!(parsed.handled() <= body.split('\n').count());
        let _ = parse_operlog(&body);
        let _ = parse_handshake(&body);
        let _ = parse_commands(&body);
        let _ = parse_devicecmd(&body);
        let _ = parse_ok(&body);
    }

    #[test]
    fn decoders_never_panic_on_line_shaped_noise(
        lines in proptest::collection::vec("[0-9 \t:\r=&A-Z-]{0,40}", 0..20)
    ) {
        let body = lines.join("\n");
        let _ = parse_attlog(&body);
        let _ = parse_devicecmd(&body);
        let _ = parse_handshake(&body);
    }

    #[test]
    fn attlog_round_trips(records in proptest::collection::vec(record(), 0..20), crlf in any::<bool>()) {
        let ending = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
        let body = encode_attlog(&records, ending);
        let parsed = parse_attlog(&body);
        prop_assert!(parsed.rejected.is_empty());
        let got: Vec<AttLogRecord> = parsed.records.into_iter().map(|(r, _)| r).collect();
        prop_assert_eq!(got, records);
    }

    #[test]
    fn replies_and_commands_round_trip(
        n in any::<usize>(),
        serial in "[0-9A-Z]{1,20}",
        delay in any::<u32>(),
        zone in any::<i32>(),
        stamp in proptest::option::of("[0-9]{1,10}"),
        extra in proptest::collection::vec(("[A-Za-z]{1,10}", "[ -~]{0,10}"), 0..4),
        commands in proptest::collection::vec(("[0-9A-Za-z]{1,16}", "[ -~\t]{1,40}"), 0..6),
    ) {
        prop_assert_eq!(parse_ok(&encode_ok(n)), Some(n));

        let options = HandshakeOptions { delay, time_zone: zone, extra: extra.clone(), ..HandshakeOptions::default() };
        let reply = parse_handshake(&encode_handshake(&serial, &options, stamp.as_deref())).unwrap();
        prop_assert_eq!(&reply.serial, &serial);
        prop_assert_eq!(reply.number("Delay"), Some(i64::from(delay)));
        prop_assert_eq!(reply.number("TimeZone"), Some(i64::from(zone)));
        prop_assert_eq!(reply.get("ATTLOGStamp"), Some(stamp.as_deref().unwrap_or("None")));
        prop_assert_eq!(reply.options.len(), 11 + extra.len());

        let commands: Vec<DeviceCommand> = commands
            .into_iter()
            .filter(|(_, c)| !c.trim().is_empty())
            .map(|(id, command)| DeviceCommand { id, command })
            .collect();
        prop_assert_eq!(parse_commands(&encode_commands(&commands)), commands);
    }

    #[test]
    fn devicecmd_round_trips(
        results in proptest::collection::vec(
            (
                "[0-9A-Za-z]{1,16}",
                any::<i32>(),
                "[A-Z]{1,8}",
                proptest::collection::vec(("~?[A-Za-z]{1,10}", "[ -%'-~]{0,12}"), 0..4),
            ),
            0..5,
        )
    ) {
        let results: Vec<CommandResult> = results
            .into_iter()
            .map(|(id, code, cmd, info)| CommandResult { id, return_code: Some(code), cmd, info })
            .collect();
        prop_assert_eq!(parse_devicecmd(&encode_devicecmd(&results)), results);
    }
}
