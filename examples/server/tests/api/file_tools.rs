//! `attendance-server import scans FILE` and `attendance-server export monthly …` run as the
//! built binary against the store of a running server: SQLite (the server binary on a data
//! directory) and PostgreSQL (an in-process server on a fresh database).

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::temp_dir;
use crate::helpers::PASSWORD;
use crate::tools::{Target, login, ok, refused, serve_postgres, serve_sqlite_child, stderr, tool};
use attendance_store_postgres::testkit as pg_common;

async fn get(base: &str, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn get_json(base: &str, path: &str, token: &str) -> Value {
    let response = get(base, path, token).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// The scenario both stores run, beside the server at `base`.
async fn scans_in_and_reports_out(base: &str, target: &Target, data: &Path) {
    let admin = login(base, "admin", PASSWORD).await.unwrap();
    let staff = data.join("staff.json");
    std::fs::write(
        &staff,
        json!([
            {"employee_id": "EMP700", "employee_name": "Rahima", "department": "Sewing",
             "designation": "Operator", "level_of_work": "Worker", "device_user_id": "7700"},
            {"employee_id": "EMP701", "employee_name": "Karim", "department": "Cutting",
             "designation": "Operator", "level_of_work": "Worker", "device_user_id": "7701"},
        ])
        .to_string(),
    )
    .unwrap();
    ok(&tool(
        target,
        &["import", "employees", staff.to_str().unwrap()],
        None,
    )
    .await);

    // A bad file: every bad line named, nothing stored (not even its good first line).
    let bad = data.join("bad-scans.csv");
    std::fs::write(
        &bad,
        "employee_id,device_user_id,timestamp,scan_type,machine_id\n\
         EMP700,,2025-06-11 08:00,IN,\n\
         EMP404,,2025-06-11 08:00,IN,\n\
         EMP700,,not a time,,\n\
         ,,2025-06-11 09:00,,\n\
         EMP700,9999,2025-06-11 17:30,OUT,\n\
         EMP700,,2025-06-11 17:30,SIDEWAYS,\n\
         EMP700,,2999-06-11 17:30,OUT,\n",
    )
    .unwrap();
    let output = tool(target, &["import", "scans", bad.to_str().unwrap()], None).await;
    refused(&output, "6 lines refused; nothing was stored");
    let err = stderr(&output);
    for line in 3..=8 {
        assert!(err.contains(&format!("line {line}:")), "line {line}: {err}");
    }
    assert!(!err.contains("line 2:"), "{err}");
    assert!(err.contains("unknown employee EMP404"), "{err}");
    assert!(err.contains("timestamp \"not a time\""), "{err}");
    assert!(err.contains("scan_type"), "{err}");
    let scans = get_json(
        base,
        "/api/attendance/scans/?employee_id=EMP700&from=2025-06-11&to=2025-06-11",
        &admin,
    )
    .await;
    assert_eq!(scans["count"], 0, "{scans}");

    // A good file: by employee or by device user, RFC 3339 or local times, with machines.
    let good = data.join("scans.csv");
    std::fs::write(
        &good,
        "employee_id,device_user_id,timestamp,scan_type,machine_id\n\
         EMP700,,2025-06-11 08:00,IN,\n\
         EMP700,,2025-06-11T17:30:00+06:00,OUT,\n\
         ,7701,2025-06-11 08:20:00,,GATE-2\n\
         EMP701,7701,2025-06-11 17:00,OUT,GATE-2\n\
         ,4242,2025-06-11 09:00,,GATE-2\n",
    )
    .unwrap();
    let output = tool(target, &["import", "scans", good.to_str().unwrap()], None).await;
    let out = ok(&output);
    assert!(out.contains("imported 5 scans"), "{out}");
    assert!(out.contains("5 new, 0 already stored"), "{out}");
    assert!(out.contains("device user 4242"), "{out}");
    // Not a terminal: plain progress lines.
    let err = stderr(&output);
    assert!(err.contains("storing scans: 5/5"), "{err}");
    assert!(err.contains("recomputing days: 2/2"), "{err}");
    let day = get_json(
        base,
        "/api/attendance/daily-attendance/EMP700/2025-06-11/",
        &admin,
    )
    .await;
    assert_eq!(day["status"], "Present-OnTime", "{day}");
    assert_eq!(day["working_hours"], 8.25, "{day}");
    let day = get_json(
        base,
        "/api/attendance/daily-attendance/EMP701/2025-06-11/",
        &admin,
    )
    .await;
    assert_eq!(day["status"], "Present-Late", "{day}");
    assert_eq!(day["check_out"], "17:00", "{day}");
    // Again: each scan is stored once.
    let out = ok(&tool(target, &["import", "scans", good.to_str().unwrap()], None).await);
    assert!(out.contains("0 new, 5 already stored"), "{out}");

    // The export writes exactly what the API answers HR (here the admin) for the same query.
    for (args, query) in [
        (vec!["--format", "csv"], "&format=csv"),
        (
            vec!["--format", "xlsx", "--department", "Sewing"],
            "&format=xlsx&department=Sewing",
        ),
    ] {
        let output_file = data.join(format!("june{}", query.replace(['&', '='], "-")));
        let mut full = vec!["export", "monthly", "--month", "2025-06", "--output"];
        full.push(output_file.to_str().unwrap());
        full.extend(args);
        let output = tool(target, &full, None).await;
        let out = ok(&output);
        assert!(out.contains("wrote the monthly report of 2025-06"), "{out}");
        let written = std::fs::read(&output_file).unwrap();
        let response = get(
            base,
            &format!("/api/attendance/reports/monthly/?month=2025-06{query}"),
            &admin,
        )
        .await;
        assert_eq!(response.status(), 200);
        let served = response.bytes().await.unwrap();
        assert_eq!(written, served.to_vec(), "{query}");
        assert!(!written.is_empty());
    }
    let csv_file = std::fs::read_to_string(data.join("june-format-csv")).unwrap();
    let lines: Vec<&str> = csv_file.lines().collect();
    assert_eq!(lines.len(), 3, "{csv_file}");
    assert!(lines[1].starts_with("EMP701,Karim,Cutting,"), "{csv_file}");
    assert!(lines[2].starts_with("EMP700,Rahima,Sewing,"), "{csv_file}");
    refused(
        &tool(
            target,
            &[
                "export", "monthly", "--month", "2025-06", "--format", "pdf", "--output", "x",
            ],
            None,
        )
        .await,
        "--format must be csv or xlsx",
    );
    refused(
        &tool(
            target,
            &[
                "export", "monthly", "--month", "2999-01", "--format", "csv", "--output", "x",
            ],
            None,
        )
        .await,
        "in the future",
    );
    refused(
        &tool(
            target,
            &[
                "export", "monthly", "--month", "June", "--format", "csv", "--output", "x",
            ],
            None,
        )
        .await,
        "--month",
    );
}

#[tokio::test]
async fn scans_import_and_reports_export_on_sqlite_while_the_server_runs() {
    let data = temp_dir("files-sqlite");
    let (child, base) = serve_sqlite_child(&data).await;
    scans_in_and_reports_out(&base, &Target::DataDir(data.clone()), &data).await;
    drop(child);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn scans_import_and_reports_export_on_postgres_while_the_server_runs() {
    let Some(pg) = pg_common::server().await else {
        return;
    };
    let url = pg.database().await;
    let data = temp_dir("files-pg");
    let (server, app) = serve_postgres(&url, &data).await;
    scans_in_and_reports_out(&app.base, &Target::Database(url.clone()), &data).await;
    // The server reads what the tools stored.
    let admin = app.token("admin").await;
    let report = app
        .call_json(
            Method::GET,
            "/api/attendance/reports/monthly/?month=2025-06&employee_id=EMP700",
            &admin,
            None,
            200,
        )
        .await;
    assert_eq!(report["employees"][0]["present_days"], 1, "{report}");
    server.stop().await;
    pg.cleanup().await;
    let _ = std::fs::remove_dir_all(&data);
}
