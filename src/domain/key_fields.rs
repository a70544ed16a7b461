//! The settable fields of an API key: parsing from JSON or forms, validation, defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::budgets::{
    parse_allowed_ips, parse_usd_limit, ActivationUnit, ExpirationMode, ModelRestrictionMode,
    MAX_ACTIVATION_COUNT,
};
use super::clients::ClientMatcher;
use super::ids::is_account_id;
use super::key::ApiKey;
use super::money::NanoUsd;
use super::{FieldError, FieldErrors};

/// A field of a partial update: not sent, sent as `null`, or sent with a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Patch::Value(value),
            None => Patch::Null,
        })
    }
}

impl<T> Patch<T> {
    /// The value, refusing an explicit `null` for fields that cannot be empty.
    fn required(self, field: &'static str) -> Result<Option<T>, FieldError> {
        match self {
            Patch::Absent => Ok(None),
            Patch::Null => Err(FieldError::new(field, "must not be null")),
            Patch::Value(v) => Ok(Some(v)),
        }
    }
}

/// The services a key may use, as a set. `all` (or an empty list) is every service. Sent and
/// shown as `"all"`, one service name, or a list of them (claude-relay-service's newer form);
/// stored as `all` or the names joined by commas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions(u8);

/// Every service a key can be limited to, in the order they are shown.
pub const SERVICES: [&str; 4] = ["claude", "gemini", "openai", "droid"];

impl Permissions {
    pub const ALL: Permissions = Permissions((1 << SERVICES.len()) - 1);

    /// Exactly these services; `None` for an unknown name. No names means every service.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Permissions> {
        let mut mask = 0u8;
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            if name == "all" {
                return Some(Permissions::ALL);
            }
            let index = SERVICES.iter().position(|s| *s == name)?;
            mask |= 1 << index;
        }
        Some(if mask == 0 {
            Permissions::ALL
        } else {
            Permissions(mask)
        })
    }

    /// The stored or form form: `all`, or names joined by commas.
    pub fn parse(value: &str) -> Option<Permissions> {
        Permissions::of(value.split(','))
    }

    pub fn is_all(self) -> bool {
        self == Permissions::ALL
    }

    pub fn services(self) -> Vec<&'static str> {
        SERVICES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, s)| *s)
            .collect()
    }

    /// `all`, or the services joined by commas (as stored, and as the dashboard shows it).
    pub fn as_text(self) -> String {
        if self.is_all() {
            "all".to_string()
        } else {
            self.services().join(",")
        }
    }
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let services = self.services();
        match services.as_slice() {
            _ if self.is_all() => serializer.serialize_str("all"),
            [one] => serializer.serialize_str(one),
            several => several.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Sent {
            One(String),
            Several(Vec<String>),
        }
        let unknown = || {
            serde::de::Error::custom(format!(
                "permissions must be all, or services from {}",
                SERVICES.join(", ")
            ))
        };
        match Sent::deserialize(deserializer)? {
            Sent::One(name) if name.contains(',') => Err(unknown()),
            Sent::One(name) => Permissions::of([name.as_str()]).ok_or_else(unknown),
            Sent::Several(names) => {
                Permissions::of(names.iter().map(String::as_str)).ok_or_else(unknown)
            }
        }
    }
}

