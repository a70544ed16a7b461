//! Data out: a key's request log (`GET /api/v1/admin/keys/{id}/requests`), and CSV exports of
//! the key list (`keys.csv`, the list's filters) and of a key's log (`requests.csv`). The CSV
//! bodies are streamed a page at a time, so an export of any size holds one page in memory.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::{self, Stream};
use serde::Serialize;

use super::access::{get, Access, RouteSpec};
use super::admin_api::{parse_key_id, selected_keys};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::QueryPairs;
use super::list_params::{ListParams, PageSizes};
use super::views::time;
use super::AppState;
use crate::domain::audit::is_entry_id;
use crate::domain::key::KeySnapshot;
use crate::domain::listing::ListQuery;
use crate::domain::money::NanoUsd;
use crate::domain::request_log::{RequestLogEntry, RequestLogPage, RequestLogQuery, MAX_PAGE};
use crate::domain::role::AdminRole;
use crate::domain::timezone::Zone;
use crate::service::{KeyService, ServiceError};

/// The OpenAPI declarations of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(route_get_keys_csv, route_get_requests, route_get_requests_csv))]
pub(super) struct Doc;

/// Exports are reads: the viewer role may take them, like the list and the log they copy.
pub fn routes() -> Vec<RouteSpec> {
    const READ: Access = Access::Api(AdminRole::Viewer);
    vec![
        get("/api/v1/admin/keys.csv", READ, route_get_keys_csv),
        get("/api/v1/admin/keys/{id}/requests", READ, route_get_requests),
        get(
            "/api/v1/admin/keys/{id}/requests.csv",
            READ,
            route_get_requests_csv,
        ),
    ]
}

/// Entries a log page holds when the query names no `limit`.
const DEFAULT_LOG_PAGE: u64 = 50;
/// Keys (or log entries) one chunk of a CSV body holds.
const CSV_PAGE: u64 = 500;

/// `limit` and `before` of a log read; a `before` that no page handed out is refused before
/// it reaches Redis.
pub fn parse_log_query(query: &QueryPairs) -> ApiResult<RequestLogQuery> {
    query.only(&["limit", "before"])?;
    let limit = query.number("limit", DEFAULT_LOG_PAGE, 1, MAX_PAGE as u64)? as usize;
    let before = query.get("before").filter(|b| !b.is_empty());
    if before.is_some_and(|b| !is_entry_id(b)) {
        return Err(ApiError::invalid(
            "before",
            "must be the next value of an earlier page",
        ));
    }
    Ok(RequestLogQuery {
        limit,
        before: before.map(str::to_string),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RequestLogEntry)]
struct RequestJson<'a> {
    /// The entry's place in the log (a `before` value).
    id: &'a str,
    /// When the usage was recorded.
    #[schema(format = DateTime)]
    at: String,
    model: &'a str,
    priced_as: &'a str,
    account_id: Option<&'a str>,
    input_tokens: u64,
    output_tokens: u64,
    cache_create_tokens: u64,
    cache_read_tokens: u64,
    /// USD, like every cost of the API; `costNanoUsd` is the exact amount.
    cost: f64,
    cost_nano_usd: i64,
}

fn request_json(entry: &RequestLogEntry) -> RequestJson<'_> {
    RequestJson {
        id: &entry.id,
        at: time(entry.at),
        model: &entry.model,
        priced_as: &entry.priced_as,
        account_id: entry.account_id.as_deref(),
        input_tokens: entry.input_tokens,
        output_tokens: entry.output_tokens,
        cache_create_tokens: entry.cache_create_tokens,
        cache_read_tokens: entry.cache_read_tokens,
        cost: entry.cost.as_usd_f64(),
        cost_nano_usd: entry.cost.nanos(),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = RequestLogPage)]
struct RequestsBody<'a> {
    requests: Vec<RequestJson<'a>>,
    /// Pass as `before` for the next, older page; null on the last page.
    next: Option<&'a str>,
}

