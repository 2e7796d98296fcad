//! The RCA worker service: `rca-worker`, configured as described in `aurora-settings`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = aurora_settings::Settings::load()?;
    let _telemetry = aurora_runtime::init_telemetry("rca-worker", &settings)?;
    aurora_rca_worker::serve(settings).await
}