/// `"all"`, one service, or a list of services, as the custom serde impls above read and write it.
impl utoipa::PartialSchema for Permissions {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let one = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(std::iter::once("all").chain(SERVICES)))
        };
        OneOfBuilder::new()
            .item(one())
            .item(ArrayBuilder::new().items(one()))
            .description(Some(
                "`all`, one service, or a list of services; an empty list means every service",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Permissions {}

/// The upstream account fields, in the order they are stored and shown.
pub const ACCOUNT_FIELDS: [&str; ACCOUNT_COUNT] = [
    "claudeAccountId",
    "claudeConsoleAccountId",
    "geminiAccountId",
    "openaiAccountId",
    "bedrockAccountId",
    "azureOpenaiAccountId",
    "droidAccountId",
];

/// How many upstream account bindings a key has.
pub const ACCOUNT_COUNT: usize = 7;

/// Key fields as sent in a create or update request (JSON or form, camelCase).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyFieldsInput {
    /// 1 to 100 characters; required on create.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    /// Tokens allowed per rate window; 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub token_limit: Patch<u64>,
    /// RFC 3339, or null for no expiry (fixed mode).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Patch<String>,
    /// Upstream account binding (1-128 characters without spaces), or null.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub claude_account_id: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub claude_console_account_id: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub gemini_account_id: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub openai_account_id: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub bedrock_account_id: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub azure_openai_account_id: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub droid_account_id: Patch<String>,
    /// Services the key may use.
    #[serde(default)]
    #[schema(value_type = Option<Permissions>)]
    pub permissions: Patch<Permissions>,
    /// A disabled key refuses every verify (`disabled`).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub is_active: Patch<bool>,
    /// Requests at once; 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub concurrency_limit: Patch<u64>,
    /// Rate window in minutes; 0 = none. A window starts at the first request after the previous
    /// one ended.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub rate_limit_window: Patch<u64>,
    /// Requests allowed per rate window; 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub rate_limit_requests: Patch<u64>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub enable_model_restriction: Patch<bool>,
    /// Models the key may not use (`deny` mode) or the only ones it may use (`allow`); a trailing
    /// `*` matches a prefix.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub restricted_models: Patch<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub enable_client_restriction: Patch<bool>,
    /// Client ids (from the configured client list) the key may be used from.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_clients: Patch<Vec<String>>,
    /// USD per day in `KEYWARD_TIMEZONE`; 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub daily_cost_limit: Patch<f64>,
    /// USD all time; 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub total_cost_limit: Patch<f64>,
    /// USD per week (from `weeklyResetDay` at `weeklyResetHour`); 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub weekly_cost_limit: Patch<f64>,
    /// 1 = Monday … 7 = Sunday (default 1).
    #[serde(default)]
    #[schema(value_type = Option<u8>)]
    pub weekly_reset_day: Patch<u8>,
    /// 0 to 23 (default 0).
    #[serde(default)]
    #[schema(value_type = Option<u8>)]
    pub weekly_reset_hour: Patch<u8>,
    /// USD per calendar month; 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub monthly_cost_limit: Patch<f64>,
    /// USD per rate window (needs `rateLimitWindow` > 0); 0 = none.
    #[serde(default)]
    #[schema(value_type = Option<f64>)]
    pub rate_limit_cost: Patch<f64>,
    /// IPv4/IPv6 addresses or CIDR ranges a verify's `clientIp` must be in; empty = any.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_ips: Patch<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<ModelRestrictionMode>)]
    pub model_restriction_mode: Patch<ModelRestrictionMode>,
    /// `fixed` (default) or `activation`: the key expires `activationDays` after its first
    /// admission.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub expiration_mode: Patch<String>,
    /// 1 to 3650, in `activationUnit`s (activation mode).
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    pub activation_days: Patch<u32>,
    #[serde(default)]
    #[schema(value_type = Option<ActivationUnit>)]
    pub activation_unit: Patch<ActivationUnit>,
    /// At most 20 tags of at most 50 characters.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Patch<Vec<String>>,
}

/// Validated changes to a key. `None` means "leave as it is"; for nullable fields the inner
/// `None` means "clear".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub token_limit: Option<u64>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// In the order of [`ACCOUNT_FIELDS`].
    pub accounts: [Option<Option<String>>; ACCOUNT_COUNT],
    pub permissions: Option<Permissions>,
    pub is_active: Option<bool>,
    pub concurrency_limit: Option<u64>,
    pub rate_limit_window_minutes: Option<u64>,
    pub rate_limit_requests: Option<u64>,
    pub enable_model_restriction: Option<bool>,
    pub restricted_models: Option<Vec<String>>,
    pub enable_client_restriction: Option<bool>,
    pub allowed_clients: Option<Vec<String>>,
    pub daily_cost_limit: Option<NanoUsd>,
    pub total_cost_limit: Option<NanoUsd>,
    pub weekly_cost_limit: Option<NanoUsd>,
    pub weekly_reset_day: Option<u8>,
    pub weekly_reset_hour: Option<u8>,
    pub monthly_cost_limit: Option<NanoUsd>,
    pub window_cost_limit: Option<NanoUsd>,
    pub allowed_ips: Option<Vec<String>>,
    pub model_restriction_mode: Option<ModelRestrictionMode>,
    /// `Some(true)` for `expirationMode: activation`, `Some(false)` for `fixed`.
    pub activation_mode: Option<bool>,
    /// 0 = none (fixed mode).
    pub activation_days: Option<u32>,
    pub activation_unit: Option<ActivationUnit>,
    pub tags: Option<Vec<String>>,
}

const MAX_CONCURRENCY: u64 = 100_000;
const MAX_WINDOW_MINUTES: u64 = 525_600;
const MAX_WINDOW_REQUESTS: u64 = 1_000_000_000;
const MAX_TOKEN_LIMIT: u64 = 1_000_000_000_000_000;
// Keeps nano-USD amounts below 2^53, where Lua (doubles) still compares them exactly.
const MAX_DAILY_COST_USD: f64 = 1_000_000.0;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;
const MAX_MODELS: usize = 200;
const MAX_MODEL_CHARS: usize = 200;

