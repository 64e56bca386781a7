//! The scheduler's watches (kube-runtime watchers with the default backoff): pods, nodes,
//! PodDisruptionBudgets, namespaces (for affinity namespace selectors) and PriorityClasses (for
//! pods whose `spec.priority` the API server left unset). Objects are parsed into the model on
//! the async side and handed to the scheduling loop; relists are framed by
//! `*Relist`/`*Synced` inputs so the loop can drop what disappeared.

use crate::cache::Pdb;
use crate::node_info::NodeSpec;
use crate::pod_info::{PodInfo, PriorityClasses};
use crate::scheduler::Input;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long the pod watch waits for the PriorityClass list before starting anyway.
const PRIORITY_CLASS_WAIT: Duration = Duration::from_secs(5);

/// Follows a watch, calling `on` per event until it returns false.
async fn follow<K>(api: Api<K>, mut on: impl FnMut(Event<K>) -> bool)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(e) => {
                if !on(e) {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, "scheduler watch"),
        }
    }
}

fn pod_input(p: &Pod, priorities: &RwLock<PriorityClasses>) -> Option<Input> {
    p.metadata.uid.as_ref()?;
    let guard = match priorities.read() {
        Ok(g) => g,
        Err(e) => e.into_inner(),
    };
    Some(Input::Pod(Arc::new(PodInfo::from_pod(p, &guard))))
}

/// Starts every watch; the handles stop them when aborted.
pub fn spawn(client: Client, tx: Sender<Input>) -> Vec<JoinHandle<()>> {
    let priorities = Arc::new(RwLock::new(PriorityClasses::default()));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let mut handles = Vec::new();

    let pcs = priorities.clone();
    let api: Api<PriorityClass> = Api::all(client.clone());
    handles.push(tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut seen: Option<PriorityClasses> = None;
        follow(api, |ev| {
            let set = |target: &mut PriorityClasses, pc: &PriorityClass| {
                if let Some(name) = pc.metadata.name.as_deref() {
                    target.set(name, pc.value, pc.global_default.unwrap_or(false));
                }
            };
            match ev {
                Event::Init => seen = Some(PriorityClasses::default()),
                Event::InitApply(pc) => {
                    if let Some(s) = seen.as_mut() {
                        set(s, &pc);
                    }
                }
                Event::InitDone => {
                    if let Some(s) = seen.take() {
                        match pcs.write() {
                            Ok(mut g) => *g = s,
                            Err(e) => *e.into_inner() = s,
                        }
                    }
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Event::Apply(pc) => match pcs.write() {
                    Ok(mut g) => set(&mut g, &pc),
                    Err(e) => set(&mut e.into_inner(), &pc),
                },
                Event::Delete(pc) => {
                    if let Some(name) = pc.metadata.name.as_deref() {
                        match pcs.write() {
                            Ok(mut g) => g.remove(name),
                            Err(e) => e.into_inner().remove(name),
                        }
                    }
                }
            }
            true
        })
        .await;
    }));

    let pod_tx = tx.clone();
    let api: Api<Pod> = Api::all(client.clone());
    handles.push(tokio::spawn(async move {
        let _ = tokio::time::timeout(PRIORITY_CLASS_WAIT, ready_rx).await;
        follow(api, |ev| {
            let input = match ev {
                Event::Init => Some(Input::PodsRelist),
                Event::InitApply(p) | Event::Apply(p) => pod_input(&p, &priorities),
                Event::Delete(p) => p.metadata.uid.clone().map(Input::PodDeleted),
                Event::InitDone => Some(Input::PodsSynced),
            };
            input.is_none_or(|i| pod_tx.send(i).is_ok())
        })
        .await;
    }));

    let node_tx = tx.clone();
    let api: Api<Node> = Api::all(client.clone());
    handles.push(tokio::spawn(async move {
        follow(api, |ev| {
            let input = match ev {
                Event::Init => Input::NodesRelist,
                Event::InitApply(n) | Event::Apply(n) => {
                    Input::Node(Box::new(NodeSpec::from_node(&n)))
                }
                Event::Delete(n) => Input::NodeDeleted(n.metadata.name.clone().unwrap_or_default()),
                Event::InitDone => Input::NodesSynced,
            };
            node_tx.send(input).is_ok()
        })
        .await;
    }));

    let pdb_tx = tx.clone();
    let api: Api<PodDisruptionBudget> = Api::all(client.clone());
    handles.push(tokio::spawn(async move {
        follow(api, |ev| {
            let input = match ev {
                Event::Init => Input::PdbsRelist,
                Event::InitApply(p) | Event::Apply(p) => Input::Pdb(Box::new(Pdb::from_pdb(&p))),
                Event::Delete(p) => Input::PdbDeleted(Pdb::from_pdb(&p).key()),
                Event::InitDone => Input::PdbsSynced,
            };
            pdb_tx.send(input).is_ok()
        })
        .await;
    }));

    let ns_tx = tx;
    let api: Api<Namespace> = Api::all(client);
    handles.push(tokio::spawn(async move {
        follow(api, |ev| {
            let input = match ev {
                Event::InitApply(n) | Event::Apply(n) => Some(Input::Namespace(
                    n.metadata.name.clone().unwrap_or_default(),
                    n.metadata.labels.clone().unwrap_or_default(),
                )),
                Event::Delete(n) => Some(Input::NamespaceDeleted(
                    n.metadata.name.clone().unwrap_or_default(),
                )),
                Event::Init | Event::InitDone => None,
            };
            input.is_none_or(|i| ns_tx.send(i).is_ok())
        })
        .await;
    }));
    handles
}
