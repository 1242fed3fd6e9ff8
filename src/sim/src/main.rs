//! `graph-sim --listen <addr> --fixture <file>`: prints its base URL first, then serves.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "graph-sim",
    about = "Strict simulated Entra ID / Microsoft Graph tenant"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Fixture JSON file (default: the built-in demo tenant).
    #[arg(long)]
    fixture: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fixture = match &args.fixture {
        Some(p) => graph_sim::read_fixture(p)?,
        None => graph_sim::fixture::parse(graph_sim::DEMO_FIXTURE)?,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let base = graph_sim::base_url(listener.local_addr()?);
    // The harness reads exactly this first line.
    let mut out = std::io::stdout().lock();
    writeln!(out, "graph-sim listening on {base}")?;
    out.flush()?;
    drop(out);
    graph_sim::serve(listener, fixture, args.fixture).await
}
