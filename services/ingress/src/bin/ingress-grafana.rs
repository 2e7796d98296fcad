//! `ingress-grafana`: only the Grafana webhook route, to scale and deploy on its own.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    aurora_ingress_service::main("ingress-grafana", Some(aurora_domain::SourceType::Grafana)).await
}