/// A key's request log, newest first
///
/// Every usage record of the key (the newest `request_log_per_key`), paged by cursor.
#[utoipa::path(
    get,
    path = "/api/v1/admin/keys/{id}/requests",
    operation_id = "getKeyRequests",
    tag = "data",
    params(
        ("id" = String, Path, description = "Key id"),
        ("limit" = Option<u64>, Query, description = "Entries per page (default 50)", minimum = 1, maximum = 1000),
        ("before" = Option<String>, Query, description = "The `next` value of an earlier page"),
    ),
    responses(
        (status = 200, description = "A page of the log", body = RequestsBody),
        (status = 400, description = "A bad `limit` or `before`", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_get_requests(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryPairs,
) -> ApiResult<Response> {
    let id = parse_key_id(&id)?;
    let query = parse_log_query(&query)?;
    let page = state
        .keys
        .request_log(id, &query)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let body = RequestsBody {
        requests: page.entries.iter().map(request_json).collect(),
        next: page.next.as_deref(),
    };
    Ok(Json(&body).into_response())
}

/// A cell a spreadsheet will not run as a formula: text starting with `=`, `+`, `-` or `@`
/// (the contract's list), or with a tab or carriage return (OWASP's additions), gets a leading
/// `'`, which spreadsheets show as text and do not evaluate.
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// Rows written as CSV: the header once, then every row's cells through [`safe_cell`].
struct CsvChunk {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvChunk {
    fn new() -> CsvChunk {
        CsvChunk {
            writer: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::new()),
        }
    }

    /// The first chunk: a UTF-8 byte order mark (so spreadsheets read the file as UTF-8, which
    /// they otherwise guess wrong) and the header row.
    fn first(header: &[&str]) -> CsvChunk {
        let mut chunk = CsvChunk {
            writer: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer("\u{feff}".as_bytes().to_vec()),
        };
        chunk.row(header.iter().map(|h| h.to_string()));
        chunk
    }

    fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let cells: Vec<String> = cells
            .into_iter()
            .map(|cell| safe_cell(&cell).into_owned())
            .collect();
        // Writing to a Vec cannot fail.
        let _ = self.writer.write_record(&cells);
    }

    fn bytes(self) -> Bytes {
        Bytes::from(self.writer.into_inner().unwrap_or_default())
    }
}

/// A CSV download: the first chunk is ready (so an outage before it is a plain `503`), the
/// rest streams; a failure mid-way ends the body early (the transfer is then incomplete, so
/// no client takes it for the whole file) and is logged.
fn csv_response<S>(filename: String, first: Bytes, rest: S) -> Response
where
    S: Stream<Item = Result<Bytes, ServiceError>> + Send + 'static,
{
    use futures::StreamExt;
    let body = stream::once(async move { Ok::<Bytes, ServiceError>(first) })
        .chain(rest)
        .map(|chunk| {
            chunk.map_err(|error| {
                tracing::error!(%error, "a CSV export stopped part way");
                std::io::Error::other("the export stopped part way")
            })
        });
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// A time in the configured zone with its offset (RFC 3339, to the millisecond), so a
/// spreadsheet shows local times that stay unambiguous.
fn local_time(t: DateTime<Utc>, zone: Zone) -> String {
    match zone {
        Zone::Named(tz) => t
            .with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        Zone::Fixed(offset) => t
            .with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

fn optional_local_time(t: Option<DateTime<Utc>>, zone: Zone) -> String {
    t.map(|t| local_time(t, zone)).unwrap_or_default()
}

/// Exact USD (`0.0372`, `1.50`): the nano-USD amount as a decimal, no float.
fn usd_cell(amount: NanoUsd) -> String {
    amount.to_string()
}

const REQUEST_COLUMNS: [&str; 9] = [
    "at",
    "model",
    "pricedAs",
    "accountId",
    "inputTokens",
    "outputTokens",
    "cacheCreateTokens",
    "cacheReadTokens",
    "cost",
];

fn request_row(entry: &RequestLogEntry, zone: Zone) -> Vec<String> {
    vec![
        local_time(entry.at, zone),
        entry.model.clone(),
        entry.priced_as.clone(),
        entry.account_id.clone().unwrap_or_default(),
        entry.input_tokens.to_string(),
        entry.output_tokens.to_string(),
        entry.cache_create_tokens.to_string(),
        entry.cache_read_tokens.to_string(),
        usd_cell(entry.cost),
    ]
}

fn request_chunk(mut chunk: CsvChunk, page: &RequestLogPage, zone: Zone) -> Bytes {
    for entry in &page.entries {
        chunk.row(request_row(entry, zone));
    }
    chunk.bytes()
}

/// A key's request log as CSV
///
/// The whole log, newest first, with a header row; cells that a spreadsheet would run as a
/// formula get a leading `'`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/keys/{id}/requests.csv",
    operation_id = "getKeyRequestsCsv",
    tag = "data",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "UTF-8 CSV with a header row", content_type = "text/csv", body = String),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_get_requests_csv(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryPairs,
) -> ApiResult<Response> {
    query.only(&[])?;
    let id = parse_key_id(&id)?;
    let zone = state.keys.zone();
    let page_query = |before: Option<String>| RequestLogQuery {
        limit: CSV_PAGE as usize,
        before,
    };
    let first = state
        .keys
        .request_log(id, &page_query(None))
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let first_chunk = request_chunk(CsvChunk::first(&REQUEST_COLUMNS), &first, zone);
    let keys = state.keys.clone();
    let rest = stream::try_unfold(first.next, move |before| {
        let keys = keys.clone();
        async move {
            let Some(before) = before else {
                return Ok(None);
            };
            // A key erased mid-export ends it where the log ended.
            let page = keys
                .request_log(id, &page_query(Some(before)))
                .await?
                .unwrap_or_default();
            let chunk = request_chunk(CsvChunk::new(), &page, zone);
            Ok(Some((chunk, page.next)))
        }
    });
    Ok(csv_response(
        export_name(&format!("key-{id}-requests")),
        first_chunk,
        rest,
    ))
}

/// `keys-2026-11-27.csv`.
fn export_name(what: &str) -> String {
    format!("{what}-{}.csv", Utc::now().format("%Y-%m-%d"))
}

/// Every column the key list shows, under the admin API's field names.
const KEY_COLUMNS: [&str; 41] = [
    "id",
    "name",
    "keyHint",
    "description",
    "tags",
    "status",
    "limitedBy",
    "permissions",
    "claudeAccountId",
    "claudeConsoleAccountId",
    "geminiAccountId",
    "openaiAccountId",
    "bedrockAccountId",
    "azureOpenaiAccountId",
    "droidAccountId",
    "currentConcurrency",
    "concurrencyLimit",
    "rateLimitWindow",
    "currentWindowRequests",
    "rateLimitRequests",
    "currentWindowTokens",
    "tokenLimit",
    "windowRemainingSeconds",
    "dailyCost",
    "dailyCostLimit",
    "weeklyCost",
    "weeklyCostLimit",
    "monthlyCost",
    "monthlyCostLimit",
    "totalCost",
    "totalCostLimit",
    "currentWindowCost",
    "rateLimitCost",
    "totalRequests",
    "totalTokens",
    "lastUsedAt",
    "expiresAt",
    "createdAt",
    "createdBy",
    "deletedAt",
    "deletedBy",
];

fn key_row(snapshot: &KeySnapshot, now: DateTime<Utc>, zone: Zone) -> Vec<String> {
    let key = &snapshot.key;
    let budgets = &key.budgets;
    let window = snapshot.window.as_ref();
    let mut row = vec![
        key.id.to_string(),
        key.name.clone(),
        key.key_hint.clone(),
        key.description.clone(),
        key.tags.join("; "),
        key.status(now).as_str().to_string(),
        snapshot
            .limited_by(now)
            .map(|r| r.code().to_string())
            .unwrap_or_default(),
        key.permissions.as_text(),
    ];
    row.extend(key.accounts.iter().map(|a| a.clone().unwrap_or_default()));
    row.extend([
        snapshot.current_concurrency.to_string(),
        key.concurrency_limit.to_string(),
        key.rate_limit_window_minutes.to_string(),
        window.map_or(0, |w| w.requests).to_string(),
        key.rate_limit_requests.to_string(),
        window.map_or(0, |w| w.tokens).to_string(),
        key.token_limit.to_string(),
        window
            .and_then(|w| crate::domain::window::remaining_secs(w.end_ms, now.timestamp_millis()))
            .map(|s| s.to_string())
            .unwrap_or_default(),
        usd_cell(snapshot.daily.cost),
        usd_cell(key.daily_cost_limit),
        usd_cell(snapshot.weekly_cost),
        usd_cell(budgets.weekly_cost_limit),
        usd_cell(snapshot.monthly.cost),
        usd_cell(budgets.monthly_cost_limit),
        usd_cell(snapshot.total.cost),
        usd_cell(budgets.total_cost_limit),
        usd_cell(snapshot.window_cost),
        usd_cell(budgets.window_cost_limit),
        snapshot.total.requests.to_string(),
        snapshot.total.all_tokens.to_string(),
        optional_local_time(key.last_used_at, zone),
        optional_local_time(key.expires_at, zone),
        local_time(key.created_at, zone),
        key.created_by.clone(),
        optional_local_time(key.deleted_at, zone),
        key.deleted_by.clone().unwrap_or_default(),
    ]);
    row
}

fn key_chunk(mut chunk: CsvChunk, keys: &[KeySnapshot], zone: Zone) -> Bytes {
    let now = Utc::now();
    for snapshot in keys {
        chunk.row(key_row(snapshot, now, zone));
    }
    chunk.bytes()
}

/// Where a keys export stands: the next offset, and the total the first page reported.
struct KeyExport {
    query: ListQuery,
    total: u64,
}

/// Every key the list's filters select, as CSV
///
/// All pages, streamed one list page per chunk (`page` and `perPage` are checked but the export
/// has every page); columns named like the key's JSON fields; cells that a spreadsheet would run
/// as a formula get a leading `'`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/keys.csv",
    operation_id = "exportKeysCsv",
    tag = "data",
    params(
        ("q" = Option<String>, Query, description = "Name search (case-insensitive substring)"),
        ("secret" = Option<String>, Query, description = "A whole key secret: exports the key it belongs to"),
        ("tag" = Option<String>, Query, description = "Only keys with this tag"),
        ("status" = Option<String>, Query, description = "`active`, `disabled`, `expired` or `deleted`"),
        ("sort" = Option<String>, Query, description = "`createdAt` (default), `name`, `lastUsedAt` or `dailyCost`"),
        ("order" = Option<String>, Query, description = "`asc` or `desc`"),
    ),
    responses(
        (status = 200, description = "UTF-8 CSV with a header row", content_type = "text/csv", body = String),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
    )
)]
async fn route_get_keys_csv(
    State(state): State<AppState>,
    query: QueryPairs,
) -> ApiResult<Response> {
    let list = ListParams::parse(
        &query,
        PageSizes::UpTo {
            default: CSV_PAGE,
            max: 1000,
        },
    )?;
    let zone = state.keys.zone();
    let mut page_query = ListQuery {
        offset: 0,
        count: CSV_PAGE,
        ..list.query
    };
    let (total, first) = selected_keys(&state, &query, &page_query).await?;
    let first_chunk = key_chunk(CsvChunk::first(&KEY_COLUMNS), &first, zone);
    page_query.offset = first.len() as u64;
    // A full first page may have more after it; a short one (or a search by secret) is all.
    let more = first.len() as u64 == CSV_PAGE && query.get("secret").is_none();
    let start = (more && page_query.offset < total).then_some(KeyExport {
        query: page_query,
        total,
    });
    let keys = state.keys.clone();
    let rest = stream::try_unfold(start, move |export| {
        let keys = keys.clone();
        async move {
            let Some(mut export) = export else {
                return Ok(None);
            };
            let (_, page) = list_page_retrying(&keys, &export.query).await?;
            let chunk = key_chunk(CsvChunk::new(), &page, zone);
            export.query.offset += page.len() as u64;
            let more = page.len() as u64 == CSV_PAGE && export.query.offset < export.total;
            Ok(Some((chunk, more.then_some(export))))
        }
    });
    Ok(csv_response(export_name("keys"), first_chunk, rest))
}

/// One page of a running export. The headers are sent by then, so a failure can only cut the
/// file short: a page that fails (a Redis timeout on a loaded machine, a failover) is asked
/// again a few times before the export gives up.
async fn list_page_retrying(
    keys: &KeyService,
    query: &ListQuery,
) -> Result<(u64, Vec<KeySnapshot>), ServiceError> {
    const ATTEMPTS: u32 = 3;
    let mut attempt = 1;
    loop {
        match keys.list(query).await {
            Ok(page) => return Ok(page),
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(attempt, error = %error, "a page of a key export failed; asking again");
                tokio::time::sleep(std::time::Duration::from_millis(250 * u64::from(attempt)))
                    .await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_prefixed_and_others_kept() {
        for risky in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(safe_cell(risky), format!("'{risky}"));
        }
        for plain in ["", "name", "1.50", "a=b", "'quoted"] {
            assert_eq!(safe_cell(plain), plain);
        }
    }

    #[test]
    fn a_chunk_is_csv_with_one_header_and_a_byte_order_mark() {
        let mut chunk = CsvChunk::first(&["a", "b"]);
        chunk.row(["=x".to_string(), "he said \"hi\", twice".to_string()]);
        let text = String::from_utf8(chunk.bytes().to_vec()).expect("utf-8");
        assert_eq!(text, "\u{feff}a,b\n'=x,\"he said \"\"hi\"\", twice\"\n");
    }
}
