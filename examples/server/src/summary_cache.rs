//! The daily summary's answers kept in memory (`GET daily-attendance/summary/?date=`).
//!
//! A summary of thousands of employees is a store read, a JSON encoding and megabytes on the
//! wire per request; HR dashboards ask for the same date again and again. The cache keeps, per
//! [`SummaryKey`] (the date, the caller's scope and the requested department: everything the
//! answer depends on besides the stored data), the finished body as [`Bytes`], a gzip copy made
//! once, and an `ETag`. [`CachedBody::respond`] answers gzip to a request that accepts it,
//! `304 Not Modified` to a matching `If-None-Match`, and always `Vary: Accept-Encoding`.
//!
//! What may be kept, and for how long:
//! - only answers whose every day has its window closed ([`DailyRecord::window_closed`]):
//!   today's summary, or a night shift still open, depends on the clock (`Pending`, `Absent`
//!   decided at read time), so it is computed for every request and never kept;
//! - an entry lives at most [`CacheLimits::ttl`] (60 s by default): the bound on how late a
//!   write made by another process on the same database (the command-line import tools) shows.
//!
//! Invalidation, exact and synchronous:
//! - the engine's bus: every `attendance_updated` event (device scans, manual scans, imports,
//!   corrections, overrides, leave decisions, holiday and settings recomputes, the
//!   window-closing pass) drops the entries of its date, and so does the same event of another
//!   instance of a cluster (it arrives as a remote event through PostgreSQL `NOTIFY`, usually
//!   within milliseconds; a write of another instance that publishes nothing, like an
//!   employee's rename, is bounded by the ttl, as the command-line tools' are). The events are
//!   drained from the
//!   cache's own subscription at every lookup and insert, so an event published before a
//!   write's answer is seen by every request after it. A subscription that lagged behind drops
//!   everything;
//! - every write of the REST API (any `POST`, `PUT`, `PATCH` or `DELETE` under it that is not
//!   refused as a client error, logins aside) drops everything once it is answered
//!   ([`forget_on_write`]): employees, shifts, holidays, settings, leave, overrides and the rest
//!   change many dates at once;
//! - a request that computed its answer while an invalidation of its date (or of everything)
//!   happened does not keep it: the cache counts invalidations in an epoch, and an answer is
//!   kept only if nothing it depends on was dropped since its computation started.
//!
//! The cache is bounded by [`CacheLimits::max_entries`] and [`CacheLimits::max_bytes`] (the
//! oldest entry goes first), so memory stays flat whatever the dates asked.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use attendance_adapters::engine::{EngineEvent, Published};
use attendance_core::access::ListFilter;
use attendance_core::employee::{Department, EmployeeCode};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use chrono::NaiveDate;
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

use crate::state::AppState;

/// How many dates may be remembered as invalidated before the cache forgets them and treats
/// every answer in flight as stale instead.
const MAX_DIRTY_DATES: usize = 4_096;

/// The cache's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// At most this many answers kept.
    pub max_entries: usize,
    /// At most this many bytes of bodies (plain and gzip) kept.
    pub max_bytes: usize,
    /// An answer is kept at most this long.
    pub ttl: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_entries: 64,
            max_bytes: 256 * 1024 * 1024,
            ttl: Duration::from_secs(60),
        }
    }
}

/// Whose answer it is: the caller's scope for the summary, as core's `list_filter` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScopeKey {
    /// Every employee (HR, admins).
    All,
    /// One department (its head).
    Department(Department),
    /// One employee (themselves).
    Employee(EmployeeCode),
}

impl From<ListFilter> for ScopeKey {
    fn from(filter: ListFilter) -> Self {
        match filter {
            ListFilter::All => Self::All,
            ListFilter::Department(d) => Self::Department(d),
            ListFilter::Employee(e) => Self::Employee(e),
        }
    }
}

/// What a summary answer depends on, besides the stored data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SummaryKey {
    /// The date.
    pub date: NaiveDate,
    /// The caller's scope.
    pub scope: ScopeKey,
    /// The `department=` asked for.
    pub department: Option<Department>,
}

/// A finished answer: the JSON body, its gzip copy (when made) and its entity tag.
#[derive(Debug, Clone)]
pub struct CachedBody {
    json: Bytes,
    gzip: Option<Bytes>,
    /// The tag of the plain body, without quotes; the gzip copy's is it with `-gz`.
    tag: String,
}

impl CachedBody {
    /// `json` as it is, not compressed (an answer that will not be kept).
    pub fn plain(json: Vec<u8>) -> Self {
        let tag = tag_of(&json);
        Self {
            json: Bytes::from(json),
            gzip: None,
            tag,
        }
    }

