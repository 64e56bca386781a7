//! The node agent of krust (upstream's kubelet): it registers a Node, keeps its Lease and status
//! current, and drives the pods bound to it. Today this crate holds only **simulated nodes**
//! ([`simulated`]), which do all of that without containers, as kwok does, so that the control
//! plane can be exercised at scale on one machine; the real agent (CRI, probes, volumes,
//! streaming) comes later.

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
pub mod pleg;
pub mod pod_worker;
pub mod pods;
pub mod probes;
pub mod pull;
pub mod resources;
pub mod runtime;
pub mod server;
pub mod simulated;
pub mod startup;
pub mod static_pods;
pub mod status;
pub mod termination;
pub mod volumes;
