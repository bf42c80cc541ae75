//! The web app's assets as served: `/` is the HTML page, the page weight (HTML + JS + CSS) is
//! under 200 KB, each asset has its type, an `ETag` and revalidation, and unknown `/api/...`
//! paths still answer the API's JSON 404.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_web_app_is_served_at_the_root_and_weighs_under_200_kb() {
    let app = spawn_app().await;
    let mut weight = 0;
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let content_type = headers["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"),
            "{path}"
        );
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let body = response.bytes().await.unwrap();
        weight += body.len();
        if path == "/" {
            let html = String::from_utf8(body.to_vec()).unwrap();
            assert!(
                html.contains("<script type=\"module\" src=\"/app.js\">"),
                "{html}"
            );
            assert!(html.contains("href=\"/app.css\""));
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "nothing from elsewhere"
            );
        }

        // The same ETag again is answered 304 with no body; another one gets the asset.
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let other = app
            .client
            .get(app.url(path))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200);
    }
    println!("page weight of the dashboard (HTML + JS + CSS): {weight} bytes");
    assert!(weight < 200 * 1024, "{weight} bytes");
    assert_eq!(weight, attendance_server::web::page_weight());

    // The API's JSON 404 is kept for unknown API paths (and any other unknown path).
    for path in [
        "/api/nothing-here",
        "/api/attendance/nothing/",
        "/nothing.js",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    // The API itself is unchanged: the OpenAPI document is still JSON at its path.
    assert!(app.openapi().await["paths"].is_object());
}
