//! The garbage collector: an ownerReference graph over every resource (metadata watches), and
//! upstream's three propagation policies: Background (dependents whose owners are all gone are
//! deleted), Foreground (an owner with the `foregroundDeletion` finalizer waits until its
//! dependents with `blockOwnerDeletion` are gone) and Orphan (an owner with the `orphan`
//! finalizer has its ownerReferences removed from its dependents first).

use futures::StreamExt;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::core::PartialObjectMeta as PartialObjectMetadata;
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// One owner reference.
#[derive(Debug, Clone, PartialEq)]
struct OwnerRef {
    uid: String,
    api_version: String,
    kind: String,
    name: String,
    block: bool,
}

/// What the collector knows of one object.
#[derive(Debug, Clone)]
struct Node {
    ar: Arc<ApiResource>,
    namespaced: bool,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerRef>,
    deleting: bool,
    finalizers: Vec<String>,
}

enum Change {
    Apply(Arc<ApiResource>, bool, PartialObjectMetadata<DynamicObject>),
    Delete(PartialObjectMetadata<DynamicObject>),
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    /// owner uid -> dependent uids
    dependents: HashMap<String, BTreeSet<String>>,
}

impl Graph {
    fn remove(&mut self, uid: &str) -> Option<Node> {
        let node = self.nodes.remove(uid)?;
        for o in &node.owners {
            if let Some(set) = self.dependents.get_mut(&o.uid) {
                set.remove(uid);
                if set.is_empty() {
                    self.dependents.remove(&o.uid);
                }
            }
        }
        Some(node)
    }

    fn insert(&mut self, uid: String, node: Node) {
        self.remove(&uid);
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        self.nodes.insert(uid, node);
    }
}

/// The garbage collector.
pub struct GarbageCollector {
    client: Client,
}

fn owners_of(meta: &kube::api::ObjectMeta) -> Vec<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .map(|o| OwnerRef {
            uid: o.uid.clone(),
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            name: o.name.clone(),
            block: o.block_owner_deletion.unwrap_or(false),
        })
        .collect()
}

