//! The `onsale` command line: one subcommand per role. Every option can also come from the
//! environment variable named in its help.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    AuthConfig, DatabaseConfig, HttpConfig, KafkaConfig, RedisConfig, SaleConfig, TicketConfig, TokenConfig,
    WebAppConfig,
};

#[derive(Debug, Parser)]
#[command(
    name = "onsale",
    version,
    about = "Ticket onsales where demand dwarfs supply: waiting room, seat holds, orders, tickets"
)]
pub struct Cli {
    /// Log output format.
    #[arg(long, env = "ONSALE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the search, waiting-room and seat APIs; also runs the admitter and the outbox relay.
    Serve(ServeArgs),
    /// Run one background worker.
    Worker(WorkerArgs),
    /// Apply the database migrations and exit.
    Migrate(MigrateArgs),
    /// Import a pretix seating-plan JSON file into EventDB.
    ImportPlan(crate::plan::ImportPlanArgs),
    /// Write a stadium seating plan in the pretix format.
    GenerateVenue(crate::plan::generate::GenerateVenueArgs),
    /// Load the tour dates of a CSV file as events, each on a generated stadium plan.
    Seed(crate::seed::SeedArgs),
    /// Run every role in one process: API, admitter, relay and all workers. With no
    /// configuration, on embedded engines: nothing else to install.
    Up(crate::up::UpArgs),
    /// Drive a scripted onsale against a running platform and print a report.
    Demo(crate::demo::DemoArgs),
    /// Simulate many fans against a running platform and report throughput, latency
    /// percentiles, admission accuracy, bitmap staleness, ticket delivery and oversells.
    Loadtest(crate::loadtest::LoadtestArgs),
    /// Print new random keys for admission tokens, ticket secrets and fan sessions.
    Keygen,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub http: HttpConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub redis: RedisConfig,
    #[command(flatten)]
    pub kafka: KafkaConfig,
    #[command(flatten)]
    pub tokens: TokenConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub sale: SaleConfig,
    #[command(flatten)]
    pub web_app: WebAppConfig,
    /// Do not run the admitter in this process.
    #[arg(long, env = "ONSALE_NO_ADMITTER", default_value_t = false)]
    pub no_admitter: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(subcommand)]
    pub role: WorkerRole,
}

#[derive(Debug, Subcommand)]
pub enum WorkerRole {
    /// Apply seat state changes to the availability bitmaps.
    Notification(NotificationArgs),
    /// Sign, render and email tickets from the TicketStream.
    Ticket(TicketArgs),
    /// Free expired holds and publish them as released.
    Expiry(ExpiryArgs),
}

#[derive(Debug, Args)]
pub struct NotificationArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub redis: RedisConfig,
    #[command(flatten)]
    pub kafka: KafkaConfig,
}

#[derive(Debug, Args)]
pub struct TicketArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub kafka: KafkaConfig,
    #[command(flatten)]
    pub tickets: TicketConfig,
}

#[derive(Debug, Args)]
pub struct ExpiryArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub redis: RedisConfig,
    #[command(flatten)]
    pub kafka: KafkaConfig,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        // Catches clashing argument ids, which clap reports only when the command runs.
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_and_up_take_a_static_dir() {
        let cli = Cli::try_parse_from(["onsale", "serve", "--static-dir", "site"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        assert_eq!(args.web_app.static_dir, Some(std::path::PathBuf::from("site")));
        let cli = Cli::try_parse_from(["onsale", "up", "--static-dir", "site"]).unwrap();
        let Command::Up(args) = cli.command else { panic!("expected up") };
        assert_eq!(args.serve.web_app.static_dir, Some(std::path::PathBuf::from("site")));
    }

    #[test]
    fn up_accepts_both_signing_keys() {
        let cli =
            Cli::try_parse_from(["onsale", "up", "--token-signing-key", "a", "--ticket-signing-key", "b"]).unwrap();
        let Command::Up(args) = cli.command else { panic!("expected up") };
        assert_eq!(args.serve.tokens.signing_key.unwrap().expose(), "a");
        assert_eq!(args.tickets.signing_key.unwrap().expose(), "b");
    }

    #[test]
    fn keep_serving_needs_demo() {
        let err = Cli::try_parse_from(["onsale", "up", "--keep-serving"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);

        let cli = Cli::try_parse_from(["onsale", "up", "--demo", "--keep-serving"]).unwrap();
        let Command::Up(args) = cli.command else { panic!("expected up") };
        assert!(args.demo);
        assert!(args.keep_serving);
    }
}
