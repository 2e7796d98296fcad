//! `ingress-alertmanager`: only the Alertmanager webhook route, to scale and deploy on its own.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    aurora_ingress_service::main(
        "ingress-alertmanager",
        Some(aurora_domain::SourceType::Alertmanager),
    )
    .await
}
