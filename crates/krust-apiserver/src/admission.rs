//! The admission chain: an ordered list of plugins run on every create and update, as
//! upstream's `--enable-admission-plugins` (same names, same order). Every plugin's mutating
//! phase runs first, in order, on the object being written (after decoding and defaulting);
//! then, once the kind's strategy has prepared and validated it, every plugin's validating
//! phase. A plugin refuses a write with an [`ApiError`] (upstream's 403/404/422).
//!
//! Plugins: `NamespaceLifecycle` ([`namespace_lifecycle`]), `ServiceAccount`
//! ([`service_account`]), `Priority` ([`priority`]), `DefaultTolerationSeconds`
//! ([`default_toleration_seconds`]), `RuntimeClass` ([`runtime_class`]), `DefaultIngressClass`
//! ([`default_ingress_class`]). Later issues add theirs (LimitRanger, DefaultStorageClass,
//! NodeRestriction, PodSecurity, ResourceQuota, the webhooks) at their upstream
//! positions.

mod default_ingress_class;
mod default_toleration_seconds;
mod namespace_lifecycle;
mod priority;
mod runtime_class;
mod service_account;

pub(crate) use priority::SYSTEM_PRIORITY_CLASSES;

use crate::ApiServer;
use crate::status::ApiError;
use futures::future::BoxFuture;
use krust_api::ResourceInfo;
use serde_json::Value;

/// Waits (briefly) until the watch cache has every committed write, so that plugins reading
/// other objects from it (PriorityClasses, ServiceAccounts) see writes that just returned.
pub(crate) async fn cache_caught_up(server: &ApiServer) {
    if let Ok(rev) = server.state.backend.current_revision().await {
        server
            .state
            .cache
            .wait_for(rev, std::time::Duration::from_secs(2))
            .await;
    }
}

/// The operation being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Create,
    Update,
}

/// What is being written (upstream's `admission.Attributes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attributes<'a> {
    pub info: &'a ResourceInfo,
    pub operation: Operation,
    pub namespace: Option<&'a str>,
    /// The object's name (empty while a `generateName` is still to be resolved).
    pub name: &'a str,
    /// `status`, `scale`... (`None` for the main resource).
    pub subresource: Option<&'a str>,
}

impl Attributes<'_> {
    /// Whether this is a write of the core group's `kind` main resource.
    pub fn is_core(&self, kind: &str) -> bool {
        self.info.group.is_empty() && self.info.kind == kind && self.subresource.is_none()
    }
}

/// One admission plugin. Both phases default to admitting everything.
pub(crate) trait Plugin: Send + Sync {
    /// The upstream name (`ServiceAccount`).
    fn name(&self) -> &'static str;

    /// The mutating phase: may change `obj`.
    fn admit<'a>(
        &'a self,
        _server: &'a ApiServer,
        _attrs: &'a Attributes<'a>,
        _obj: &'a mut Value,
        _old: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }

    /// The validating phase: may only refuse.
    fn validate<'a>(
        &'a self,
        _server: &'a ApiServer,
        _attrs: &'a Attributes<'a>,
        _obj: &'a Value,
        _old: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The ordered plugins.
pub(crate) struct AdmissionChain {
    plugins: Vec<Box<dyn Plugin>>,
}

impl Default for AdmissionChain {
    /// The plugins upstream enables by default that krust has, in upstream's order.
    fn default() -> Self {
        AdmissionChain {
            plugins: vec![
                Box::new(namespace_lifecycle::NamespaceLifecycle),
                Box::new(service_account::ServiceAccount),
                Box::new(priority::Priority),
                Box::new(default_toleration_seconds::DefaultTolerationSeconds),
                Box::new(runtime_class::RuntimeClass),
                Box::new(default_ingress_class::DefaultIngressClass),
            ],
        }
    }
}

impl AdmissionChain {
    /// The plugins' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.plugins.iter().map(|p| p.name()).collect()
    }

    /// Runs every plugin's mutating phase, in order.
    pub async fn admit(
        &self,
        server: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        for p in &self.plugins {
            p.admit(server, attrs, obj, old).await?;
        }
        Ok(())
    }

    /// Runs every plugin's validating phase, in order.
    pub async fn validate(
        &self,
        server: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        for p in &self.plugins {
            p.validate(server, attrs, obj, old).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_run_in_upstream_order() {
        assert_eq!(
            AdmissionChain::default().names(),
            [
                "NamespaceLifecycle",
                "ServiceAccount",
                "Priority",
                "DefaultTolerationSeconds",
                "RuntimeClass",
                "DefaultIngressClass"
            ]
        );
    }
}
