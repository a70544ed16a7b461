//! The read-only connection to a CRS Redis and the pass that reads every key and its usage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult, Value};
use serde::Serialize;

use super::fields::parse_key;
use super::names::{self, DateHour, Name, UsageName};
use super::usage::UsageReader;
use super::{CrsKey, CrsUsage};

/// Names per `SCAN`/`HSCAN` step: large enough to be quick offline, small enough that each
/// step stays short on a Redis that is still serving CRS.
const SCAN_COUNT: usize = 1000;
/// Commands per pipelined round trip.
const PIPELINE_COMMANDS: usize = 1000;
/// Keys whose usage is read together (their answers are held until parsed).
const KEYS_PER_USAGE_READ: usize = 100;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One pipelined round trip of up to [`PIPELINE_COMMANDS`] reads.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// CRS's `TIMEZONE_OFFSET` is whole hours; these are the offsets in use on Earth.
const OFFSET_HOURS: std::ops::RangeInclusive<i32> = -12..=14;

#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("--from: {0}")]
    Url(String),
    #[error("cannot connect to the claude-relay-service Redis at {source_name}: {error}")]
    Connect {
        source_name: String,
        error: redis::RedisError,
    },
    #[error("reading the claude-relay-service Redis at {source_name} failed: {error}")]
    Read {
        source_name: String,
        error: redis::RedisError,
    },
    #[error(
        "{source_name} is not a claude-relay-service Redis: it has no `apikey:hash_map` hash and \
         no `apikey:<id>` hash with an `apiKey` field. Check the host, the port and the database \
         number (claude-relay-service's REDIS_DB; give it as redis://host:port/N)."
    )]
    NotCrs { source_name: String },
}

/// A connection that can only read: it has a method for each read this importer needs and
/// no way to send anything else.
pub struct CrsSource {
    connection: MultiplexedConnection,
    /// Host, port and database, never the password.
    name: String,
}

/// What the key hashes and the usage records say about CRS's `TIMEZONE_OFFSET`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimezoneEvidence {
    /// Keys whose newest usage record falls in an hour CRS still keeps an hourly counter for.
    pub records_checked: usize,
    /// Offsets (hours east of UTC) that put every checked record into an hour that has a
    /// counter; one offset when the evidence is conclusive, none when there was nothing to check.
    pub consistent_offsets_hours: Vec<i32>,
}

/// Everything read from a CRS Redis.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsSnapshot {
    pub source: String,
    pub keys: Vec<(CrsKey, CrsUsage)>,
    /// Entries of `apikey:hash_map`.
    pub hash_map_entries: usize,
    /// `apikey_hash:<hash>` lookups (the older layout).
    pub legacy_hash_entries: usize,
    /// Lookup entries naming a key that has no hash.
    pub dangling_lookups: usize,
    /// Ids with usage counters but no key hash (keys erased for good keep `usage:<id>`).
    pub orphan_usage_ids: Vec<String>,
    /// `apikey:<x>` names that hold something other than a hash.
    pub not_hashes: Vec<String>,
    pub timezone: TimezoneEvidence,
    pub names_scanned: u64,
}

/// Names found by the scan, sorted by what they belong to.
#[derive(Default)]
struct Inventory {
    key_ids: BTreeSet<String>,
    has_hash_map: bool,
    legacy_hashes: Vec<String>,
    usage: HashMap<String, Vec<(String, UsageName)>>,
    names_scanned: u64,
}

