//! The incidents API service: `api`, configured as described in `aurora-settings`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = aurora_settings::Settings::load()?;
    let _telemetry = aurora_runtime::init_telemetry("api", &settings)?;
    aurora_api::serve(settings).await
}
