//! `unidm bench tr069` (being written).

/// Flags of `unidm bench tr069`.
#[derive(Debug, Clone, clap::Args)]
pub struct Tr069BenchArgs {
    /// The server's URL.
    #[arg(long)]
    pub acs: String,
}

/// Runs `unidm bench tr069`.
pub async fn run(_args: Tr069BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("unidm bench tr069 is not written yet")
}
