//! `ingress-netdata`: only the netdata webhook route, to scale and deploy on its own.

aurora_ingress_service::vendor_main!(Netdata);