    /// `json` with its gzip copy, for keeping.
    pub fn compressed(json: Vec<u8>) -> std::io::Result<Self> {
        let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::new(6));
        encoder.write_all(&json)?;
        let gzip = encoder.finish()?;
        Ok(Self {
            gzip: Some(Bytes::from(gzip)),
            ..Self::plain(json)
        })
    }

    /// The bytes this answer holds.
    pub fn size(&self) -> usize {
        self.json.len() + self.gzip.as_ref().map_or(0, Bytes::len)
    }

    /// The answer to a request with `headers`: 304 when its `If-None-Match` names this body,
    /// the gzip copy when it accepts gzip and there is one, the plain JSON otherwise.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let gzip = self.gzip.as_ref().filter(|_| accepts_gzip(headers));
        let tag = match gzip {
            Some(_) => format!("\"{}-gz\"", self.tag),
            None => format!("\"{}\"", self.tag),
        };
        let mut response = if none_match(headers, &self.tag) {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            let mut r = Response::new(Body::from(gzip.unwrap_or(&self.json).clone()));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if gzip.is_some() {
                r.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        };
        let h = response.headers_mut();
        h.insert(VARY, HeaderValue::from_static("accept-encoding"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
        if let Ok(value) = HeaderValue::from_str(&tag) {
            h.insert(ETAG, value);
        }
        response
    }
}

/// A 64-bit digest of `body` and its length, in hex: the entity tag of an answer.
fn tag_of(body: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("{:016x}-{:x}", hasher.finish(), body.len())
}

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `*`, with a non-zero `q`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !refused && (coding.eq_ignore_ascii_case("gzip") || coding == "*")
        })
}

/// Whether `If-None-Match` names the body tagged `tag` (either representation, weak or not,
/// or `*`).
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|item| {
            let item = item.strip_prefix("W/").unwrap_or(item).trim_matches('"');
            item == "*" || item == tag || item.strip_suffix("-gz") == Some(tag)
        })
}

#[derive(Debug)]
struct Entry {
    body: Arc<CachedBody>,
    stored: Instant,
}

#[derive(Debug)]
struct Inner {
    events: Option<Receiver<Published>>,
    /// Counts invalidations; an answer computed from epoch `e` is kept only if nothing it
    /// depends on was invalidated after `e`.
    epoch: u64,
    /// The epoch of the last drop of everything.
    all_dropped: u64,
    /// The epoch of the last drop of each date (at most [`MAX_DIRTY_DATES`]).
    dropped: HashMap<NaiveDate, u64>,
    entries: HashMap<SummaryKey, Entry>,
    bytes: usize,
}

impl Inner {
    fn drop_all(&mut self) {
        self.epoch += 1;
        self.all_dropped = self.epoch;
        self.dropped.clear();
        self.entries.clear();
        self.bytes = 0;
    }

    fn drop_date(&mut self, date: NaiveDate) {
        if self.dropped.len() >= MAX_DIRTY_DATES && !self.dropped.contains_key(&date) {
            self.drop_all();
            return;
        }
        self.epoch += 1;
        self.dropped.insert(date, self.epoch);
        let mut freed = 0;
        self.entries.retain(|key, entry| {
            let keep = key.date != date;
            if !keep {
                freed += entry.body.size();
            }
            keep
        });
        self.bytes -= freed;
    }

    /// Applies the events published since the last look.
    fn drain(&mut self) {
        loop {
            let Some(events) = self.events.as_mut() else {
                return;
            };
            match events.try_recv() {
                Ok(Published {
                    event: EngineEvent::AttendanceUpdated(summary),
                    ..
                }) => self.drop_date(summary.date),
                // Another instance of the cluster recomputed a day.
                Ok(Published {
                    event: EngineEvent::Remote(remote),
                    ..
                }) => {
                    if let Some(date) = remote.updated_date() {
                        self.drop_date(date);
                    }
                }
                Ok(_) => {}
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "summary cache: events missed, dropping everything");
                    self.drop_all();
                }
                Err(TryRecvError::Closed) => {
                    // No engine any more: nothing can say what changed, so nothing is kept.
                    self.events = None;
                    self.drop_all();
                }
            }
        }
    }

    fn remove(&mut self, key: &SummaryKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes -= entry.body.size();
        }
    }
}

/// The summary cache (see the module docs).
#[derive(Debug)]
pub struct SummaryCache {
    limits: CacheLimits,
    inner: Mutex<Inner>,
}

impl SummaryCache {
    /// A cache dropping what the events of `events` (the engine's bus) make stale.
    pub fn new(events: Receiver<Published>, limits: CacheLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner {
                events: Some(events),
                epoch: 0,
                all_dropped: 0,
                dropped: HashMap::new(),
                entries: HashMap::new(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than dropping them: recover and start afresh.
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                guard.drop_all();
                guard
            }
        }
    }

