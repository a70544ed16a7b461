//! The `keyward` command: parse the CLI, load settings, set up logging, run.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyward::config::Config;

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
    /// Manage the dashboard administrator.
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
}

#[derive(Subcommand)]
enum AdminCommand {
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
        // Colour codes only for a person at a terminal, never into log files or journald.
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
        Command::Serve => keyward::serve(config).await.map_err(|e| e.to_string()),
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
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                if line.len() < 8 {
                    return Err("the new password must be at least 8 characters".into());
                }
                line
            } else {
                keyward::domain::secret::random_password(24)
            };
            let services = keyward::services(&config)
                .await
                .map_err(|e| e.to_string())?;
            services
                .admins
                .reset_password(&username, &password)
                .await
                .map_err(|e| e.to_string())?;
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
                .map_err(|e| e.to_string())?;
            let disabled = services
                .keys
                .disable_expired(chrono::Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            let noun = if disabled == 1 { "key" } else { "keys" };
            println!("Disabled {disabled} expired {noun}.");
            Ok(())
        }
    }
}
