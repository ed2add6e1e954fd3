//! The command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// botserver: a self-hosted bot and AI-agent platform in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "botserver",
    version,
    about = "botserver: a self-hosted bot and AI-agent platform in one binary",
    long_about = None
)]
pub struct Cli {
    /// Configuration file (TOML). Default: $BOTSERVER_CONFIG, else ./botserver.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where to listen and keep data; accepted by every command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `serve` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (default 8080).
    #[arg(long, global = true, value_name = "N")]
    pub port: Option<u16>,
    /// Address to bind (default 127.0.0.1).
    #[arg(long, global = true, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Data directory (default ./botserver-data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Configuration commands.
    Config {
        /// What to do with the configuration.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Bot packages: check and run scripts at the terminal.
    #[cfg(feature = "auto")]
    Bot {
        /// What to do.
        #[command(subcommand)]
        action: BotAction,
    },
    /// Knowledge bases: index a bot's documents now, search them.
    #[cfg(feature = "vectordb")]
    Kb {
        /// What to do.
        #[command(subcommand)]
        action: KbAction,
    },
    /// Account administration from the console.
    #[cfg(feature = "auth")]
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserAction,
    },
}

/// `bot` subcommands, for authors.
#[cfg(feature = "auto")]
#[derive(Debug, Subcommand)]
pub enum BotAction {
    /// Compile every script of a package; print every error with its line; exit non-zero
    /// when any.
    Check {
        /// The package folder (`<name>.gbai`).
        dir: PathBuf,
    },
    /// Run a package's dialog in the terminal (TALK prints, HEAR reads a line); a tool
    /// script asks for its parameters and prints its result.
    Run {
        /// The package folder (`<name>.gbai`).
        dir: PathBuf,
        /// The script to start (default `start.bas`), or a tool's name.
        script: Option<String>,
    },
}

/// `kb` subcommands.
#[cfg(feature = "vectordb")]
#[derive(Debug, Subcommand)]
pub enum KbAction {
    /// Index every knowledge base of a bot to completion, with a progress bar on standard
    /// error; exits non-zero when a document failed (listed).
    Index {
        /// The bot's name.
        bot: String,
    },
    /// Search a bot's knowledge bases and print the passages with their sources.
    Search {
        /// The bot's name.
        bot: String,
        /// The question.
        query: String,
        /// Passages to print (default: the bot's kb-top-k, else 5).
        #[arg(long)]
        top_k: Option<usize>,
    },
}

/// `user` subcommands. Passwords are read from standard input with `--password-stdin`
/// (never from the command line, where other users could see them), or generated and
/// shown once.
#[cfg(feature = "auth")]
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user.
    Create {
        /// Sign-in name.
        username: String,
        /// Role (repeatable): user, bot-admin, admin. Default: user.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Organization id (default: the system organization).
        #[arg(long)]
        org: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List every user.
    List,
    /// Disable a user and end their sessions.
    Disable {
        /// Sign-in name.
        username: String,
    },
    /// Set a new password (clears a lockout, ends sessions).
    ResetPassword {
        /// Sign-in name.
        username: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Load and validate the configuration, print a summary, exit non-zero when invalid.
    Check,
}
