//! Paginated lists: `?page=&page_size=` in, `{count, next, previous, results}` out.

use axum::http::Uri;
use serde::{Deserialize, Serialize};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 500;

/// `page` (from 1) and `page_size` (1 to [`MAX_PAGE_SIZE`], default 50) query parameters.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
pub struct PageParams {
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page.
    pub page_size: Option<u64>,
}

impl PageParams {
    /// The page number (at least 1).
    pub fn page(&self) -> u64 {
        self.page.unwrap_or(1).max(1)
    }

    /// The page size, clamped to 1..=[`MAX_PAGE_SIZE`].
    pub fn size(&self) -> u64 {
        self.page_size.unwrap_or(50).clamp(1, MAX_PAGE_SIZE)
    }

    /// How many items to skip.
    pub fn offset(&self) -> u64 {
        (self.page() - 1).saturating_mul(self.size())
    }
}

/// A page of a list, with links to its neighbours.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Paginated<T> {
    /// How many items match in all.
    pub count: u64,
    /// The next page's URL (path and query), if any.
    pub next: Option<String>,
    /// The previous page's URL, if any.
    pub previous: Option<String>,
    /// This page.
    pub results: Vec<T>,
}

impl<T> Paginated<T> {
    /// The page `params` of `count` items, with links built from the request's `uri`.
    pub fn new(results: Vec<T>, count: u64, params: PageParams, uri: &Uri) -> Self {
        let link = |page: u64| {
            let mut query: Vec<String> = uri
                .query()
                .unwrap_or("")
                .split('&')
                .filter(|p| {
                    !p.is_empty()
                        && !p.starts_with("page=")
                        && !p.starts_with("page_size=")
                        // A token never goes into a link (REST routes do not take it anyway).
                        && !p.starts_with("token=")
                })
                .map(str::to_owned)
                .collect();
            query.push(format!("page={page}"));
            query.push(format!("page_size={}", params.size()));
            format!("{}?{}", uri.path(), query.join("&"))
        };
        let page = params.page();
        let shown = params.offset().saturating_add(results.len() as u64);
        Self {
            count,
            next: (shown < count).then(|| link(page + 1)),
            previous: (page > 1).then(|| link(page - 1)),
            results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filters_and_stop_at_the_ends() {
        let uri: Uri =
            "/api/attendance/daily-attendance/?status=Absent&token=secret&page=2&page_size=10"
                .parse()
                .unwrap();
        let params = PageParams {
            page: Some(2),
            page_size: Some(10),
        };
        let page = Paginated::new(vec![0; 10], 35, params, &uri);
        assert_eq!(
            page.next.as_deref(),
            Some("/api/attendance/daily-attendance/?status=Absent&page=3&page_size=10")
        );
        assert_eq!(
            page.previous.as_deref(),
            Some("/api/attendance/daily-attendance/?status=Absent&page=1&page_size=10")
        );
        let last = Paginated::new(
            vec![0; 5],
            35,
            PageParams {
                page: Some(4),
                page_size: Some(10),
            },
            &uri,
        );
        assert_eq!(last.next, None);
        assert_eq!(
            PageParams {
                page: Some(0),
                page_size: Some(10_000)
            }
            .size(),
            MAX_PAGE_SIZE
        );
    }
}
