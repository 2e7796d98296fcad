//! `ingress-alertmanager`: only the alertmanager webhook route, to scale and deploy on its own.

aurora_ingress_service::vendor_main!(Alertmanager);