/// One pipelined read.
enum Read {
    HashAll(String),
    Get(String),
    Newest(String),
    HashField(String, &'static str),
}

impl CrsSource {
    /// Connects to one Redis node. CRS (ioredis, one client) runs on a single node, so cluster
    /// URLs are refused rather than half-read.
    pub async fn connect(url: &str) -> Result<CrsSource, CrsError> {
        if url.contains(',') || url.starts_with("redis+cluster://") {
            return Err(CrsError::Url(
                "claude-relay-service uses a single Redis node: give that node's redis:// URL"
                    .into(),
            ));
        }
        // The parser's message is not shown: it could echo the URL, password included.
        let client = redis::Client::open(url)
            .map_err(|_| CrsError::Url("not a redis:// or rediss:// URL".into()))?;
        let info = client.get_connection_info();
        let name = format!("{} (database {})", info.addr(), info.redis_settings().db());
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|error| CrsError::Connect {
                source_name: name.clone(),
                error,
            })?;
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(|error| CrsError::Connect {
                source_name: name.clone(),
                error,
            })?;
        Ok(CrsSource { connection, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn read_error(&self, error: redis::RedisError) -> CrsError {
        CrsError::Read {
            source_name: self.name.clone(),
            error,
        }
    }

    /// One `SCAN` step: the next cursor and the names.
    async fn scan_step(&mut self, cursor: u64) -> Result<(u64, Vec<String>), CrsError> {
        redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut self.connection)
            .await
            .map_err(|e| self.read_error(e))
    }

    /// One `HSCAN` step over `name`: the next cursor and field/value pairs.
    async fn hscan_step(
        &mut self,
        name: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<(String, String)>), CrsError> {
        redis::cmd("HSCAN")
            .arg(name)
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut self.connection)
            .await
            .map_err(|e| self.read_error(e))
    }

    async fn type_of(&mut self, name: &str) -> Result<String, CrsError> {
        redis::cmd("TYPE")
            .arg(name)
            .query_async(&mut self.connection)
            .await
            .map_err(|e| self.read_error(e))
    }

    /// Pipelined reads; each answer on its own, so one value of an unexpected type fails alone.
    async fn read_many(&mut self, reads: &[Read]) -> Result<Vec<RedisResult<Value>>, CrsError> {
        let mut answers = Vec::with_capacity(reads.len());
        for chunk in reads.chunks(PIPELINE_COMMANDS) {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for read in chunk {
                match read {
                    Read::HashAll(name) => pipe.cmd("HGETALL").arg(name),
                    Read::Get(name) => pipe.cmd("GET").arg(name),
                    Read::Newest(name) => pipe.cmd("LINDEX").arg(name).arg(0),
                    Read::HashField(name, field) => pipe.cmd("HGET").arg(name).arg(*field),
                };
            }
            let chunk_answers: Vec<RedisResult<Value>> = pipe
                .query_async(&mut self.connection)
                .await
                .map_err(|e| self.read_error(e))?;
            answers.extend(chunk_answers);
        }
        Ok(answers)
    }

