//! The `stoa` command: parse the command line, load the config, run the server or an
//! operator command. Nothing else lives here.
#![forbid(unsafe_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stoa::admin::users;
use stoa::app::{self, Services};
use stoa::config::Config;

#[derive(Parser)]
#[command(name = "stoa", version, about = "A Matrix homeserver")]
struct Cli {
    /// Path of the TOML config file.
    #[arg(long, short, global = true, env = "STOA_CONFIG", default_value = "config.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the homeserver.
    Serve,
    /// Check the config file and print the effective settings.
    CheckConfig,
    /// Manage local users (embedded store: only while the server is stopped).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password comes from --password-file or one line of stdin.
    Create {
        name: String,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List users: user ID, admin|user, active|deactivated (tab-separated).
    List,
    /// Set a new password and log out all of the user's devices.
    ResetPassword {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// mimalloc instead of glibc malloc: freed memory goes back instead of fragmenting
/// per-thread arenas (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config, std::env::vars()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("stoa: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.logging.filter);
    // Store reads and writes run on the blocking pool; past a few dozen threads more only
    // adds switching and memory (tokio's default is 512).
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(64).enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("stoa: cannot start the async runtime: {error}");
                return ExitCode::FAILURE;
            }
        };
    let result = runtime.block_on(run(cli.command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("stoa: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Serve => app::run(config).await.map_err(|e| e.to_string()),
        Command::CheckConfig => {
            let text = toml::to_string_pretty(&config).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        Command::User(command) => {
            let services = Services::build(&config).await.map_err(|e| e.to_string())?;
            let result = user_command(command, &services).await;
            services.stores.lifecycle.flush().await.map_err(|e| e.to_string())?;
            result
        }
    }
}

async fn user_command(command: UserCommand, services: &Services) -> Result<(), String> {
    match command {
        UserCommand::Create { name, admin, password_file } => {
            let password = read_password(password_file.as_deref())?;
            let user_id = users::create(services, &name, password, admin).await.map_err(|e| e.to_string())?;
            println!("{user_id}");
        }
        UserCommand::List => {
            users::list(services, |user| {
                let role = if user.is_admin { "admin" } else { "user" };
                let state = if user.deactivated { "deactivated" } else { "active" };
                println!("{}\t{role}\t{state}", user.user_id);
            })
            .await
            .map_err(|e| e.to_string())?;
        }
        UserCommand::ResetPassword { name, password_file } => {
            let password = read_password(password_file.as_deref())?;
            let user_id =
                users::reset_password(services, &name, password).await.map_err(|e| e.to_string())?;
            println!("{user_id}: password reset, all devices logged out");
        }
    }
    Ok(())
}

/// The password from a file (trailing newline dropped) or from one line of stdin.
fn read_password(file: Option<&Path>) -> Result<String, String> {
    let text = match file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read stdin: {e}"))?;
            line
        }
    };
    Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned())
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}
