//! ZKTeco ADMS ("iclock") bodies: `ATTLOG` uploads (every good line re-encoded reads back the
//! same), `OPERLOG` / `BIODATA`, the handshake reply, `OK: n`, `getrequest` commands and
//! `devicecmd` results.
#![no_main]

use attendance_adapters::adms::codec::{
    body_lines, encode_attlog_line, encode_commands, encode_ok, parse_attlog, parse_attlog_line,
    parse_commands, parse_devicecmd, parse_handshake, parse_ok, parse_operlog,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let parsed = parse_attlog(&body);
    assert_eq!(parsed.handled(), body_lines(&body).count());
    for (record, line) in &parsed.records {
        assert_eq!(parse_attlog_line(line).as_ref(), Ok(record));
        let _ = (
            record.punch_state(),
            record.verify_mode(),
            record.work_code(),
        );
        let encoded = encode_attlog_line(record);
        assert_eq!(
            parse_attlog_line(&encoded).as_ref(),
            Ok(record),
            "{encoded:?}"
        );
    }
    let counts = parse_operlog(&body);
    assert_eq!(counts.handled(), body_lines(&body).count());
    if let Some(reply) = parse_handshake(&body) {
        let _ = reply.number("Delay");
        let _ = reply.get("ATTLOGStamp");
    }
    if let Some(n) = parse_ok(&body) {
        assert_eq!(parse_ok(&encode_ok(n)), Some(n));
    }
    let commands = parse_commands(&body);
    if !commands.is_empty() {
        // Ids and commands without line breaks or a first `:` in the id come back unchanged.
        let clean = commands.iter().all(|c| {
            !c.id.contains(':')
                && !c.id.contains(['\n', '\r'])
                && !c.command.contains(['\n', '\r'])
                && !format!("C:{}:{}", c.id, c.command).trim().is_empty()
        });
        if clean {
            assert_eq!(parse_commands(&encode_commands(&commands)), commands);
        }
    }
    let _ = parse_devicecmd(&body);
});
