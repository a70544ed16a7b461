//! Reads of a key's request log (a capped stream written by `record_usage.lua`) and of today's
//! hourly counters.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};

use super::names::KeyNames;
use super::{Store, StoreError, StoreResult};
use crate::domain::ids::KeyId;
use crate::domain::money::NanoUsd;
use crate::domain::request_log::{HourlyUsage, RequestLogEntry, RequestLogPage, RequestLogQuery};

const FROM: &str = "the request log";

/// Stream entries as `XREVRANGE` returns them: id, then field → value.
type RawEntries = Vec<(String, HashMap<String, String>)>;

impl Store {
    /// A page of a key's log, newest first; `None` for an unknown key. One entry more than the
    /// page is read, so `next` is set exactly when older entries exist.
    pub async fn request_log(
        &self,
        id: KeyId,
        query: &RequestLogQuery,
    ) -> StoreResult<Option<RequestLogPage>> {
        let key = KeyNames::new(id);
        let end = match &query.before {
            Some(before) => format!("({before}"),
            None => "+".to_string(),
        };
        let mut pipe = redis::pipe();
        pipe.exists(key.record());
        pipe.cmd("XREVRANGE")
            .arg(key.request_log())
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(query.limit + 1);
        let mut conn = self.conn();
        let (exists, mut raw): (bool, RawEntries) = self
            .bounded(async move { pipe.query_async(&mut conn).await })
            .await?;
        if !exists {
            return Ok(None);
        }
        let more = raw.len() > query.limit;
        raw.truncate(query.limit);
        let entries = raw
            .into_iter()
            .map(|(id, fields)| decode_entry(id, fields))
            .collect::<StoreResult<Vec<_>>>()?;
        let next = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
        Ok(Some(RequestLogPage { entries, next }))
    }

    /// A key's usage per hour of `today` (all zeros without usage).
    pub async fn usage_hours(&self, id: KeyId, today: NaiveDate) -> StoreResult<HourlyUsage> {
        let name = KeyNames::new(id).usage_hours(today);
        let mut conn = self.conn();
        let fields: HashMap<String, String> = self
            .bounded(async move { redis::cmd("HGETALL").arg(name).query_async(&mut conn).await })
            .await?;
        let mut hours = HourlyUsage::default();
        for (field, value) in &fields {
            let parsed = field
                .split_once(':')
                .and_then(|(hour, what)| Some((hour.parse::<usize>().ok()?, what)))
                .filter(|(hour, _)| *hour < 24);
            let (Some((hour, what)), Ok(amount)) = (parsed, value.parse::<i64>()) else {
                return Err(StoreError::unexpected(
                    "the hourly usage",
                    format!("the field `{field}`"),
                ));
            };
            let bucket = &mut hours[hour];
            match what {
                "r" => bucket.requests = amount.max(0) as u64,
                "t" => bucket.tokens = amount.max(0) as u64,
                "c" => bucket.cost = NanoUsd::from_nanos(amount),
                _ => {}
            }
        }
        Ok(hours)
    }
}

/// An entry's time: its id's, unless the script had to give it a later id (field `t`).
fn decode_entry(id: String, fields: HashMap<String, String>) -> StoreResult<RequestLogEntry> {
    let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let number = |name: &str| -> StoreResult<u64> {
        let value = text(name);
        value
            .parse()
            .map_err(|_| StoreError::unexpected(FROM, format!("the {name} value `{value}`")))
    };
    let at_ms = match fields.get("t") {
        Some(t) => t.parse::<i64>().ok(),
        None => id
            .split_once('-')
            .and_then(|(ms, _)| ms.parse::<i64>().ok()),
    };
    let at = at_ms
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| StoreError::unexpected(FROM, format!("the entry `{id}` has no time")))?;
    let model = text("m");
    let priced_as = match text("p") {
        same if same.is_empty() => model.clone(),
        other => other,
    };
    let cost = text("c")
        .parse()
        .map(NanoUsd::from_nanos)
        .map_err(|_| StoreError::unexpected(FROM, "a cost that is not a whole number"))?;
    Ok(RequestLogEntry {
        at,
        model,
        priced_as,
        account_id: Some(text("a")).filter(|a| !a.is_empty()),
        input_tokens: number("i")?,
        output_tokens: number("o")?,
        cache_create_tokens: number("w")?,
        cache_read_tokens: number("r")?,
        cost,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_entry_takes_its_time_from_its_id_or_its_t_field() {
        let base = [
            ("m", "claude-x"),
            ("p", ""),
            ("a", ""),
            ("i", "1"),
            ("o", "2"),
            ("w", "3"),
            ("r", "4"),
            ("c", "5"),
        ];
        let entry = decode_entry("1700000000123-0".into(), fields(&base)).expect("decodes");
        assert_eq!(entry.at.timestamp_millis(), 1_700_000_000_123);
        assert_eq!(entry.priced_as, "claude-x");
        assert_eq!(entry.account_id, None);
        assert_eq!(entry.cost, NanoUsd::from_nanos(5));
        let mut late = fields(&base);
        late.insert("t".into(), "1699999999000".into());
        let entry = decode_entry("1700000000123-1".into(), late).expect("decodes");
        assert_eq!(entry.at.timestamp_millis(), 1_699_999_999_000);
        let mut broken = fields(&base);
        broken.insert("i".into(), "x".into());
        assert!(decode_entry("1-0".into(), broken).is_err());
    }
}
