//! The `keyward` command: parse the CLI, load settings, set up logging, run.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyward::config::Config;
use keyward::domain::money::NanoUsd;
use keyward::domain::pricing::{
    normalise_model, ModelPrice, PriceSource, PricingTable, TIER_PROMPT_TOKENS,
};

/// mimalloc: the request paths allocate many small short-lived buffers (JSON, HTTP), where
/// glibc malloc showed up as the largest cost in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "API-key service and admin dashboard for LLM API relays"
)]
struct Cli {
    /// A TOML file whose settings override config/default.toml (env vars override both).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The defaults file.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "config/default.toml"
    )]
    defaults: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the dashboard and the APIs (the default).
    Serve,
    /// Manage the dashboard administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Maintain keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Import keys from another key service.
    Import {
        #[command(subcommand)]
        command: keyward::import::ImportCommand,
    },
    /// Inspect the pricing table (pricing_file with pricing_overrides_file).
    Pricing {
        #[command(subcommand)]
        command: PricingCommand,
    },
}

#[derive(Subcommand)]
enum PricingCommand {
    /// Print how each model name resolves: its canonical model, the file and entry its prices
    /// come from, and its prices per million tokens (or that it gets the fallback price).
    Show {
        /// Model names as a client or relay sends them.
        #[arg(required = true, value_name = "MODEL")]
        models: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add a dashboard admin with a role; its password is generated and printed once unless
    /// --password-stdin is given.
    Add {
        /// The new admin's sign-in name (1-64 printable characters).
        #[arg(long)]
        username: String,
        /// viewer (reads), operator (keys), or admin (keys and admins).
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new dashboard password (generated and printed unless --password-stdin); every
    /// session of that admin ends.
    ResetPassword {
        /// Admin to reset (default: the configured admin_username).
        #[arg(long)]
        username: Option<String>,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Disable every active key past its expiry and print how many were disabled.
    DisableExpired,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal; a file or a log collector gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match Config::load(&cli.defaults, cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("keyward: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keyward: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyward: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Import { command } => keyward::import::run(command, &config).await,
        Command::Pricing {
            command: PricingCommand::Show { models },
        } => {
            let table = keyward::load_pricing(&config).map_err(|e| keyward::error_chain(&e))?;
            print!("{}", pricing_report(&table, &models));
            Ok(())
        }
        Command::Serve => keyward::serve(config)
            .await
            .map_err(|e| keyward::error_chain(&e)),
        Command::Admin {
            command:
                AdminCommand::Add {
                    username,
                    role,
                    password_stdin,
                },
        } => {
            let username = keyward::domain::username::AdminUsername::parse(&username)
                .map_err(|message| format!("--username: {message}"))?;
            let role = keyward::domain::role::AdminRole::parse(&role).ok_or_else(|| {
                format!("--role: `{role}` is not a role; use viewer, operator or admin")
            })?;
            let password = if password_stdin {
                read_password_line()?
            } else {
                keyward::domain::secret::random_password(24)
            };
            let services = keyward::services(&config)
                .await
                .map_err(|e| keyward::error_chain(&e))?;
            let added = services
                .admins
                .add(&username, role, &password)
                .await
                .map_err(|e| keyward::error_chain(&e))?;
            if !added {
                return Err(format!(
                    "--username: an admin named `{username}` already exists; nothing changed"
                ));
            }
            println!("Admin `{username}` added with role {role}.");
            if !password_stdin {
                // Printed, never logged: the one place this password appears.
                println!("Dashboard password for `{username}`: {password}");
                println!("It is shown only this once.");
            }
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::ResetPassword {
                    username,
                    password_stdin,
                },
        } => {
            let username = username.unwrap_or_else(|| config.admin_username.clone());
            let username = keyward::domain::username::AdminUsername::parse(&username)
                .map_err(|message| format!("--username: {message}"))?;
            let password = if password_stdin {
                read_password_line()?
            } else {
                keyward::domain::secret::random_password(24)
            };
            let services = keyward::services(&config)
                .await
                .map_err(|e| keyward::error_chain(&e))?;
            // Resetting used to create a missing admin, with every right; adding one now asks
            // for its role.
            let exists = services
                .admins
                .exists(&username)
                .await
                .map_err(|e| keyward::error_chain(&e))?;
            if !exists {
                return Err(format!(
                    "--username: there is no admin named `{username}`; add one with \
                     `keyward admin add --username {username} --role viewer|operator|admin`"
                ));
            }
            services
                .admins
                .reset_password(&username, &password)
                .await
                .map_err(|e| keyward::error_chain(&e))?;
            if password_stdin {
                println!("Password of `{username}` changed.");
            } else {
                println!("New dashboard password for `{username}`: {password}");
            }
            println!("Every dashboard session of `{username}` has ended.");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::DisableExpired,
        } => {
            let services = keyward::services(&config)
                .await
                .map_err(|e| keyward::error_chain(&e))?;
            let disabled = services
                .keys
                .disable_expired(chrono::Utc::now())
                .await
                .map_err(|e| keyward::error_chain(&e))?;
            let noun = if disabled == 1 { "key" } else { "keys" };
            println!("Disabled {disabled} expired {noun}.");
            Ok(())
        }
    }
}

/// The text of `keyward pricing show`.
fn pricing_report(table: &PricingTable, models: &[String]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let overrides = match table.overrides_path() {
        Some(path) => format!("overrides {}", path.display()),
        None => "no overrides file".to_string(),
    };
    let _ = writeln!(
        out,
        "pricing table: {} models ({} names) from {}, {overrides}",
        table.model_count(),
        table.name_count(),
        table.path_of(PriceSource::Prices).display(),
    );
    for model in models {
        let _ = writeln!(out, "\n{model}");
        let _ = writeln!(out, "  normalised:  {}", normalise_model(model));
        let (priced_model, fallback) = match table.resolve(model) {
            Some(priced_model) => (priced_model, false),
            None => (table.fallback(), true),
        };
        if fallback {
            let _ = writeln!(
                out,
                "  fallback:    not in the table; priced as {} (pricing_fallback_model = {}) and flagged",
                priced_model.id,
                table.fallback_model()
            );
        } else {
            let _ = writeln!(out, "  canonical:   {}", priced_model.id);
        }
        let _ = writeln!(
            out,
            "  from:        {} (entry \"{}\")",
            table.path_of(priced_model.source).display(),
            priced_model.entry
        );
        let _ = writeln!(out, "  USD per million tokens:");
        let _ = writeln!(out, "    {}", price_line(&priced_model.prices.base));
        match &priced_model.prices.above_200k {
            Some(tier) => {
                let _ = writeln!(
                    out,
                    "    above {TIER_PROMPT_TOKENS} prompt tokens (whole request): {}",
                    price_line(tier)
                );
            }
            None => {
                let _ = writeln!(out, "    no long-prompt tier");
            }
        }
    }
    out
}

fn price_line(price: &ModelPrice) -> String {
    // A price per million tokens in nano-USD reads as USD through NanoUsd's exact Display.
    let usd = |nanos_per_million: u64| {
        i64::try_from(nanos_per_million)
            .map(|nanos| NanoUsd::from_nanos(nanos).to_string())
            .unwrap_or_else(|_| format!("{nanos_per_million}e-9"))
    };
    format!(
        "input {}, output {}, cache read {}, 5m cache write {}, 1h cache write {}",
        usd(price.input),
        usd(price.output),
        usd(price.cache_read),
        usd(price.cache_write_5m),
        usd(price.cache_write_1h),
    )
}

/// The first line of standard input as a password (without its line ending), at least 8
/// characters long.
fn read_password_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.len() < 8 {
        return Err("the new password must be at least 8 characters".into());
    }
    Ok(line)
}
