//! `keyward import`: bringing keys over from another key service (today claude-relay-service).

pub mod crs;
pub mod report;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Copy the keys of a claude-relay-service installation from its Redis, with their ids,
    /// hashes, limits and usage (only --dry-run is available yet).
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
    /// Print the report as JSON: every key with its parsed fields and usage.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: ImportCommand, config: &Config) -> Result<(), String> {
    match command {
        ImportCommand::Crs(args) => import_crs(args, config).await,
    }
}

async fn import_crs(args: CrsImportArgs, config: &Config) -> Result<(), String> {
    if !args.dry_run {
        // A usage error, reported the way clap reports the others (exit status 2).
        clap::Error::raw(
            clap::error::ErrorKind::MissingRequiredArgument,
            "only `keyward import crs --from <URL> --dry-run` is available yet: the step that \
             writes the keys into keyward is not built\n",
        )
        .exit();
    }
    let mut source = crs::CrsSource::connect(&args.from)
        .await
        .map_err(|e| e.to_string())?;
    let snapshot = source.read_all().await.map_err(|e| e.to_string())?;
    let client_ids = config.clients.ids();
    let report =
        report::DryRunReport::new(&snapshot, &client_ids, &config.timezone, chrono::Utc::now());
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{json}");
    } else {
        print!("{}", report.text());
    }
    Ok(())
}
