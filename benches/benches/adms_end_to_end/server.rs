//! The server's setup for the run through the REST API: employees, ADMS machines, each device's
//! handshake (the process itself is `attendance_benches::server`).

use std::time::{Duration, Instant};

use attendance_benches::server::{login, post_created};
use futures::StreamExt;
use serde_json::json;

use crate::workload::Workload;

/// The site's zone; the devices' clocks run in it.
const ZONE: &str = "Asia/Dhaka";

pub(crate) async fn set_up(base: &str, work: &Workload) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token = login(&client, base).await;
    let employees = futures::stream::iter(1..=work.employees)
        .map(|pin| {
            let (client, token) = (&client, &token);
            async move {
                let department = ["Sewing", "Cutting", "Finishing", "Quality"][pin % 4];
                post_created(
                    client,
                    format!("{base}/api/attendance/employees/"),
                    token,
                    json!({
                        "employee_id": format!("EMP{pin:05}"),
                        "employee_name": format!("Employee {pin}"),
                        "department": department,
                        "designation": "Operator",
                        "level_of_work": if pin % 10 == 0 { "Staff" } else { "Worker" },
                        "device_user_id": pin.to_string(),
                    }),
                )
                .await;
            }
        })
        .buffer_unordered(4);
    employees.collect::<Vec<()>>().await;
    for (serial, _) in &work.devices {
        post_created(
            &client,
            format!("{base}/api/attendance/machines/"),
            &token,
            json!({
                "machine_id": serial,
                "name": format!("Gate {serial}"),
                "machine_type": "zkteco_adms",
                "time_zone": ZONE,
                "config": {"serial": serial},
            }),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (serial, _) in &work.devices {
        loop {
            let status = client
                .get(format!("{base}/iclock/cdata?SN={serial}&options=all"))
                .send()
                .await
                .map(|r| r.status().as_u16());
            if status.as_ref().is_ok_and(|s| *s == 200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the handshake of {serial} did not answer 200 within 30 s: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
