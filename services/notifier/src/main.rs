//! The notifier service: `notifier`, configured as described in `aurora-settings`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = aurora_settings::Settings::load()?;
    let _telemetry = aurora_runtime::init_telemetry("notifier", &settings)?;
    aurora_notifier::serve(settings).await
}
