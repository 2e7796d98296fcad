//! `ingress-grafana`: only the grafana webhook route, to scale and deploy on its own.

aurora_ingress_service::vendor_main!(Grafana);