impl KeyFieldsInput {
    /// Validates every sent field, naming each bad one.
    pub fn validate(self, clients: &ClientMatcher) -> Result<KeyChanges, FieldErrors> {
        let mut errors = Collected::default();
        let changes = KeyChanges {
            name: errors.keep(
                self.name
                    .required("name")
                    .and_then(|name| name.map(parse_name).transpose()),
            ),
            description: errors.keep(match self.description {
                Patch::Absent => Ok(None),
                Patch::Null => Ok(Some(String::new())),
                Patch::Value(text) => parse_description(text).map(Some),
            }),
            token_limit: errors.keep(bounded(self.token_limit, "tokenLimit", MAX_TOKEN_LIMIT)),
            expires_at: errors.keep(match self.expires_at {
                Patch::Absent => Ok(None),
                Patch::Null => Ok(Some(None)),
                Patch::Value(text) if text.trim().is_empty() => Ok(Some(None)),
                Patch::Value(text) => parse_expiry(&text).map(|at| Some(Some(at))),
            }),
            accounts: [
                errors.keep(account(self.claude_account_id, ACCOUNT_FIELDS[0])),
                errors.keep(account(self.claude_console_account_id, ACCOUNT_FIELDS[1])),
                errors.keep(account(self.gemini_account_id, ACCOUNT_FIELDS[2])),
                errors.keep(account(self.openai_account_id, ACCOUNT_FIELDS[3])),
                errors.keep(account(self.bedrock_account_id, ACCOUNT_FIELDS[4])),
                errors.keep(account(self.azure_openai_account_id, ACCOUNT_FIELDS[5])),
                errors.keep(account(self.droid_account_id, ACCOUNT_FIELDS[6])),
            ],
            permissions: errors.keep(self.permissions.required("permissions")),
            is_active: errors.keep(self.is_active.required("isActive")),
            concurrency_limit: errors.keep(bounded(
                self.concurrency_limit,
                "concurrencyLimit",
                MAX_CONCURRENCY,
            )),
            rate_limit_window_minutes: errors.keep(bounded(
                self.rate_limit_window,
                "rateLimitWindow",
                MAX_WINDOW_MINUTES,
            )),
            rate_limit_requests: errors.keep(bounded(
                self.rate_limit_requests,
                "rateLimitRequests",
                MAX_WINDOW_REQUESTS,
            )),
            enable_model_restriction: errors.keep(
                self.enable_model_restriction
                    .required("enableModelRestriction"),
            ),
            restricted_models: errors
                .keep(list(self.restricted_models).map(parse_models).transpose()),
            enable_client_restriction: errors.keep(
                self.enable_client_restriction
                    .required("enableClientRestriction"),
            ),
            allowed_clients: errors.keep(
                list(self.allowed_clients)
                    .map(|ids| parse_clients(ids, clients))
                    .transpose(),
            ),
            daily_cost_limit: errors.keep(
                self.daily_cost_limit
                    .required("dailyCostLimit")
                    .and_then(|usd| usd.map(parse_daily_cost).transpose()),
            ),
            total_cost_limit: errors.keep(usd_limit(self.total_cost_limit, "totalCostLimit")),
            weekly_cost_limit: errors.keep(usd_limit(self.weekly_cost_limit, "weeklyCostLimit")),
            weekly_reset_day: errors.keep(
                self.weekly_reset_day
                    .required("weeklyResetDay")
                    .and_then(|day| match day {
                        Some(d) if !(1..=7).contains(&d) => Err(FieldError::new(
                            "weeklyResetDay",
                            "must be 1 (Monday) to 7 (Sunday)",
                        )),
                        other => Ok(other),
                    }),
            ),
            weekly_reset_hour: errors.keep(
                self.weekly_reset_hour
                    .required("weeklyResetHour")
                    .and_then(|hour| match hour {
                        Some(h) if h > 23 => {
                            Err(FieldError::new("weeklyResetHour", "must be 0 to 23"))
                        }
                        other => Ok(other),
                    }),
            ),
            monthly_cost_limit: errors.keep(usd_limit(self.monthly_cost_limit, "monthlyCostLimit")),
            window_cost_limit: errors.keep(usd_limit(self.rate_limit_cost, "rateLimitCost")),
            allowed_ips: errors.keep(list(self.allowed_ips).map(parse_allowed_ips).transpose()),
            model_restriction_mode: errors
                .keep(self.model_restriction_mode.required("modelRestrictionMode")),
            activation_mode: errors.keep(self.expiration_mode.required("expirationMode").and_then(
                |mode| match mode.as_deref().map(str::trim) {
                    None => Ok(None),
                    Some("fixed") => Ok(Some(false)),
                    Some("activation") => Ok(Some(true)),
                    Some(_) => Err(FieldError::new(
                        "expirationMode",
                        "must be fixed or activation",
                    )),
                },
            )),
            activation_days: errors.keep(match self.activation_days {
                Patch::Absent => Ok(None),
                Patch::Null => Ok(Some(0)),
                Patch::Value(days) if (1..=MAX_ACTIVATION_COUNT).contains(&days) => Ok(Some(days)),
                Patch::Value(_) => Err(FieldError::new(
                    "activationDays",
                    format!("must be a whole number from 1 to {MAX_ACTIVATION_COUNT}"),
                )),
            }),
            activation_unit: errors.keep(self.activation_unit.required("activationUnit")),
            tags: errors.keep(list(self.tags).map(parse_tags).transpose()),
        };
        FieldErrors::check(changes, errors.0)
    }
}

