//! `ingress`: every vendor's webhook route in one process, for a single-machine setup.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    aurora_ingress_service::main("ingress", None).await
}