    /// The kept answer of `key`, or the epoch to hand to [`SummaryCache::insert`] once the
    /// answer is computed.
    pub fn lookup(&self, key: &SummaryKey) -> Result<Arc<CachedBody>, u64> {
        let mut inner = self.lock();
        inner.drain();
        match inner.entries.get(key) {
            Some(entry) if entry.stored.elapsed() < self.limits.ttl => Ok(entry.body.clone()),
            Some(_) => {
                inner.remove(key);
                Err(inner.epoch)
            }
            None => Err(inner.epoch),
        }
    }

    /// Keeps `body` as the answer of `key`, computed from the data as of epoch `since`, unless
    /// its date (or everything) was invalidated since or it is larger than the cache.
    /// Returns whether it was kept.
    pub fn insert(&self, key: SummaryKey, since: u64, body: Arc<CachedBody>) -> bool {
        let size = body.size();
        if size > self.limits.max_bytes || self.limits.max_entries == 0 {
            return false;
        }
        let mut inner = self.lock();
        inner.drain();
        let stale =
            inner.all_dropped > since || inner.dropped.get(&key.date).is_some_and(|e| *e > since);
        if stale {
            return false;
        }
        inner.remove(&key);
        while !inner.entries.is_empty()
            && (inner.entries.len() >= self.limits.max_entries
                || inner.bytes + size > self.limits.max_bytes)
        {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.stored)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => inner.remove(&k),
                None => break,
            }
        }
        inner.bytes += size;
        inner.entries.insert(
            key,
            Entry {
                body,
                stored: Instant::now(),
            },
        );
        true
    }

    /// Drops every answer (a write that may change any date).
    pub fn clear(&self) {
        self.lock().drop_all();
    }

    /// How many answers, of how many bytes, are kept.
    pub fn usage(&self) -> (usize, usize) {
        let mut inner = self.lock();
        inner.drain();
        (inner.entries.len(), inner.bytes)
    }
}