/// Field errors gathered while the rest of the input is still read.
#[derive(Default)]
struct Collected(Vec<FieldError>);

impl Collected {
    /// The value, or (keeping the error) `None`: a bad field changes nothing.
    fn keep<T>(&mut self, result: Result<Option<T>, FieldError>) -> Option<T> {
        result.unwrap_or_else(|error| {
            self.0.push(error);
            None
        })
    }
}

/// The settings of a key that the cross-field rules look at, after a change is applied.
struct Effective {
    window_minutes: u64,
    window_requests: u64,
    token_limit: u64,
    window_cost: NanoUsd,
    enable_model_restriction: bool,
    model_count: usize,
    enable_client_restriction: bool,
    client_count: usize,
}

impl KeyChanges {
    /// Rules across fields: refuses settings that would silently do nothing (a request or token
    /// limit without a window, an empty model restriction) or lock the key out (a client
    /// restriction with no client, an expiry already past). Each rule is checked only when the
    /// change touches one of its fields, so an old key that breaks a rule can still be edited
    /// elsewhere. `current` is the key being updated (`None` when creating). Returns every
    /// broken rule, naming the field to fix.
    pub fn check_rules(&self, current: Option<&ApiKey>, now: DateTime<Utc>) -> Vec<FieldError> {
        let value = self.effective(current);
        let mut errors = Vec::new();
        let window_touched = self.rate_limit_window_minutes.is_some();
        let needs_window = [
            (
                "rateLimitRequests",
                self.rate_limit_requests,
                value.window_requests,
            ),
            ("tokenLimit", self.token_limit, value.token_limit),
            (
                "rateLimitCost",
                self.window_cost_limit.map(|c| c.nanos().max(0) as u64),
                value.window_cost.nanos().max(0) as u64,
            ),
        ];
        for (field, changed, limit) in needs_window {
            if (changed.is_some() || window_touched) && limit > 0 && value.window_minutes == 0 {
                errors.push(FieldError::new(
                    field,
                    "only applies within a rate window: set the window length (rateLimitWindow, minutes) above 0, or set this to 0",
                ));
            }
        }
        if (self.enable_model_restriction.is_some() || self.restricted_models.is_some())
            && value.enable_model_restriction
            && value.model_count == 0
        {
            errors.push(FieldError::new(
                "restrictedModels",
                "list at least one model, or turn the model restriction off",
            ));
        }
        if (self.enable_client_restriction.is_some() || self.allowed_clients.is_some())
            && value.enable_client_restriction
            && value.client_count == 0
        {
            errors.push(FieldError::new(
                "allowedClients",
                "choose at least one client, or turn the client restriction off (with none, every request would be refused)",
            ));
        }
        let activation_touched = self.activation_mode.is_some()
            || self.activation_days.is_some()
            || self.activation_unit.is_some()
            || self.expires_at.is_some();
        if activation_touched {
            let activation = self
                .activation_mode
                .or(current.map(|k| k.budgets.expiration != ExpirationMode::Fixed))
                .unwrap_or(false);
            let days = self
                .activation_days
                .or(current.map(|k| match k.budgets.expiration {
                    ExpirationMode::Activation { count, .. } => count,
                    ExpirationMode::Fixed => 0,
                }));
            let activated = current.is_some_and(|k| k.budgets.activated_at.is_some());
            if activation {
                if days.unwrap_or(0) == 0 {
                    errors.push(FieldError::new(
                        "activationDays",
                        format!("is required with expirationMode activation: how long the key lasts from its first use (1 to {MAX_ACTIVATION_COUNT})"),
                    ));
                }
                let expires_at = self
                    .expires_at
                    .unwrap_or(current.and_then(|k| k.expires_at));
                if expires_at.is_some() && !activated {
                    errors.push(FieldError::new(
                        "expiresAt",
                        "is set by the first use in activation mode: leave it empty (null), or choose expirationMode fixed",
                    ));
                }
            } else {
                if self.activation_days.is_some_and(|d| d > 0) {
                    errors.push(FieldError::new(
                        "activationDays",
                        "only applies with expirationMode activation: set that mode, or leave this out",
                    ));
                }
                if self.activation_unit == Some(ActivationUnit::Hours) {
                    errors.push(FieldError::new(
                        "activationUnit",
                        "only applies with expirationMode activation: set that mode, or leave this out",
                    ));
                }
            }
        }
        if let Some(Some(expires_at)) = self.expires_at {
            if expires_at <= now {
                errors.push(FieldError::new(
                    "expiresAt",
                    "is in the past; choose a later time, or disable the key instead",
                ));
            }
        }
        errors
    }

