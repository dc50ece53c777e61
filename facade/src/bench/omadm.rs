//! `unidm bench omadm` (being written).

/// Flags of `unidm bench omadm`.
#[derive(Debug, Clone, clap::Args)]
pub struct OmadmBenchArgs {
    /// The server's URL.
    #[arg(long)]
    pub server: String,
}

/// Runs `unidm bench omadm`.
pub async fn run(_args: OmadmBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("unidm bench omadm is not written yet")
}
