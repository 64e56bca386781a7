//! The ServiceAccount controller (upstream's `serviceaccount` controller): every namespace that
//! is not terminating has a ServiceAccount named `default`, created as soon as the namespace
//! appears and recreated whenever it is deleted.
//!
//! It mirrors two watches: namespaces (which are active) and ServiceAccounts named `default`
//! (which namespaces have one). Once both have listed, every active namespace without a
//! `default` ServiceAccount gets one. A create that fails for a reason other than "already
//! exists" or "namespace terminating/gone" is retried on the next one-second tick.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use std::collections::BTreeSet;
use std::time::Duration;

/// The name of the ServiceAccount every namespace gets.
pub const DEFAULT_NAME: &str = "default";

/// A set of names kept in step with a watch: what the last complete list plus later events say.
#[derive(Default)]
struct Mirror {
    items: BTreeSet<String>,
    /// The names of a list in progress (between `Init` and `InitDone`).
    staging: BTreeSet<String>,
    synced: bool,
}

impl Mirror {
    /// Applies a watch event; `member` says under which name an object counts, if it does.
    fn apply<K>(&mut self, event: Event<K>, member: impl Fn(&K) -> (String, bool)) {
        match event {
            Event::Init => self.staging.clear(),
            Event::InitApply(k) => {
                let (name, yes) = member(&k);
                if yes {
                    self.staging.insert(name);
                }
            }
            Event::InitDone => {
                self.items = std::mem::take(&mut self.staging);
                self.synced = true;
            }
            Event::Apply(k) => {
                let (name, yes) = member(&k);
                if yes {
                    self.items.insert(name);
                } else {
                    self.items.remove(&name);
                }
            }
            Event::Delete(k) => {
                let (name, _) = member(&k);
                self.items.remove(&name);
            }
        }
    }
}

/// Whether a namespace is active (not being deleted).
fn active(ns: &Namespace) -> (String, bool) {
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    (ns.name_any(), !terminating)
}

/// The namespace of a `default` ServiceAccount.
fn namespace_of(sa: &ServiceAccount) -> (String, bool) {
    (
        sa.namespace().unwrap_or_default(),
        sa.name_any() == DEFAULT_NAME,
    )
}

/// The ServiceAccount controller.
pub struct ServiceAccountController {
    client: Client,
}

impl ServiceAccountController {
    pub fn new(client: Client) -> Self {
        ServiceAccountController { client }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let accounts: Api<ServiceAccount> = Api::all(self.client.clone());
        let mut ns_events = watcher::watcher(namespaces, watcher::Config::default())
            .default_backoff()
            .boxed();
        let sa_config = watcher::Config::default().fields(&format!("metadata.name={DEFAULT_NAME}"));
        let mut sa_events = watcher::watcher(accounts, sa_config)
            .default_backoff()
            .boxed();
        let mut active_namespaces = Mirror::default();
        let mut with_default = Mirror::default();
        // Namespaces whose create failed since the last tick: retried on the next one.
        let mut failed: BTreeSet<String> = BTreeSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = ns_events.next() => match ev {
                    Some(Ok(ev)) => active_namespaces.apply(ev, active),
                    Some(Err(e)) => tracing::debug!(error = %e, "serviceaccount controller: namespace watch"),
                    None => return,
                },
                ev = sa_events.next() => match ev {
                    Some(Ok(ev)) => with_default.apply(ev, namespace_of),
                    Some(Err(e)) => tracing::debug!(error = %e, "serviceaccount controller: serviceaccount watch"),
                    None => return,
                },
                _ = tick.tick() => failed.clear(),
            }
            if !(active_namespaces.synced && with_default.synced) {
                continue;
            }
            let missing: Vec<String> = active_namespaces
                .items
                .difference(&with_default.items)
                .filter(|ns| !failed.contains(*ns))
                .cloned()
                .collect();
            for ns in missing {
                match self.ensure_default(&ns).await {
                    Ok(()) => {
                        with_default.items.insert(ns);
                    }
                    Err(e) => {
                        tracing::debug!(namespace = %ns, error = %e, "creating the default ServiceAccount");
                        failed.insert(ns);
                    }
                }
            }
        }
    }

    /// Creates `default` in `ns`; fine when it exists already or the namespace is going away
    /// (the namespace watch will say so).
    async fn ensure_default(&self, ns: &str) -> Result<(), kube::Error> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns);
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(DEFAULT_NAME.into()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => {
                tracing::debug!(namespace = %ns, reason = %e.message, "not creating the default ServiceAccount");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, terminating: bool) -> Namespace {
        let mut n = Namespace::default();
        n.metadata.name = Some(name.into());
        if terminating {
            n.status = Some(k8s_openapi::api::core::v1::NamespaceStatus {
                phase: Some("Terminating".into()),
                ..Default::default()
            });
        }
        n
    }

    #[test]
    fn mirror_follows_lists_and_events() {
        let mut m = Mirror::default();
        m.apply(Event::Init, active);
        m.apply(Event::InitApply(ns("a", false)), active);
        m.apply(Event::InitApply(ns("b", true)), active);
        assert!(!m.synced);
        m.apply(Event::InitDone, active);
        assert!(m.synced);
        assert_eq!(m.items, BTreeSet::from(["a".to_string()]));
        m.apply(Event::Apply(ns("c", false)), active);
        m.apply(Event::Apply(ns("a", true)), active);
        assert_eq!(m.items, BTreeSet::from(["c".to_string()]));
        m.apply(Event::Delete(ns("c", false)), active);
        assert!(m.items.is_empty());
        // A relist replaces everything.
        m.apply(Event::Apply(ns("stale", false)), active);
        m.apply(Event::Init, active);
        m.apply(Event::InitApply(ns("d", false)), active);
        m.apply(Event::InitDone, active);
        assert_eq!(m.items, BTreeSet::from(["d".to_string()]));
    }

    #[test]
    fn only_default_accounts_count() {
        let mut sa = ServiceAccount::default();
        sa.metadata.name = Some("builder".into());
        sa.metadata.namespace = Some("ns1".into());
        assert_eq!(namespace_of(&sa), ("ns1".to_string(), false));
        sa.metadata.name = Some(DEFAULT_NAME.into());
        assert_eq!(namespace_of(&sa), ("ns1".to_string(), true));
    }
}
