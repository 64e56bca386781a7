//! The client runtime every krust component shares, as client-go's is shared upstream: shared
//! informers over kube-rs watches with their caches ([`runtime`]), rate-limited work queues and
//! expectations, the correlating Event recorder ([`events`]) and Lease-based leader election
//! ([`leader`]). Components (controllers, scheduler, kubelet, and the node's proxy, DNS and
//! ingress) depend on this crate and on the API only, never on each other.

pub mod events;
pub mod leader;
pub mod runtime;