    /// Whether [`Self::check_rules`] needs the stored key: a rule's fields are touched but not
    /// all set, so the rest come from the key. A change that sets every field of each rule it
    /// touches (the edit form sends them all) is judged on its own.
    pub fn rules_need_current(&self) -> bool {
        let rule_fields: [&[bool]; 4] = [
            &[
                self.activation_mode.is_some(),
                self.activation_days.is_some(),
                self.activation_unit.is_some(),
                self.expires_at.is_some(),
            ],
            &[
                self.rate_limit_window_minutes.is_some(),
                self.rate_limit_requests.is_some(),
                self.token_limit.is_some(),
                self.window_cost_limit.is_some(),
            ],
            &[
                self.enable_model_restriction.is_some(),
                self.restricted_models.is_some(),
            ],
            &[
                self.enable_client_restriction.is_some(),
                self.allowed_clients.is_some(),
            ],
        ];
        rule_fields
            .iter()
            .any(|set| set.contains(&true) && set.contains(&false))
    }

    fn effective(&self, current: Option<&ApiKey>) -> Effective {
        Effective {
            window_minutes: self
                .rate_limit_window_minutes
                .or(current.map(|k| k.rate_limit_window_minutes))
                .unwrap_or(0),
            window_requests: self
                .rate_limit_requests
                .or(current.map(|k| k.rate_limit_requests))
                .unwrap_or(0),
            token_limit: self
                .token_limit
                .or(current.map(|k| k.token_limit))
                .unwrap_or(0),
            window_cost: self
                .window_cost_limit
                .or(current.map(|k| k.budgets.window_cost_limit))
                .unwrap_or(NanoUsd::ZERO),
            enable_model_restriction: self
                .enable_model_restriction
                .or(current.map(|k| k.enable_model_restriction))
                .unwrap_or(false),
            model_count: self
                .restricted_models
                .as_ref()
                .map(Vec::len)
                .or(current.map(|k| k.restricted_models.len()))
                .unwrap_or(0),
            enable_client_restriction: self
                .enable_client_restriction
                .or(current.map(|k| k.enable_client_restriction))
                .unwrap_or(false),
            client_count: self
                .allowed_clients
                .as_ref()
                .map(Vec::len)
                .or(current.map(|k| k.allowed_clients.len()))
                .unwrap_or(0),
        }
    }

