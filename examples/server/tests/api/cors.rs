//! CORS: `serve` sends no CORS headers unless origins are configured; a configured origin gets
//! its preflight answered, another does not; `*` allows any; credentials never.

use attendance_server::cli::{Cli, Server};
use clap::Parser;
use reqwest::header::HeaderMap;

const API: &str = "/api/attendance/employees/";

/// The password of the super admin `root` that [`start`] creates.
pub(crate) const ADMIN_PASSWORD: &str = "a long enough password";

/// `serve` in process on the in-memory store (super admin `root`, password
/// [`ADMIN_PASSWORD`]), with these extra flags.
pub(crate) async fn start(extra: &[&str]) -> Server {
    let mut args = vec![
        "attendance-server",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        "memory:",
        "--jwt-secret",
        "a test secret of at least thirty-two chars",
        "--admin-user",
        "root",
        "--admin-password",
        ADMIN_PASSWORD,
    ];
    args.extend_from_slice(extra);
    Server::start(&Cli::try_parse_from(args).unwrap())
        .await
        .unwrap()
}

/// A browser's preflight of `POST API` with a bearer token and a JSON body, from `origin`.
async fn preflight(server: &Server, origin: &str) -> (u16, HeaderMap) {
    let response = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("http://{}{API}", server.addr),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.headers().clone())
}

/// A plain `GET API` (no token: answered 401) from `origin`.
async fn get_from(server: &Server, origin: &str) -> HeaderMap {
    let response = reqwest::Client::new()
        .get(format!("http://{}{API}", server.addr))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    response.headers().clone()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn assert_no_cors(headers: &HeaderMap) {
    for (name, _) in headers {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "unexpected {name}: {headers:?}"
        );
    }
}

#[tokio::test]
async fn configured_origins_are_allowed_and_others_are_not() {
    let server = start(&[
        "--cors-origin",
        "http://localhost:5173",
        "--cors-origin",
        "https://HR.example.com/",
    ])
    .await;
    assert!(
        server.banner().contains("http://localhost:5173"),
        "{}",
        server.banner()
    );
    for origin in ["http://localhost:5173", "https://hr.example.com"] {
        let (status, headers) = preflight(&server, origin).await;
        assert!((200..300).contains(&status), "{status}");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            Some(origin)
        );
        let methods = header(&headers, "access-control-allow-methods").unwrap();
        assert!(
            methods.contains("POST") && methods.contains("DELETE"),
            "{methods}"
        );
        let allowed = header(&headers, "access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{allowed}"
        );
        assert_eq!(header(&headers, "access-control-allow-credentials"), None);
        // The answer depends on the origin, so caches must key on it.
        assert!(header(&headers, "vary").unwrap().contains("origin"));
        // The real request is answered with the origin too (here a 401 in the envelope).
        let headers = get_from(&server, origin).await;
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            Some(origin)
        );
    }
    // Another origin, another port of an allowed host, or another scheme: no permission.
    for refused in [
        "https://evil.example",
        "http://localhost:3000",
        "http://hr.example.com",
    ] {
        let (_, headers) = preflight(&server, refused).await;
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            None,
            "{refused}"
        );
        let headers = get_from(&server, refused).await;
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            None,
            "{refused}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_star_allows_any_origin_without_credentials() {
    let server = start(&["--cors-origin", "*"]).await;
    for origin in ["https://anything.example", "http://127.0.0.1:9999"] {
        let (status, headers) = preflight(&server, origin).await;
        assert!((200..300).contains(&status), "{status}");
        assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&headers, "access-control-allow-credentials"), None);
    }
    server.stop().await;
}

#[tokio::test]
async fn serve_sends_no_cors_headers_by_default() {
    let server = start(&[]).await;
    assert!(
        server.banner().contains("CORS:      off"),
        "{}",
        server.banner()
    );
    let (_, headers) = preflight(&server, "http://localhost:5173").await;
    assert_no_cors(&headers);
    assert_no_cors(&get_from(&server, "http://localhost:5173").await);
    server.stop().await;
}

#[test]
fn a_bad_origin_flag_is_refused() {
    let cli = Cli::try_parse_from([
        "attendance-server",
        "serve",
        "--cors-origin",
        "*",
        "--cors-origin",
        "https://hr.example.com",
    ])
    .unwrap();
    let error = attendance_server::config::Config::resolve(&cli).unwrap_err();
    assert!(error.to_string().contains("--cors-origin"), "{error}");
}
