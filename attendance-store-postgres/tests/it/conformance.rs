//! The PostgreSQL store against core's conformance suite, each check on a fresh database.

use std::sync::Arc;

use attendance_core::store::conformance::run_store_conformance;
use attendance_store_postgres::testkit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_conforms() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let report = run_store_conformance(|| {
        let server = server.clone();
        async move { server.store().await.map(Arc::new) }
    })
    .await;
    server.cleanup().await;
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.passed >= 18, "{report}");
}

#[test]
fn urls_get_their_database_replaced() {
    assert_eq!(
        testkit::with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        testkit::with_database("postgres://u:p@h/db?sslmode=disable", "y"),
        "postgres://u:p@h/y?sslmode=disable"
    );
    assert_eq!(
        testkit::with_database("postgres://h:1", "z"),
        "postgres://h:1/z"
    );
}