    /// The changes of a new key: every field set, defaults where the request sent none.
    pub fn with_defaults(self) -> Result<KeyChanges, FieldError> {
        let name = self
            .name
            .ok_or_else(|| FieldError::new("name", "is required"))?;
        Ok(KeyChanges {
            name: Some(name),
            description: Some(self.description.unwrap_or_default()),
            token_limit: Some(self.token_limit.unwrap_or(0)),
            expires_at: Some(self.expires_at.flatten()),
            accounts: self.accounts.map(|a| Some(a.flatten())),
            permissions: Some(self.permissions.unwrap_or(Permissions::ALL)),
            is_active: Some(self.is_active.unwrap_or(true)),
            concurrency_limit: Some(self.concurrency_limit.unwrap_or(0)),
            rate_limit_window_minutes: Some(self.rate_limit_window_minutes.unwrap_or(0)),
            rate_limit_requests: Some(self.rate_limit_requests.unwrap_or(0)),
            enable_model_restriction: Some(self.enable_model_restriction.unwrap_or(false)),
            restricted_models: Some(self.restricted_models.unwrap_or_default()),
            enable_client_restriction: Some(self.enable_client_restriction.unwrap_or(false)),
            allowed_clients: Some(self.allowed_clients.unwrap_or_default()),
            daily_cost_limit: Some(self.daily_cost_limit.unwrap_or(NanoUsd::ZERO)),
            total_cost_limit: Some(self.total_cost_limit.unwrap_or(NanoUsd::ZERO)),
            weekly_cost_limit: Some(self.weekly_cost_limit.unwrap_or(NanoUsd::ZERO)),
            weekly_reset_day: Some(self.weekly_reset_day.unwrap_or(1)),
            weekly_reset_hour: Some(self.weekly_reset_hour.unwrap_or(0)),
            monthly_cost_limit: Some(self.monthly_cost_limit.unwrap_or(NanoUsd::ZERO)),
            window_cost_limit: Some(self.window_cost_limit.unwrap_or(NanoUsd::ZERO)),
            allowed_ips: Some(self.allowed_ips.unwrap_or_default()),
            model_restriction_mode: Some(self.model_restriction_mode.unwrap_or_default()),
            activation_mode: Some(self.activation_mode.unwrap_or(false)),
            activation_days: Some(self.activation_days.unwrap_or(0)),
            activation_unit: Some(self.activation_unit.unwrap_or_default()),
            tags: Some(self.tags.unwrap_or_default()),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == KeyChanges::default()
    }
}

fn bounded(value: Patch<u64>, field: &'static str, max: u64) -> Result<Option<u64>, FieldError> {
    match value.required(field)? {
        Some(v) if v > max => Err(FieldError::new(field, format!("must be at most {max}"))),
        other => Ok(other),
    }
}

/// An explicit null clears a list, like an empty one.
fn list(value: Patch<Vec<String>>) -> Option<Vec<String>> {
    match value {
        Patch::Absent => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(items) => Some(items),
    }
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

pub fn parse_name(text: String) -> Result<String, FieldError> {
    let name = text.trim();
    let length = name.chars().count();
    if length == 0 {
        return Err(FieldError::new("name", "is required"));
    }
    if length > 100 {
        return Err(FieldError::new("name", "must be at most 100 characters"));
    }
    if has_control(name) {
        return Err(FieldError::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

fn parse_description(text: String) -> Result<String, FieldError> {
    let text = text.trim();
    if text.chars().count() > 1000 {
        return Err(FieldError::new(
            "description",
            "must be at most 1000 characters",
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldError::new(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(text.to_string())
}

pub fn parse_expiry(text: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::new(
                "expiresAt",
                "must be an RFC 3339 time like 2026-12-31T23:59:59Z, or null",
            )
        })
}

fn account(
    value: Patch<String>,
    field: &'static str,
) -> Result<Option<Option<String>>, FieldError> {
    match value {
        Patch::Absent => Ok(None),
        Patch::Null => Ok(Some(None)),
        Patch::Value(id) if id.trim().is_empty() => Ok(Some(None)),
        Patch::Value(id) if is_account_id(id.trim()) => Ok(Some(Some(id.trim().to_string()))),
        Patch::Value(_) => Err(FieldError::new(
            field,
            "must be 1-128 characters without spaces, or null to unbind",
        )),
    }
}

fn parse_models(models: Vec<String>) -> Result<Vec<String>, FieldError> {
    let mut parsed: Vec<String> = Vec::with_capacity(models.len());
    for model in models {
        let model = model.trim().to_lowercase();
        if model.is_empty() {
            continue;
        }
        if model.chars().count() > MAX_MODEL_CHARS || has_control(&model) {
            return Err(FieldError::new(
                "restrictedModels",
                format!("each model name must be at most {MAX_MODEL_CHARS} printable characters"),
            ));
        }
        // `*` ends a prefix pattern (`claude-opus-4-1*`); anywhere else it is a typo.
        if model.trim_end_matches('*').contains('*') || model.ends_with("**") {
            return Err(FieldError::new(
                "restrictedModels",
                format!(
                    "`{model}`: `*` may only end a name, as a prefix pattern like claude-opus-4*"
                ),
            ));
        }
        if !parsed.contains(&model) {
            parsed.push(model);
        }
    }
    if parsed.len() > MAX_MODELS {
        return Err(FieldError::new(
            "restrictedModels",
            format!("at most {MAX_MODELS} models"),
        ));
    }
    Ok(parsed)
}

fn parse_clients(ids: Vec<String>, clients: &ClientMatcher) -> Result<Vec<String>, FieldError> {
    let mut parsed: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.trim().to_string();
        if !clients.knows(&id) {
            return Err(FieldError::new(
                "allowedClients",
                format!("unknown client `{id}`; known: {}", clients.ids().join(", ")),
            ));
        }
        if !parsed.contains(&id) {
            parsed.push(id);
        }
    }
    Ok(parsed)
}

fn usd_limit(value: Patch<f64>, field: &'static str) -> Result<Option<NanoUsd>, FieldError> {
    value
        .required(field)?
        .map(|usd| parse_usd_limit(usd, field))
        .transpose()
}

fn parse_daily_cost(usd: f64) -> Result<NanoUsd, FieldError> {
    if !usd.is_finite() || !(0.0..=MAX_DAILY_COST_USD).contains(&usd) {
        return Err(FieldError::new(
            "dailyCostLimit",
            "must be a number of USD from 0 to 1000000",
        ));
    }
    let limit = NanoUsd::from_usd_f64(usd).ok_or_else(|| {
        FieldError::new(
            "dailyCostLimit",
            "must be a number of USD from 0 to 1000000",
        )
    })?;
    // A positive amount below one nano-USD would be stored as 0, which means "no limit".
    if usd > 0.0 && limit == NanoUsd::ZERO {
        return Err(FieldError::new(
            "dailyCostLimit",
            "is too small to enforce: use 0 for no limit, or at least 0.000000001",
        ));
    }
    Ok(limit)
}

fn parse_tags(tags: Vec<String>) -> Result<Vec<String>, FieldError> {
    let mut parsed: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim().to_string();
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > MAX_TAG_CHARS || has_control(&tag) || tag.contains(',') {
            return Err(FieldError::new(
                "tags",
                format!(
                    "each tag must be at most {MAX_TAG_CHARS} printable characters without commas"
                ),
            ));
        }
        if !parsed.contains(&tag) {
            parsed.push(tag);
        }
    }
    if parsed.len() > MAX_TAGS {
        return Err(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn clients() -> ClientMatcher {
        let map: BTreeMap<String, String> =
            [("claude_code".to_string(), "^claude-cli/".to_string())].into();
        ClientMatcher::new(&map).expect("valid")
    }

    fn validate(json: &str) -> Result<KeyChanges, FieldErrors> {
        let input: KeyFieldsInput = serde_json::from_str(json).expect("parses");
        input.validate(&clients())
    }

    fn field_of(json: &str) -> String {
        validate(json).expect_err("invalid").first().field.clone()
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let errors = validate(
            r#"{"name": "", "tokenLimit": 1000000000000000001, "claudeAccountId": "a b", "tags": ["a,b"], "isActive": null}"#,
        )
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "tokenLimit", "claudeAccountId", "isActive", "tags"]
        );
    }

    fn rule_fields(json: &str, current: Option<&ApiKey>) -> Vec<String> {
        validate(json)
            .expect("valid alone")
            .check_rules(current, Utc::now())
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn limits_that_never_apply_or_lock_the_key_are_refused() {
        assert_eq!(
            rule_fields(r#"{"rateLimitRequests": 5}"#, None),
            ["rateLimitRequests"]
        );
        assert_eq!(rule_fields(r#"{"tokenLimit": 5}"#, None), ["tokenLimit"]);
        assert!(rule_fields(
            r#"{"rateLimitWindow": 1, "rateLimitRequests": 5, "tokenLimit": 9}"#,
            None
        )
        .is_empty());
        assert_eq!(
            rule_fields(r#"{"enableClientRestriction": true}"#, None),
            ["allowedClients"]
        );
        assert!(rule_fields(
            r#"{"enableClientRestriction": true, "allowedClients": ["claude_code"]}"#,
            None
        )
        .is_empty());
        assert_eq!(
            rule_fields(
                r#"{"enableModelRestriction": true, "restrictedModels": []}"#,
                None
            ),
            ["restrictedModels"]
        );
        assert_eq!(
            rule_fields(r#"{"expiresAt": "2020-01-01T00:00:00Z"}"#, None),
            ["expiresAt"]
        );
        assert!(rule_fields(r#"{"expiresAt": "2999-01-01T00:00:00Z"}"#, None).is_empty());
        // Every broken rule is reported at once.
        assert_eq!(
            rule_fields(
                r#"{"rateLimitRequests": 1, "tokenLimit": 1, "enableClientRestriction": true}"#,
                None
            ),
            ["rateLimitRequests", "tokenLimit", "allowedClients"]
        );
    }

    #[test]
    fn rules_see_the_current_key_and_only_judge_what_changes() {
        let mut key = sample_key();
        key.rate_limit_window_minutes = 10;
        key.rate_limit_requests = 5;
        // Turning the window off while requests stay limited would silently drop the limit.
        assert_eq!(
            rule_fields(r#"{"rateLimitWindow": 0}"#, Some(&key)),
            ["rateLimitRequests"]
        );
        assert!(rule_fields(r#"{"rateLimitRequests": 9}"#, Some(&key)).is_empty());
        // An old key that already breaks a rule can still be renamed.
        key.rate_limit_window_minutes = 0;
        assert!(rule_fields(r#"{"name": "renamed"}"#, Some(&key)).is_empty());
    }

    #[test]
    fn a_daily_limit_that_rounds_to_zero_is_refused() {
        assert_eq!(field_of(r#"{"dailyCostLimit": 1e-12}"#), "dailyCostLimit");
        assert!(validate(r#"{"dailyCostLimit": 0}"#).is_ok());
        assert!(validate(r#"{"dailyCostLimit": 0.000000001}"#).is_ok());
    }

    fn sample_key() -> ApiKey {
        let now = Utc::now();
        ApiKey {
            id: crate::domain::ids::KeyId::new(),
            name: "k".into(),
            description: String::new(),
            token_limit: 0,
            expires_at: None,
            accounts: Default::default(),
            permissions: Permissions::ALL,
            is_active: true,
            concurrency_limit: 0,
            rate_limit_window_minutes: 0,
            rate_limit_requests: 0,
            enable_model_restriction: false,
            restricted_models: Vec::new(),
            enable_client_restriction: false,
            allowed_clients: Vec::new(),
            daily_cost_limit: NanoUsd::ZERO,
            budgets: Default::default(),
            tags: Vec::new(),
            created_at: now,
            updated_at: now,
            last_used_at: None,
            created_by: "t".into(),
            key_hint: String::new(),
            deleted_at: None,
            deleted_by: None,
            old_secret_valid_until: None,
        }
    }

    #[test]
    fn create_needs_a_name_and_gets_defaults() {
        let changes = validate("{}").expect("valid").with_defaults();
        assert_eq!(changes.expect_err("no name").field, "name");
        let changes = validate(r#"{"name": "  team a  "}"#)
            .expect("valid")
            .with_defaults()
            .expect("valid");
        assert_eq!(changes.name.as_deref(), Some("team a"));
        assert_eq!(changes.permissions, Some(Permissions::ALL));
        assert_eq!(changes.is_active, Some(true));
        assert_eq!(changes.expires_at, Some(None));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(field_of(r#"{"name": ""}"#), "name");
        assert_eq!(
            field_of(&format!(r#"{{"name": "{}"}}"#, "x".repeat(101))),
            "name"
        );
        assert_eq!(field_of(r#"{"name": null}"#), "name");
        assert_eq!(
            field_of(&format!(r#"{{"description": "{}"}}"#, "x".repeat(1001))),
            "description"
        );
        assert_eq!(field_of(r#"{"expiresAt": "tomorrow"}"#), "expiresAt");
        assert_eq!(field_of(r#"{"claudeAccountId": "a b"}"#), "claudeAccountId");
        assert_eq!(
            field_of(r#"{"concurrencyLimit": 100001}"#),
            "concurrencyLimit"
        );
        assert_eq!(
            field_of(r#"{"rateLimitWindow": 525601}"#),
            "rateLimitWindow"
        );
        assert_eq!(
            field_of(r#"{"allowedClients": ["netscape"]}"#),
            "allowedClients"
        );
        assert_eq!(field_of(r#"{"dailyCostLimit": -1}"#), "dailyCostLimit");
        assert_eq!(field_of(r#"{"tags": ["a,b"]}"#), "tags");
        assert_eq!(field_of(r#"{"isActive": null}"#), "isActive");
    }

    #[test]
    fn nullable_fields_clear() {
        let changes = validate(r#"{"expiresAt": null, "claudeAccountId": null, "tags": null}"#)
            .expect("valid");
        assert_eq!(changes.expires_at, Some(None));
        assert_eq!(changes.accounts[0], Some(None));
        assert_eq!(changes.tags, Some(vec![]));
        assert_eq!(changes.name, None);
    }

    #[test]
    fn lists_are_trimmed_and_deduplicated() {
        let changes = validate(r#"{"tags": [" a ", "a", "b"], "restrictedModels": ["Claude-Opus-4-1", "claude-opus-4-1"]}"#)
            .expect("valid");
        assert_eq!(changes.tags, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            changes.restricted_models,
            Some(vec!["claude-opus-4-1".to_string()])
        );
    }

    #[test]
    fn daily_cost_limit_is_exact_nanos() {
        let changes = validate(r#"{"dailyCostLimit": 12.34}"#).expect("valid");
        assert_eq!(
            changes.daily_cost_limit,
            Some(NanoUsd::from_nanos(12_340_000_000))
        );
    }

    #[test]
    fn wrong_types_and_unknown_fields_fail_to_parse() {
        assert!(serde_json::from_str::<KeyFieldsInput>(r#"{"tokenLimit": -1}"#).is_err());
        assert!(serde_json::from_str::<KeyFieldsInput>(r#"{"tokenLimit": "5"}"#).is_err());
        assert!(serde_json::from_str::<KeyFieldsInput>(r#"{"permissions": "root"}"#).is_err());
        assert!(serde_json::from_str::<KeyFieldsInput>(r#"{"colour": "red"}"#).is_err());
    }
}

#[cfg(test)]
mod hostile_input {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Arbitrary JSON values, nested a little.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)),
            ".{0,120}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,12}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const FIELDS: [&str; 20] = [
        "name",
        "description",
        "tokenLimit",
        "expiresAt",
        "claudeAccountId",
        "claudeConsoleAccountId",
        "geminiAccountId",
        "openaiAccountId",
        "bedrockAccountId",
        "permissions",
        "isActive",
        "concurrencyLimit",
        "rateLimitWindow",
        "rateLimitRequests",
        "enableModelRestriction",
        "restrictedModels",
        "enableClientRestriction",
        "allowedClients",
        "dailyCostLimit",
        "tags",
    ];

    proptest! {
        #[test]
        fn any_key_fields_parse_or_fail_cleanly(values in prop::collection::vec(json_value(), 20), mask in any::<u32>()) {
            let body: serde_json::Map<String, serde_json::Value> = FIELDS
                .iter()
                .zip(values)
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, (f, v))| (f.to_string(), v))
                .collect();
            let clients = ClientMatcher::new(&BTreeMap::from([("claude_code".to_string(), "^claude-cli/".to_string())]))
                .expect("valid");
            if let Ok(input) = serde_json::from_value::<KeyFieldsInput>(serde_json::Value::Object(body)) {
                match input.validate(&clients) {
                    Ok(changes) => { let _ = changes.with_defaults(); }
                    Err(errors) => for error in errors.iter() {
                        prop_assert!(FIELDS.contains(&error.field.as_str()), "{}", error.field);
                    },
                }
            }
        }

        #[test]
        fn any_usage_report_parses_or_fails_cleanly(usage in json_value(), model in ".{0,300}", lease in ".{0,80}") {
            let body = serde_json::json!({
                "keyId": "00000000-0000-4000-8000-000000000000",
                "model": model,
                "lease": lease,
                "usage": usage,
            });
            if let Ok(input) = serde_json::from_value::<crate::domain::usage::UsageReportInput>(body) {
                if let Ok(report) = input.validate() {
                    // Whatever passes has token counts that fit the integer sums.
                    prop_assert!(report.tokens.all() < u64::MAX);
                }
            }
        }
    }
}
