//! `keyward import`: bringing keys over from another key service (today claude-relay-service).

pub mod crs;
pub mod plan;
pub mod report;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::audit::{Actor, NewAuditEntry};
use crate::domain::ids::KeyId;
use crate::domain::imported::ImportOutcome;
use crate::service::KeyService;

/// Keys whose usage is read back together after an import.
const READ_BACK_CHUNK: usize = 100;

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Copy the keys of a claude-relay-service installation from its Redis, with their ids,
    /// hashes, limits and usage. Keys imported before are left as they are.
    Crs(CrsImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct CrsImportArgs {
    /// claude-relay-service's Redis, e.g. redis://:password@host:6379/0 (only read, never written).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// Read the source and report what an import would do; write nothing anywhere.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON (with --dry-run: every key with its parsed fields and usage;
    /// else what became of every key).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: ImportCommand, config: &Config) -> Result<(), String> {
    match command {
        ImportCommand::Crs(args) => import_crs(args, config).await,
    }
}

async fn import_crs(args: CrsImportArgs, config: &Config) -> Result<(), String> {
    let mut source = crs::CrsSource::connect(&args.from)
        .await
        .map_err(|e| e.to_string())?;
    let snapshot = source.read_all().await.map_err(|e| e.to_string())?;
    let client_ids = config.clients.ids();
    let now = Utc::now();
    let report = report::DryRunReport::new(&snapshot, &client_ids, &config.timezone, now);
    if args.dry_run {
        if args.json {
            let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            println!("{json}");
        } else {
            print!("{}", report.text());
        }
        return Ok(());
    }
    let timezone_warning = report.timezone_check(&config.timezone, now)?;
    let refused = |error: crate::StartError| match error {
        crate::StartError::Store(_) => format!(
            "keyward's Redis (KEYWARD_REDIS_URL) failed before anything was written: {}",
            crate::error_chain(&error)
        ),
        other => crate::error_chain(&other),
    };
    let services = crate::services(config).await.map_err(refused)?;
    services
        .check_encryption_key(config)
        .await
        .map_err(refused)?;
    let keys = &services.keys;
    let source_name = format!("claude-relay-service at {}", snapshot.source);
    let mut outcomes = Vec::with_capacity(report.keys.len());
    for (done, found) in report.keys.iter().enumerate() {
        let outcome = import_one(keys, found, &source_name, now)
            .await
            .map_err(|error| {
                format!(
                    "{error}; stopped at key {} after {done} of {} keys. Run the same command \
                     again: keys imported already are left as they are",
                    found.key.id,
                    report.keys.len()
                )
            })?;
        outcomes.push(outcome);
    }
    let keyward_totals = keyward_totals(keys, &outcomes).await?;
    let result = report::ImportReport::new(
        &snapshot.source,
        config.timezone.to_string(),
        timezone_warning,
        outcomes,
        keyward_totals,
    );
    if args.json {
        let json = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
        println!("{json}");
    } else {
        print!("{}", result.text());
    }
    Ok(())
}

/// Imports one key; what became of it. `Err` only when keyward's Redis failed.
async fn import_one(
    keys: &KeyService,
    found: &report::KeyReport<'_>,
    source_name: &str,
    now: DateTime<Utc>,
) -> Result<report::KeyImportReport, String> {
    let (key, usage) = (found.key, found.usage);
    let mut outcome = report::KeyImportReport {
        id: key.id.clone(),
        name: key.name.clone(),
        outcome: report::KeyOutcome::Skipped,
        reason: None,
        differing_fields: Vec::new(),
        changed_in_keyward: Vec::new(),
        not_carried_over: found.not_carried_over.clone(),
        requests: usage.total.requests,
        tokens: usage.total.all_tokens,
        cost: usage.costs.total,
    };
    for problem in &usage.problems {
        outcome.not_carried_over.push(report::NotCarried {
            field: problem.field.clone(),
            reason: format!("cannot be read: {}", problem.message),
        });
    }
    let imported = match plan::imported_key(key, usage, keys.clients(), keys.key_prefix(), now) {
        Ok(imported) => imported,
        Err(reason) => {
            outcome.reason = Some(reason);
            return Ok(outcome);
        }
    };
    let written = keys
        .import(&imported)
        .await
        .map_err(|e| crate::error_chain(&e))?;
    match written {
        ImportOutcome::Imported => {
            outcome.outcome = report::KeyOutcome::Imported;
            let changes = [(
                "importedFrom".to_string(),
                [serde_json::Value::Null, source_name.into()],
            )]
            .into();
            let actor = Actor {
                name: "keyward import crs".to_string(),
                address: None,
            };
            keys.record_audit(NewAuditEntry {
                actor: &actor,
                action: "import",
                key_id: Some(imported.id),
                changes,
            })
            .await;
        }
        ImportOutcome::Unchanged { changed_here } => {
            outcome.outcome = report::KeyOutcome::Unchanged;
            outcome.changed_in_keyward = changed_here;
        }
        ImportOutcome::Differs { fields } => {
            outcome.outcome = report::KeyOutcome::Differs;
            outcome.differing_fields = fields;
        }
        ImportOutcome::SecretTaken { by } => {
            outcome.reason = Some(format!("its secret already verifies as keyward key {by}"));
        }
    }
    Ok(outcome)
}

/// What keyward holds now for the keys it has from the source, read back for the operator to
/// compare with the source's counts.
async fn keyward_totals(
    keys: &KeyService,
    outcomes: &[report::KeyImportReport],
) -> Result<report::Totals, String> {
    let ids: Vec<KeyId> = outcomes
        .iter()
        .filter(|k| k.is_in_keyward())
        .filter_map(|k| KeyId::parse(&k.id))
        .collect();
    let mut totals = report::Totals::default();
    for chunk in ids.chunks(READ_BACK_CHUNK) {
        let snapshots = keys
            .snapshots(chunk)
            .await
            .map_err(|e| crate::error_chain(&e))?;
        for snapshot in snapshots {
            let total = &snapshot.total;
            totals.add(total.requests, total.all_tokens, total.cost);
        }
    }
    Ok(totals)
}
