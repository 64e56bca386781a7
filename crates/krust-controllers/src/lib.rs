//! The controller manager of krust: controllers that run inside `krust server` as ordinary API
//! clients (kube-rs over an in-process transport), one module per controller.