/// Middleware over the REST API: a write (any method but `GET`, `HEAD`, `OPTIONS` and
/// `TRACE`, logins aside) that was not refused as a client error drops every kept summary once
/// it is answered.
pub async fn forget_on_write(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let login = request.method() == Method::POST && request.uri().path() == "/api/auth/login";
    let write = !request.method().is_safe() && !login;
    let response = next.run(request).await;
    if write && !response.status().is_client_error() {
        state.summaries.clear();
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Read;

    use attendance_core::report::DailySummary;
    use tokio::sync::broadcast;

    use super::*;

    fn key(day: u32, scope: ScopeKey) -> SummaryKey {
        SummaryKey {
            date: NaiveDate::from_ymd_opt(2026, 1, day).unwrap(),
            scope,
            department: None,
        }
    }

    fn body(text: &str) -> Arc<CachedBody> {
        Arc::new(CachedBody::compressed(text.as_bytes().to_vec()).unwrap())
    }

    fn cache(limits: CacheLimits) -> (broadcast::Sender<Published>, SummaryCache) {
        let (tx, rx) = broadcast::channel(4);
        (tx, SummaryCache::new(rx, limits))
    }

    #[test]
    fn an_answer_is_kept_per_key_and_only_for_its_key() {
        let (_tx, cache) = cache(CacheLimits::default());
        let all = key(2, ScopeKey::All);
        let sewing = key(
            2,
            ScopeKey::Department(Department::parse("Sewing").unwrap()),
        );
        let since = cache.lookup(&all).unwrap_err();
        assert!(cache.insert(all.clone(), since, body("[1]")));
        assert_eq!(cache.lookup(&all).unwrap().json, Bytes::from_static(b"[1]"));
        assert!(cache.lookup(&sewing).is_err());
        assert!(cache.lookup(&key(3, ScopeKey::All)).is_err());
    }

    #[test]
    fn an_event_drops_its_date_and_an_answer_computed_across_it() {
        let (tx, cache) = cache(CacheLimits::default());
        let (two, three) = (key(2, ScopeKey::All), key(3, ScopeKey::All));
        let since = cache.lookup(&two).unwrap_err();
        cache.insert(two.clone(), since, body("[2]"));
        cache.insert(three.clone(), since, body("[3]"));
        // An answer of the 2nd computing while the 2nd changes is not kept.
        let in_flight = cache
            .lookup(&key(2, ScopeKey::Employee(code())))
            .unwrap_err();
        let mut summary = sample_summary();
        summary.date = two.date;
        tx.send(Published::new(
            EngineEvent::AttendanceUpdated(Box::new(summary)),
            None,
        ))
        .unwrap();
        assert!(cache.lookup(&two).is_err());
        assert!(cache.lookup(&three).is_ok());
        assert!(!cache.insert(key(2, ScopeKey::Employee(code())), in_flight, body("[]")));
        // One computed after the change is.
        let since = cache.lookup(&two).unwrap_err();
        assert!(cache.insert(two.clone(), since, body("[2']")));
        assert!(cache.lookup(&two).is_ok());
    }

    #[test]
    fn a_lagged_subscription_or_a_clear_drops_everything() {
        let (tx, cache) = cache(CacheLimits::default());
        let two = key(2, ScopeKey::All);
        let since = cache.lookup(&two).unwrap_err();
        cache.insert(two.clone(), since, body("[2]"));
        for _ in 0..10 {
            tx.send(Published::new(
                EngineEvent::AttendanceUpdated(Box::new(sample_summary())),
                None,
            ))
            .unwrap();
        }
        assert!(cache.lookup(&two).is_err());
        let since = cache.lookup(&two).unwrap_err();
        cache.insert(two.clone(), since, body("[2]"));
        let in_flight = cache.lookup(&key(4, ScopeKey::All)).unwrap_err();
        cache.clear();
        assert!(cache.lookup(&two).is_err());
        assert!(!cache.insert(key(4, ScopeKey::All), in_flight, body("[4]")));
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let one = body("[1]").size();
        let (_tx, cache) = cache(CacheLimits {
            max_entries: 3,
            max_bytes: one * 2,
            ttl: Duration::from_secs(60),
        });
        for day in 1..=10 {
            let k = key(day, ScopeKey::All);
            let since = cache.lookup(&k).unwrap_err();
            assert!(cache.insert(k, since, body("[1]")));
            let (n, bytes) = cache.usage();
            assert!(n <= 2 && bytes <= one * 2, "{n} {bytes}");
        }
        // The newest stays.
        assert!(cache.lookup(&key(10, ScopeKey::All)).is_ok());
        assert!(cache.lookup(&key(1, ScopeKey::All)).is_err());
        let (_tx, expiring) = self::cache(CacheLimits {
            ttl: Duration::ZERO,
            ..CacheLimits::default()
        });
        let k = key(1, ScopeKey::All);
        expiring.insert(k.clone(), 0, body("[1]"));
        assert!(expiring.lookup(&k).is_err());
    }

    #[test]
    fn answers_gzip_when_accepted_and_304_to_its_tag() {
        let text = "[{\"a\":1}]".repeat(100);
        let cached = CachedBody::compressed(text.clone().into_bytes()).unwrap();
        let mut headers = HeaderMap::new();
        let plain = cached.respond(&headers);
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(plain.headers().get(CONTENT_ENCODING).is_none());
        let tag = plain.headers()[ETAG].clone();
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("br;q=1, gzip;q=0.5"),
        );
        let zipped = cached.respond(&headers);
        assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(zipped.headers()[VARY], "accept-encoding");
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&cached.gzip.as_ref().unwrap()[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, text);
        headers.insert(IF_NONE_MATCH, tag);
        assert_eq!(cached.respond(&headers).status(), StatusCode::NOT_MODIFIED);
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(cached.respond(&headers).status(), StatusCode::OK);
        let mut refused = HeaderMap::new();
        refused.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        assert!(!accepts_gzip(&refused));
    }

    fn code() -> EmployeeCode {
        sample_summary().employee_id
    }

    fn sample_summary() -> DailySummary {
        use attendance_core::employee::{Employee, NewEmployee};
        let employee = Employee::parse(&NewEmployee {
            employee_id: "EMP001".into(),
            employee_name: "Worker".into(),
            department: "Sewing".into(),
            designation: "Operator".into(),
            level_of_work: "Worker".into(),
            ..NewEmployee::default()
        })
        .unwrap();
        let record = attendance_core::daily::DailyRecord {
            employee_id: employee.employee_id.clone(),
            date: NaiveDate::from_ymd_opt(2026, 1, 9).unwrap(),
            shift: attendance_core::shift::ShiftId::parse("GENERAL").unwrap(),
            status: attendance_core::status::AttendanceStatus::Absent,
            check_in: None,
            check_out: None,
            working_seconds: 0,
            overtime_seconds: 0,
            extra_overtime_seconds: 0,
            late_minutes: 0,
            scans: Vec::new(),
            missing_checkout: false,
            worked_on_holiday: false,
            worked_on_weekend: false,
            snacks_eligible: false,
            night_bill_eligible: false,
            holiday_name: None,
            half_day_leave: false,
            window_closed: true,
        };
        DailySummary::new(&employee, &record, chrono_tz::UTC)
    }
}
