//! A [`Table`] as CSV: UTF-8 without a byte-order mark, one header row, `\n` line ends, fields
//! quoted only when they hold a comma, a quote or a line break (quotes doubled), hours with two
//! decimals, dates as `YYYY-MM-DD`, yes/no as `true`/`false`, nothing as an empty field.

use super::{Cell, ExportError, Table};

/// The text of one cell.
fn field(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => text.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Hours(h) => format!("{h:.2}"),
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        Cell::Bool(b) => b.to_string(),
        Cell::Empty => String::new(),
    }
}

/// `table` as CSV bytes.
pub fn write(table: &Table) -> Result<Vec<u8>, ExportError> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    out.write_record(&table.header)?;
    for row in &table.rows {
        out.write_record(row.iter().map(field))?;
    }
    out.into_inner()
        .map_err(|e| ExportError::Csv(csv::Error::from(e.into_error())))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let table = Table {
            header: vec![
                "name".into(),
                "hours".into(),
                "date".into(),
                "ok".into(),
                "x".into(),
            ],
            rows: vec![vec![
                Cell::Text("Khatun, \"Rahima\"\nline".into()),
                Cell::Hours(8.5),
                Cell::Date(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()),
                Cell::Bool(true),
                Cell::Empty,
            ]],
        };
        let text = String::from_utf8(write(&table).unwrap()).unwrap();
        assert_eq!(
            text,
            "name,hours,date,ok,x\n\"Khatun, \"\"Rahima\"\"\nline\",8.50,2026-11-02,true,\n"
        );
    }
}