    /// Sorts every name in the database (one pass of `SCAN`).
    async fn inventory(&mut self) -> Result<Inventory, CrsError> {
        let mut inventory = Inventory::default();
        let mut cursor = 0;
        loop {
            let (next, batch) = self.scan_step(cursor).await?;
            // SCAN may return a name twice; the sets and the dedup below absorb it.
            for name in batch {
                inventory.names_scanned += 1;
                match names::parse(&name) {
                    Some(Name::Key { id }) => {
                        inventory.key_ids.insert(id);
                    }
                    Some(Name::HashMap) => inventory.has_hash_map = true,
                    Some(Name::LegacyHash { hash }) => inventory.legacy_hashes.push(hash),
                    Some(Name::Usage { id, kind }) => {
                        inventory.usage.entry(id).or_default().push((name, kind));
                    }
                    None => {}
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        inventory.legacy_hashes.sort();
        inventory.legacy_hashes.dedup();
        for names in inventory.usage.values_mut() {
            names.sort_by(|a, b| a.0.cmp(&b.0));
            names.dedup_by(|a, b| a.0 == b.0);
        }
        Ok(inventory)
    }

    /// `apikey:hash_map` (secret hash → id), read in `HSCAN` steps.
    async fn hash_map(&mut self) -> Result<HashMap<String, String>, CrsError> {
        let mut entries = HashMap::new();
        let mut cursor = 0;
        loop {
            let (next, pairs) = self.hscan_step(names::HASH_MAP, cursor).await?;
            entries.extend(pairs);
            if next == 0 {
                return Ok(entries);
            }
            cursor = next;
        }
    }

    /// Reads every key and its usage. Refuses a Redis without CRS's key layout.
    pub async fn read_all(&mut self) -> Result<CrsSnapshot, CrsError> {
        let inventory = self.inventory().await?;
        let has_hash_map = inventory.has_hash_map && self.type_of(names::HASH_MAP).await? == "hash";
        if !has_hash_map && inventory.key_ids.is_empty() {
            return Err(CrsError::NotCrs {
                source_name: self.name.clone(),
            });
        }

        let hash_map = if has_hash_map {
            self.hash_map().await?
        } else {
            HashMap::new()
        };
        let legacy_reads: Vec<Read> = inventory
            .legacy_hashes
            .iter()
            .map(|hash| Read::HashField(names::legacy_hash(hash), "id"))
            .collect();
        let legacy_answers = self.read_many(&legacy_reads).await?;
        let legacy: HashMap<String, String> = inventory
            .legacy_hashes
            .iter()
            .zip(legacy_answers)
            .filter_map(|(hash, answer)| {
                let id: Option<String> = answer.ok().and_then(|v| redis::from_redis_value(v).ok());
                id.map(|id| (hash.clone(), id))
            })
            .collect();

        let ids: Vec<&String> = inventory.key_ids.iter().collect();
        let key_reads: Vec<Read> = ids.iter().map(|id| Read::HashAll(names::key(id))).collect();
        let key_answers = self.read_many(&key_reads).await?;
        let mut keys = Vec::new();
        let mut not_hashes = Vec::new();
        let mut any_crs_key = false;
        for (id, answer) in ids.iter().zip(key_answers) {
            let hash: HashMap<String, String> = match answer.and_then(|v| {
                redis::from_redis_value::<HashMap<String, String>>(v).map_err(Into::into)
            }) {
                Ok(hash) if !hash.is_empty() => hash,
                // Gone since the scan (expired or erased).
                Ok(_) => continue,
                Err(_) => {
                    not_hashes.push(names::key(id));
                    continue;
                }
            };
            any_crs_key |= hash.contains_key("apiKey");
            let hashed = hash.get("apiKey").cloned().unwrap_or_default();
            let in_hash_map = !hashed.is_empty()
                && (hash_map.get(&hashed) == Some(*id) || legacy.get(&hashed) == Some(*id));
            keys.push(parse_key(id, &hash, in_hash_map));
        }
        if !has_hash_map && !any_crs_key {
            return Err(CrsError::NotCrs {
                source_name: self.name.clone(),
            });
        }

        let mut with_usage = Vec::with_capacity(keys.len());
        let no_names = Vec::new();
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            let batch: Vec<CrsKey> = keys.by_ref().take(KEYS_PER_USAGE_READ).collect();
            let names: Vec<&[(String, UsageName)]> = batch
                .iter()
                .map(|key| inventory.usage.get(&key.id).unwrap_or(&no_names).as_slice())
                .collect();
            let usages = self.read_usage(&names).await?;
            with_usage.extend(batch.into_iter().zip(usages));
        }

        let key_ids: BTreeSet<&str> = with_usage.iter().map(|(k, _)| k.id.as_str()).collect();
        let dangling_lookups = hash_map
            .values()
            .chain(legacy.values())
            .filter(|id| !key_ids.contains(id.as_str()))
            .count();
        let mut orphan_usage_ids: Vec<String> = inventory
            .usage
            .iter()
            // Names shaped like a key's but naming CRS's own indexes (`index`, `global`, …) carry
            // no UUID; real leftovers are ids in UUID form.
            .filter(|(id, _)| !key_ids.contains(id.as_str()) && looks_like_uuid(id))
            .map(|(id, _)| id.clone())
            .collect();
        orphan_usage_ids.sort();
        let timezone = timezone_evidence(&with_usage, &inventory);
        Ok(CrsSnapshot {
            source: self.name.clone(),
            keys: with_usage,
            hash_map_entries: hash_map.len(),
            legacy_hash_entries: legacy.len(),
            dangling_lookups,
            orphan_usage_ids,
            not_hashes,
            timezone,
            names_scanned: inventory.names_scanned,
        })
    }

    /// The usage of several keys (`names_per_key[i]`: the usage names of key `i`), read in
    /// shared pipelines so a large installation takes few round trips.
    async fn read_usage(
        &mut self,
        names_per_key: &[&[(String, UsageName)]],
    ) -> Result<Vec<CrsUsage>, CrsError> {
        let reads: Vec<Read> = names_per_key
            .iter()
            .flat_map(|names| names.iter())
            .map(|(name, kind)| match kind {
                UsageName::Records => Read::Newest(name.clone()),
                kind if kind.is_string() => Read::Get(name.clone()),
                _ => Read::HashAll(name.clone()),
            })
            .collect();
        let mut answers = self.read_many(&reads).await?.into_iter();
        Ok(names_per_key
            .iter()
            .map(|names| usage_from_answers(names, answers.by_ref().take(names.len())))
            .collect())
    }
}

/// One key's usage from the answers to its reads, in the order of `names`.
fn usage_from_answers(
    names: &[(String, UsageName)],
    answers: impl Iterator<Item = RedisResult<Value>>,
) -> CrsUsage {
    let mut reader = UsageReader::new();
    for ((name, kind), answer) in names.iter().zip(answers) {
        let answer = match answer {
            Ok(value) => value,
            Err(error) => {
                reader.add_error(name, format!("cannot be read: {error}"));
                continue;
            }
        };
        match kind {
            UsageName::Records => {
                let record: Option<String> = redis::from_redis_value(answer).ok().flatten();
                reader.add_newest_record(name, record.as_deref());
            }
            kind if kind.is_string() => {
                let text: Option<String> = redis::from_redis_value(answer).ok().flatten();
                reader.add_string(name, kind, text.as_deref());
            }
            kind => match redis::from_redis_value::<HashMap<String, String>>(answer) {
                Ok(hash) if hash.is_empty() => {}
                Ok(hash) => reader.add_hash(name, kind, &hash),
                Err(error) => reader.add_error(name, format!("cannot be read: {error}")),
            },
        }
    }
    reader.finish()
}

fn looks_like_uuid(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

/// The hour CRS would have filed `at` under, at `offset_hours` east of UTC.
fn hour_at_offset(at: DateTime<Utc>, offset_hours: i32) -> DateHour {
    let local = at + chrono::Duration::hours(i64::from(offset_hours));
    DateHour {
        date: local.date_naive(),
        hour: local.hour(),
    }
}

/// Which whole-hour offsets put each key's newest usage record into an hour for which CRS
/// kept an hourly counter: CRS files a request under its local hour, and the record's
/// `timestamp` is the same instant in UTC, so the offset is where the two meet. Hourly counters
/// live 7 days, so only keys used within a week count as evidence.
fn timezone_evidence(keys: &[(CrsKey, CrsUsage)], inventory: &Inventory) -> TimezoneEvidence {
    let mut matches: BTreeMap<i32, usize> = OFFSET_HOURS.map(|o| (o, 0)).collect();
    let mut records_checked = 0;
    for (key, usage) in keys {
        let Some(at) = usage.last_record_at else {
            continue;
        };
        let hours: BTreeSet<DateHour> = inventory
            .usage
            .get(&key.id)
            .into_iter()
            .flatten()
            .filter_map(|(_, kind)| match kind {
                UsageName::Hourly(hour) => Some(*hour),
                _ => None,
            })
            .collect();
        let fitting: Vec<i32> = OFFSET_HOURS
            .filter(|o| hours.contains(&hour_at_offset(at, *o)))
            .collect();
        if fitting.is_empty() {
            // Its hourly counters expired (or the record outlived them): no evidence.
            continue;
        }
        records_checked += 1;
        for offset in fitting {
            if let Some(count) = matches.get_mut(&offset) {
                *count += 1;
            }
        }
    }
    let consistent_offsets_hours = if records_checked == 0 {
        Vec::new()
    } else {
        matches
            .into_iter()
            .filter(|(_, count)| *count == records_checked)
            .map(|(offset, _)| offset)
            .collect()
    };
    TimezoneEvidence {
        records_checked,
        consistent_offsets_hours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_at_an_offset() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T03:15:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(hour_at_offset(at, -7).to_string(), "2026-11-24:20");
        assert_eq!(hour_at_offset(at, 8).to_string(), "2026-11-25:11");
        assert_eq!(hour_at_offset(at, 0).to_string(), "2026-11-25:03");
    }
}
