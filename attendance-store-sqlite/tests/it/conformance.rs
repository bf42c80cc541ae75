//! The SQLite store against core's conformance suite, in memory and on files.

use std::sync::Arc;

use attendance_core::store::conformance::run_store_conformance;
use attendance_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test]
async fn the_in_memory_store_conforms() {
    let report =
        run_store_conformance(|| async { SqliteStore::open_in_memory().await.map(Arc::new) }).await;
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.passed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let report = run_store_conformance(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.path().join(format!("conformance-{n}.db"));
        async move {
            SqliteStore::open(path.to_str().unwrap_or_default(), SqliteOptions::default())
                .await
                .map(Arc::new)
        }
    })
    .await;
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.passed > 0);
}
