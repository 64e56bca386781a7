//! The node agent of krust (upstream's kubelet): it registers a Node, keeps its Lease and status
//! current, and drives the pods bound to it as real containers through CRI ([`kubelet`]:
//! containerd as a supervised child ([`containerd`]), pod workers, volumes, probes, the pod
//! network, and an HTTPS server for logs, exec, attach, port-forward and resource statistics
//! ([`server`], [`stats`])). It also holds **simulated nodes** ([`simulated`]), which do the
//! node's part without containers, as kwok does, so that the control plane can be exercised at
//! scale on one machine.

pub mod atomic_writer;
pub mod backoff;
pub mod container;
pub mod containerd;
pub mod cri;
pub mod env;
pub mod events;
pub mod handlers;
pub mod images;
pub mod kubelet;
pub mod lifecycle;
pub mod machine;
pub mod metrics;
pub mod network;
pub mod node;
pub mod node_routes;
pub mod pleg;
pub mod pod_worker;
pub mod pods;
pub mod probes;
pub mod pull;
pub mod pull_secrets;
pub mod registries;
pub mod resources;
pub mod runtime;
pub mod server;
pub mod simulated;
pub mod startup;
pub mod static_pods;
pub mod stats;
pub mod status;
pub mod termination;
pub mod volumes;