impl GarbageCollector {
    pub fn new(client: Client) -> Self {
        GarbageCollector { client }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
        let mut watched: HashSet<String> = HashSet::new();
        let mut kinds: HashMap<(String, String), (Arc<ApiResource>, bool)> = HashMap::new();
        let mut graph = Graph::default();
        let mut queue: BTreeSet<String> = BTreeSet::new();
        let mut rediscover = tokio::time::interval(Duration::from_secs(5));
        let mut retry = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = rediscover.tick() => {
                    self.discover(&tx, &mut watched, &mut kinds).await;
                }
                _ = retry.tick() => {
                    // Objects waiting on others (foreground owners, orphaning) are retried.
                    for (uid, n) in &graph.nodes {
                        if n.deleting && n.finalizers.iter().any(|f| f == ORPHAN || f == FOREGROUND) {
                            queue.insert(uid.clone());
                        }
                    }
                }
                change = rx.recv() => {
                    let Some(change) = change else { return };
                    self.observe(change, &mut graph, &mut queue);
                    while let Ok(c) = rx.try_recv() {
                        self.observe(c, &mut graph, &mut queue);
                    }
                }
            }
            while let Some(uid) = queue.pop_first() {
                if let Err(e) = self.process(&uid, &graph, &kinds).await {
                    tracing::debug!(%uid, error = %e, "garbage collection step failed");
                }
            }
        }
    }

    fn observe(&self, change: Change, graph: &mut Graph, queue: &mut BTreeSet<String>) {
        match change {
            Change::Apply(ar, namespaced, obj) => {
                let Some(uid) = obj.metadata.uid.clone() else {
                    return;
                };
                let node = Node {
                    ar,
                    namespaced,
                    namespace: obj.metadata.namespace.clone(),
                    name: obj.metadata.name.clone().unwrap_or_default(),
                    owners: owners_of(&obj.metadata),
                    deleting: obj.metadata.deletion_timestamp.is_some(),
                    finalizers: obj.metadata.finalizers.clone().unwrap_or_default(),
                };
                for o in &node.owners {
                    queue.insert(o.uid.clone());
                }
                if !node.owners.is_empty() || node.deleting {
                    queue.insert(uid.clone());
                }
                graph.insert(uid, node);
            }
            Change::Delete(obj) => {
                let Some(uid) = obj.metadata.uid.clone() else {
                    return;
                };
                if let Some(node) = graph.remove(&uid) {
                    for o in &node.owners {
                        queue.insert(o.uid.clone());
                    }
                }
                if let Some(deps) = graph.dependents.get(&uid) {
                    queue.extend(deps.iter().cloned());
                }
            }
        }
    }

    /// Starts a metadata watch for every listable, watchable, deletable resource not yet watched.
    async fn discover(
        &self,
        tx: &mpsc::UnboundedSender<Change>,
        watched: &mut HashSet<String>,
        kinds: &mut HashMap<(String, String), (Arc<ApiResource>, bool)>,
    ) {
        let discovery = match Discovery::new(self.client.clone()).run().await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "discovery for garbage collection failed");
                return;
            }
        };
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if !(caps.supports_operation(verbs::LIST)
                    && caps.supports_operation(verbs::WATCH)
                    && caps.supports_operation(verbs::DELETE))
                {
                    continue;
                }
                let namespaced = caps.scope == Scope::Namespaced;
                let ar = Arc::new(ar);
                kinds.insert(
                    (ar.api_version.clone(), ar.kind.clone()),
                    (ar.clone(), namespaced),
                );
                // Owners may be named at any served version of their group.
                for v in group.versions() {
                    let av = if ar.group.is_empty() {
                        v.to_string()
                    } else {
                        format!("{}/{}", ar.group, v)
                    };
                    kinds
                        .entry((av, ar.kind.clone()))
                        .or_insert((ar.clone(), namespaced));
                }
                let key = format!("{}/{}", ar.group, ar.plural);
                if !watched.insert(key) {
                    continue;
                }
                let api: Api<PartialObjectMetadata<DynamicObject>> =
                    Api::all_with(self.client.clone(), ar.as_ref());
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
                    while let Some(ev) = stream.next().await {
                        let sent = match ev {
                            Ok(Event::Apply(o) | Event::InitApply(o)) => {
                                tx.send(Change::Apply(ar.clone(), namespaced, o))
                            }
                            Ok(Event::Delete(o)) => tx.send(Change::Delete(o)),
                            Ok(_) => Ok(()),
                            Err(e) => {
                                tracing::debug!(error = %e, "metadata watch");
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                Ok(())
                            }
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    }

    fn api_for(&self, node: &Node) -> Api<DynamicObject> {
        match (&node.namespace, node.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, node.ar.as_ref()),
            _ => Api::all_with(self.client.clone(), node.ar.as_ref()),
        }
    }

    /// Whether the owner `o` of an object in `namespace` exists (checked against the API, not
    /// the possibly lagging graph).
    async fn owner_exists(
        &self,
        o: &OwnerRef,
        namespace: Option<&str>,
        graph: &Graph,
        kinds: &HashMap<(String, String), (Arc<ApiResource>, bool)>,
    ) -> bool {
        if graph.nodes.contains_key(&o.uid) {
            return true;
        }
        let Some((ar, namespaced)) = kinds.get(&(o.api_version.clone(), o.kind.clone())) else {
            // An owner of a kind that is not served (anymore) does not exist.
            return false;
        };
        let api: Api<DynamicObject> = match (namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, ar.as_ref()),
            _ => Api::all_with(self.client.clone(), ar.as_ref()),
        };
        match api.get_metadata_opt(&o.name).await {
            Ok(Some(m)) => m.metadata.uid.as_deref() == Some(o.uid.as_str()),
            Ok(None) => false,
            // When in doubt, keep the dependent.
            Err(_) => true,
        }
    }

    async fn process(
        &self,
        uid: &str,
        graph: &Graph,
        kinds: &HashMap<(String, String), (Arc<ApiResource>, bool)>,
    ) -> Result<(), kube::Error> {
        let Some(node) = graph.nodes.get(uid) else {
            return Ok(());
        };
        let deps: Vec<(&String, &Node)> = graph
            .dependents
            .get(uid)
            .map(|s| {
                s.iter()
                    .filter_map(|d| graph.nodes.get(d).map(|n| (d, n)))
                    .collect()
            })
            .unwrap_or_default();
        if node.deleting && node.finalizers.iter().any(|f| f == ORPHAN) {
            for (_, dep) in &deps {
                let remaining: Vec<Value> = dep
                    .owners
                    .iter()
                    .filter(|o| o.uid != uid)
                    .map(|o| json!({"apiVersion": o.api_version, "kind": o.kind, "name": o.name, "uid": o.uid, "blockOwnerDeletion": o.block}))
                    .collect();
                let patch = if remaining.is_empty() {
                    json!({"metadata": {"ownerReferences": null}})
                } else {
                    json!({"metadata": {"ownerReferences": remaining}})
                };
                self.api_for(dep)
                    .patch(&dep.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
            return self.remove_finalizer(node, ORPHAN).await;
        }
        if node.deleting && node.finalizers.iter().any(|f| f == FOREGROUND) {
            let mut blocking = 0;
            for (dep_uid, dep) in &deps {
                let blocks = dep.owners.iter().any(|o| o.uid == uid && o.block);
                if blocks {
                    blocking += 1;
                }
                if !dep.deleting {
                    let dp = DeleteParams {
                        propagation_policy: Some(PropagationPolicy::Foreground),
                        preconditions: Some(Preconditions {
                            uid: Some((*dep_uid).clone()),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    match self.api_for(dep).delete(&dep.name, &dp).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if blocking == 0 {
                return self.remove_finalizer(node, FOREGROUND).await;
            }
            return Ok(());
        }
        if node.owners.is_empty() || node.deleting {
            return Ok(());
        }
        let mut absent = Vec::new();
        for o in &node.owners {
            if !self
                .owner_exists(o, node.namespace.as_deref(), graph, kinds)
                .await
            {
                absent.push(o.uid.clone());
            }
        }
        if absent.is_empty() {
            // An owner being deleted in the foreground takes its blocking dependents with it.
            return Ok(());
        }
        if absent.len() == node.owners.len() {
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(Preconditions {
                    uid: Some(uid.to_string()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            return match self.api_for(node).delete(&node.name, &dp).await {
                Ok(_) => {
                    tracing::debug!(name = %node.name, kind = %node.ar.kind, "garbage collected");
                    Ok(())
                }
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
                Err(e) => Err(e),
            };
        }
        let remaining: Vec<Value> = node
            .owners
            .iter()
            .filter(|o| !absent.contains(&o.uid))
            .map(|o| json!({"apiVersion": o.api_version, "kind": o.kind, "name": o.name, "uid": o.uid, "blockOwnerDeletion": o.block}))
            .collect();
        self.api_for(node)
            .patch(
                &node.name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"ownerReferences": remaining}})),
            )
            .await
            .map(|_| ())
    }

    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> Result<(), kube::Error> {
        let api = self.api_for(node);
        let Some(cur) = api.get_metadata_opt(&node.name).await? else {
            return Ok(());
        };
        let fins: Vec<String> = cur
            .metadata
            .finalizers
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        let patch = json!({"metadata": {
            "finalizers": fins,
            "resourceVersion": cur.metadata.resource_version,
        }});
        match api
            .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}
