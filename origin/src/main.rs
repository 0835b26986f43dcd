//! The `onsale` binary: parses the command line, sets up logging and runs the chosen role.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use onsale_origin::cli::{Cli, Command, LogFormat, WorkerRole};
use onsale_origin::{app, demo, loadtest, plan, seed, up};

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ONSALE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => app::run_serve(args).await,
        Command::Worker(args) => match args.role {
            WorkerRole::Notification(args) => app::run_notification(args).await,
            WorkerRole::Ticket(args) => app::run_ticket(args).await,
            WorkerRole::Expiry(args) => app::run_expiry(args).await,
        },
        Command::Migrate(args) => {
            async {
                let db = onsale_origin::db::connect(&args.database).await?;
                onsale_origin::db::migrate(&db).await?;
                eprintln!("migrations applied");
                Ok(())
            }
            .await
        }
        Command::ImportPlan(args) => plan::run_import(args).await,
        Command::GenerateVenue(args) => plan::generate::run(args),
        Command::Seed(args) => seed::run(args).await,
        Command::Up(args) => up::run_up(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Loadtest(args) => loadtest::run(args).await,
        Command::Keygen => {
            onsale_origin::config::print_new_keys();
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
