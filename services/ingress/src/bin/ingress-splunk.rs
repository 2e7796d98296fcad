//! `ingress-splunk`: only the splunk webhook route, to scale and deploy on its own.

aurora_ingress_service::vendor_main!(Splunk);
