//! Leave documents: bytes kept exactly, in order, up to the limit per request.

use futures::future::join_all;

use super::fixtures::{add_employees, date, id, is_not_found, leave_document, leave_request};
use super::{CheckResult, fail};
use crate::employee::EmployeeCode;
use crate::leave::{
    LeaveDocument, LeaveDocumentFile, LeaveDocumentId, LeaveRequest, LeaveRequestId, RequestStatus,
};
use crate::store::{LeaveChange, Store, StoreError};

/// `len` bytes that are not text: every value, in a sequence that does not repeat soon.
fn binary_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9E37_79B9;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state.to_be_bytes()[0]
        })
        .collect()
}

pub(super) async fn leave_documents_keep_their_bytes_order_and_limit<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Cutting")]).await?;
    let first = leave_request("L-1", "EMP001", "Sewing", date(3, 2), date(3, 3), false)?;
    let mut requests = vec![first.clone()];
    for round in 0..3 {
        let day = date(4, 1 + round);
        let request_id = format!("R-{round}");
        requests.push(leave_request(
            &request_id,
            "EMP001",
            "Sewing",
            day,
            day,
            false,
        )?);
    }
    let commit = |code: &str, version: u64, requests: Vec<LeaveRequest>| {
        Ok::<_, String>(LeaveChange {
            employee: id(EmployeeCode::parse(code))?,
            expected_version: version,
            requests,
            entries: Vec::new(),
        })
    };
    store
        .commit_leave(commit("EMP001", 0, requests)?)
        .await
        .map_err(fail)?;
    let second = leave_request("L-2", "EMP002", "Cutting", date(3, 2), date(3, 2), false)?;
    store
        .commit_leave(commit("EMP002", 0, vec![second])?)
        .await
        .map_err(fail)?;
    let l1 = id(LeaveRequestId::parse("L-1"))?;
    let l2 = id(LeaveRequestId::parse("L-2"))?;
    let limit = 4;

    // Bytes come back exactly: an empty file, every byte value, a larger binary file.
    let files = [
        leave_document("L-1", "D-empty", Vec::new())?,
        leave_document("L-1", "D-binary", (0..=255).collect())?,
        leave_document("L-1", "D-large", binary_bytes(262_151))?,
    ];
    ensure!(
        store.leave_documents(&l1).await.map_err(fail)?.is_empty(),
        "a request starts with no documents"
    );
    for file in &files {
        store
            .add_leave_document(file.clone(), limit)
            .await
            .map_err(fail)?;
    }
    let listed = store.leave_documents(&l1).await.map_err(fail)?;
    let want: Vec<LeaveDocument> = files.iter().map(|f| f.document.clone()).collect();
    ensure!(
        listed == want,
        "documents in the order attached, metadata exact: {listed:?}"
    );
    for file in &files {
        let got = store
            .leave_document(&l1, &file.document.id)
            .await
            .map_err(fail)?;
        ensure!(
            got == *file,
            "document {} read back as {got:?}",
            file.document.id
        );
    }

    // The limit: the fourth fits, the fifth is a conflict and stores nothing.
    store
        .add_leave_document(leave_document("L-1", "D-4", b"%PDF-".to_vec())?, limit)
        .await
        .map_err(fail)?;
    let over = leave_document("L-1", "D-5", b"%PDF-".to_vec())?;
    ensure!(
        matches!(
            store.add_leave_document(over.clone(), limit).await,
            Err(StoreError::Conflict(_))
        ),
        "a document past the limit must be a Conflict"
    );
    ensure!(
        store.leave_documents(&l1).await.map_err(fail)?.len() == 4
            && is_not_found(&store.leave_document(&l1, &over.document.id).await),
        "a refused document must not be stored"
    );

    // Ids are unique across requests, and one request never shows another's document.
    ensure!(
        matches!(
            store
                .add_leave_document(leave_document("L-2", "D-binary", vec![1])?, limit)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a document id taken by another request must be a Conflict"
    );
    let foreign = leave_document("L-2", "D-other", vec![0, 0xFF, 0])?;
    store
        .add_leave_document(foreign.clone(), limit)
        .await
        .map_err(fail)?;
    ensure!(
        is_not_found(&store.leave_document(&l1, &foreign.document.id).await)
            && is_not_found(&store.leave_document(&l2, &files[1].document.id).await),
        "a document asked for under another request must be NotFound"
    );
    ensure!(
        store.leave_documents(&l2).await.map_err(fail)? == [foreign.document.clone()],
        "each request lists only its own documents"
    );

    // Unknown requests and a size that is not the bytes'.
    let missing = id(LeaveRequestId::parse("L-404"))?;
    ensure!(
        is_not_found(
            &store
                .add_leave_document(leave_document("L-404", "D-x", vec![1])?, limit)
                .await
        ) && is_not_found(&store.leave_documents(&missing).await)
            && is_not_found(
                &store
                    .leave_document(&missing, &id(LeaveDocumentId::parse("D-x"))?)
                    .await
            ),
        "documents of an unknown request must be NotFound"
    );
    let mut lying = leave_document("L-2", "D-lying", vec![1, 2, 3])?;
    lying.document.size = 4;
    ensure!(
        matches!(
            store.add_leave_document(lying, limit).await,
            Err(StoreError::Invalid(_))
        ),
        "a size that is not the bytes' must be Invalid"
    );

    // A decision on the request replaces it and keeps its documents.
    let mut approved = first;
    approved.status = RequestStatus::Approved;
    store
        .commit_leave(commit("EMP001", 1, vec![approved])?)
        .await
        .map_err(fail)?;
    ensure!(
        store.leave_documents(&l1).await.map_err(fail)?.len() == 4,
        "a decision on the request must keep its documents"
    );

    // Eight uploads race for the places left: exactly that many are stored.
    let race_limit = 3;
    for held in 0..3u32 {
        let request = format!("R-{held}");
        for n in 0..held {
            store
                .add_leave_document(
                    leave_document(&request, &format!("{request}-held-{n}"), vec![n as u8])?,
                    race_limit,
                )
                .await
                .map_err(fail)?;
        }
        let racers: Vec<LeaveDocumentFile> = (0..8u8)
            .map(|n| leave_document(&request, &format!("{request}-race-{n}"), vec![n; 64]))
            .collect::<Result<_, String>>()?;
        let results = join_all(
            racers
                .into_iter()
                .map(|file| store.add_leave_document(file, race_limit)),
        )
        .await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        let places = (race_limit - held) as usize;
        ensure!(
            wins == places && conflicts == results.len() - places,
            "{held} held: {wins} stored and {conflicts} refused of 8 racing for {places} places: {results:?}"
        );
        let stored = store
            .leave_documents(&id(LeaveRequestId::parse(&request))?)
            .await
            .map_err(fail)?;
        ensure!(
            stored.len() == race_limit as usize,
            "{held} held: {} documents stored, want {race_limit}",
            stored.len()
        );
    }
    Ok(())
}
