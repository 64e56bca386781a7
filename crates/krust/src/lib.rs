//! The krust binary's library half: the command line, the subcommands (`server`,
//! `kubeconfig`, `bench`, `version`), HTTPS serving, certificates, TLS and kubeconfig plumbing.

pub mod cli;
pub mod commands;
pub mod host_network;
pub mod in_process;
pub mod kubeconfig;
pub mod kubelet_tls;
pub mod logging;
pub mod node_agent;
pub mod pki;
pub mod serve;
pub mod service_account_key;
pub mod tls;
