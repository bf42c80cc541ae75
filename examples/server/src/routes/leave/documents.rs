//! `leave-requests/{id}/documents/`: the documents attached to a request (a medical
//! certificate), kept in the database through core's `LeaveDocumentStore` port.

use std::convert::identity;

use attendance_core::leave::{LeaveDocument, LeaveDocumentFile, LeaveDocumentId};
use attendance_core::store::StoreError;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::requests::visible_request;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::paginate;
use crate::state::AppState;

/// The largest document accepted, in bytes (5 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;

/// The most documents one request may hold.
pub const MAX_DOCUMENTS_PER_REQUEST: u32 = 10;

/// A document attached to a leave request, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    /// The document's id.
    pub id: String,
    /// The request it belongs to.
    pub leave_request_id: String,
    /// The file name given at upload.
    pub filename: String,
    /// `application/pdf`, `image/jpeg` or `image/png` (from the file's first bytes).
    pub content_type: String,
    /// Its size in bytes.
    pub size: usize,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: chrono::DateTime<Utc>,
}

impl From<LeaveDocument> for DocumentView {
    fn from(document: LeaveDocument) -> Self {
        Self {
            id: document.id.to_string(),
            leave_request_id: document.request.to_string(),
            filename: document.filename,
            content_type: document.content_type,
            size: usize::try_from(document.size).unwrap_or(usize::MAX),
            uploaded_by: document.uploaded_by,
            uploaded_at: document.uploaded_at,
        }
    }
}

/// The content type of a PDF, JPEG or PNG file, from its first bytes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// `POST …/documents/` parameters.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct UploadParams {
    /// The file's name (1 to 200 characters, no path separators) [`document`].
    pub filename: Option<String>,
}

fn check_filename(name: Option<&str>) -> ApiResult<String> {
    let name = name.unwrap_or("document").trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 200
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ApiError::unprocessable(
            "filename must be 1 to 200 characters without path separators or control characters",
        )
        .with_details(json!({ "field": "filename" })))
    }
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        message,
    )
}

/// Attaches a document (the raw file as the body: a PDF, JPEG or PNG of at most 5 MiB) to a leave
/// request; it is stored in the database. A request holds at most 10 documents.
#[utoipa::path(post, path = "/api/attendance/leave-requests/{id}/documents/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id"), UploadParams),
    request_body(content = Vec<u8>, description = "the file's bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = DocumentView), (status = 403, description = "out of the caller's scope"),
        (status = 404, description = "no such request"), (status = 409, description = "the request holds the most documents allowed, or is cancelled or rejected"),
        (status = 413, description = "larger than 5 MiB"), (status = 415, description = "not a PDF, JPEG or PNG"),
        (status = 422, description = "empty file, bad filename, or a Content-Type that is not the file's")))]
pub(super) async fn upload_document(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let request = visible_request(&state, &user, &id).await?;
    // Only a request that still holds its dates takes documents: a cancelled or rejected one
    // cannot be used to store files.
    if !request.status.is_active() {
        return Err(ApiError::conflict(format!(
            "leave request {} is {:?}: documents go with a pending or approved request",
            request.id, request.status
        )));
    }
    let filename = check_filename(params.filename.as_deref())?;
    let declared = headers
        .get(CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty() && v != "application/octet-stream");
    if let Some(declared) = &declared
        && !["application/pdf", "image/jpeg", "image/png"].contains(&declared.as_str())
    {
        return Err(unsupported(format!(
            "documents must be PDF, JPEG or PNG, not {declared}"
        )));
    }
    let bytes = axum::body::to_bytes(body, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("a document may be at most {MAX_DOCUMENT_BYTES} bytes (5 MiB)"),
            )
        })?;
    if bytes.is_empty() {
        return Err(ApiError::unprocessable("the document is empty"));
    }
    let Some(content_type) = sniff(&bytes) else {
        return Err(unsupported(
            "the file is not a PDF, JPEG or PNG (judged by its first bytes)",
        ));
    };
    if let Some(declared) = &declared
        && declared != content_type
    {
        return Err(ApiError::unprocessable(format!(
            "the Content-Type says {declared} but the file is {content_type}"
        )));
    }
    let document = LeaveDocument {
        id: LeaveDocumentId::parse(&uuid::Uuid::now_v7().to_string())
            .map_err(|e| ApiError::internal(format!("a new document id does not parse: {e}")))?,
        request: request.id.clone(),
        filename,
        content_type: content_type.to_owned(),
        size: bytes.len() as u64,
        uploaded_by: user.username.clone(),
        uploaded_at: Utc::now(),
    };
    let view = DocumentView::from(document.clone());
    state
        .store
        .add_leave_document(
            LeaveDocumentFile {
                document,
                bytes: bytes.into(),
            },
            MAX_DOCUMENTS_PER_REQUEST,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(format!(
                "a leave request may hold at most {MAX_DOCUMENTS_PER_REQUEST} documents"
            )),
            other => other.into(),
        })?;
    tracing::info!(user = %user.username, request = %request.id, document = %view.id, size = view.size, "leave document attached");
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists the documents attached to a leave request.
#[utoipa::path(get, path = "/api/attendance/leave-requests/{id}/documents/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id"), PageParams),
    responses((status = 200, body = Paginated<DocumentView>), (status = 403, description = "out of the caller's scope"),
        (status = 404, description = "no such request")))]
pub(super) async fn list_documents(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<DocumentView>>> {
    let request = visible_request(&state, &user, &id).await?;
    let all = state.store.leave_documents(&request.id).await?;
    Ok(Json(paginate(
        all.into_iter().map(DocumentView::from),
        page,
        &uri,
        identity,
    )))
}

/// Downloads a document with its content type.
#[utoipa::path(get, path = "/api/attendance/leave-requests/{id}/documents/{doc_id}", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id"), ("doc_id" = String, Path, description = "the document's id")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 403, description = "out of the caller's scope"), (status = 404, description = "no such request or document")))]
pub(super) async fn download_document(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let request = visible_request(&state, &user, &id).await?;
    let doc_id = LeaveDocumentId::parse(&doc_id)
        .map_err(|_| ApiError::not_found(format!("document {doc_id} was not found")))?;
    let LeaveDocumentFile { document, bytes } =
        state.store.leave_document(&request.id, &doc_id).await?;
    let ascii_name: String = document
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{ascii_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let content_type = HeaderValue::from_str(&document.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut response = Bytes::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_DISPOSITION, disposition);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_judged_by_their_first_bytes() {
        assert_eq!(sniff(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            Some("image/png")
        );
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
    }
}
