//! `DefaultIngressClass`: a new Ingress naming no class (no `spec.ingressClassName`, no
//! `kubernetes.io/ingress.class` annotation) gets the IngressClass marked
//! `ingressclass.kubernetes.io/is-default-class: "true"` — the newest one when several are
//! (upstream since 1.28).

use super::{Attributes, Operation, Plugin};
use crate::ApiServer;
use crate::status::ApiError;
use futures::future::BoxFuture;
use krust_api::meta::{get_path, get_str};
use serde_json::Value;

const PREFIX: &str = "/registry/networking.k8s.io/ingressclasses/";
const DEFAULT: &str = "ingressclass.kubernetes.io/is-default-class";

pub(crate) struct DefaultIngressClass;

/// The default class among `classes` (the newest, then the first by name).
fn default_class(classes: &[std::sync::Arc<Value>]) -> Option<String> {
    classes
        .iter()
        .filter(|c| get_str(c, &["metadata", "annotations", DEFAULT]) == Some("true"))
        .max_by(|a, b| {
            let at = |c: &Value| get_str(c, &["metadata", "creationTimestamp"]).map(String::from);
            at(a)
                .cmp(&at(b))
                .then_with(|| krust_api::meta::name(b).cmp(krust_api::meta::name(a)))
        })
        .map(|c| krust_api::meta::name(c).to_string())
}

fn names_a_class(ingress: &Value) -> bool {
    get_str(ingress, &["spec", "ingressClassName"]).is_some()
        || get_path(
            ingress,
            &["metadata", "annotations", "kubernetes.io/ingress.class"],
        )
        .is_some()
}

impl Plugin for DefaultIngressClass {
    fn name(&self) -> &'static str {
        "DefaultIngressClass"
    }

    fn admit<'a>(
        &'a self,
        server: &'a ApiServer,
        attrs: &'a Attributes<'a>,
        obj: &'a mut Value,
        _old: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let is_ingress = attrs.info.group == "networking.k8s.io"
                && attrs.info.kind == "Ingress"
                && attrs.subresource.is_none();
            if attrs.operation != Operation::Create || !is_ingress || names_a_class(obj) {
                return Ok(());
            }
            super::cache_caught_up(server).await;
            let (classes, _) = server
                .state
                .cache
                .list("networking.k8s.io/ingressclasses", PREFIX);
            if let Some(name) = default_class(&classes) {
                krust_api::meta::set_path(obj, &["spec", "ingressClassName"], Value::String(name));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn the_newest_default_wins() {
        let class = |name: &str, at: &str, default: bool| {
            let mut c = json!({"metadata": {"name": name, "creationTimestamp": at}});
            if default {
                c["metadata"]["annotations"] = json!({DEFAULT: "true"});
            }
            Arc::new(c)
        };
        assert_eq!(
            default_class(&[class("a", "2026-01-01T00:00:00Z", false)]),
            None
        );
        let got = default_class(&[
            class("old", "2026-01-01T00:00:00Z", true),
            class("new", "2026-02-01T00:00:00Z", true),
            class("plain", "2026-03-01T00:00:00Z", false),
        ]);
        assert_eq!(got.as_deref(), Some("new"));
        assert!(names_a_class(&json!({"spec": {"ingressClassName": "x"}})));
        assert!(names_a_class(
            &json!({"metadata": {"annotations": {"kubernetes.io/ingress.class": "x"}}})
        ));
        assert!(!names_a_class(&json!({"spec": {}})));
    }
}
