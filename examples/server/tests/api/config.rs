//! The configuration file, through the real binary: a good file is applied under the
//! environment and the flags; an unknown key, a bad value or a missing file stops the server
//! with an error naming the file and the key.

use std::path::Path;

use serde_json::json;

use crate::cli::{Running, binary, listening_url, run_to_exit, temp_dir};

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("attendance.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn login(base: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "root", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_config_file_is_applied_under_the_environment_and_the_flags() {
    let dir = temp_dir("config-good");
    let data = dir.join("data from the file");
    // `bind` is overridden by the flag (port 1 could not be bound), `admin_password` by the
    // environment; `data_dir`, `admin_user` and `cors_origins` come from the file.
    let file = write_config(
        &dir,
        &format!(
            r#"
bind = "127.0.0.1:1"
data_dir = "{}"
admin_user = "root"
admin_password = "the password in the file"
cors_origins = ["https://hr.example.com"]
"#,
            data.display()
        ),
    );
    let mut child = Running(
        binary()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("ATTENDANCE_CONFIG", &file)
            .env(
                "ATTENDANCE_ADMIN_PASSWORD",
                "the password in the environment",
            )
            .spawn()
            .unwrap(),
    );
    let base = listening_url(&mut child).await;
    assert!(!base.ends_with(":1"), "{base}");
    assert_eq!(login(&base, "the password in the environment").await, 200);
    assert_eq!(login(&base, "the password in the file").await, 401);
    assert!(data.join("attendance.sqlite").exists());
    assert!(data.join("jwt-secret").exists());
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/api/attendance/employees/"),
        )
        .header("origin", "https://hr.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://hr.example.com"
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unknown_key_or_a_bad_value_stops_the_server_naming_the_file_and_the_key() {
    let dir = temp_dir("config-bad");
    for (text, key) in [
        (
            "admin_user = \"root\"\nadmin_pasword = \"typo\"\n",
            "admin_pasword",
        ),
        ("ws_port = \"eighty\"\n", "ws_port"),
        ("cors_origins = [\"hr.example.com\"]\n", "cors_origins"),
    ] {
        let file = write_config(&dir, text);
        let mut command = binary();
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .arg("--config")
            .arg(&file);
        let output = run_to_exit(command).await;
        assert!(!output.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains(&format!("`{key}`")),
            "{text}: {stderr}"
        );
        // Nothing was started: no database, no secret.
        assert!(!dir.join("data").exists(), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_missing_config_file_stops_the_server_naming_it() {
    let dir = temp_dir("config-missing");
    let missing = dir.join("nowhere.toml");
    let mut command = binary();
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&missing)
        .env("ATTENDANCE_ADMIN_USER", "root")
        .env("ATTENDANCE_ADMIN_PASSWORD", "a long enough password");
    let output = run_to_exit(command).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&missing.display().to_string()) && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(!dir.join("data").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
