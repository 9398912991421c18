//! The `roamledger` command: node, command-line tool and demo.

use clap::Parser;
use roamledger_node::cli::Cli;
use roamledger_node::error::NodeError;

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        match roamledger_node::commands::run(cli).await {
            Ok(code) => code,
            Err(NodeError::Remote(status)) => {
                eprintln!("error: {}", roamledger_node::cli::explain(&status));
                1
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        }
    });
    std::process::exit(code);
}
