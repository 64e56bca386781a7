//! Property-style tests of rollouts: a small world of one Deployment, its ReplicaSets and their
//! pods, driven by the controllers' pure step functions (the Deployment controller's
//! `rolling_step`/`scale_plan`/revision logic, the ReplicaSet controller's pod ranking and
//! status) with random interleavings of syncs, pods becoming ready, template changes,
//! rollbacks and scaling, from a seeded PRNG. The ReplicaSet controller reacts at once to a
//! new size (pods are created not ready, deletions are immediate).

use super::rolling::{old_pods_running, recreate_scale_down, recreate_scale_up, rolling_step};
use super::sync::{ScaleAction, is_scaling_event, scale_plan};
use super::test_support::{deployment, template};
use super::util::*;
use crate::replicaset::pods;
use k8s_openapi::api::apps::v1::{DeploymentStrategy, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// splitmix64: small, seeded, good enough.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn random_fencepost(rng: &mut Rng) -> IntOrString {
    if rng.below(2) == 0 {
        IntOrString::Int(rng.below(5) as i32)
    } else {
        IntOrString::String(format!("{}%", rng.below(11) * 10))
    }
}

fn is_zero(v: &IntOrString) -> bool {
    matches!(v, IntOrString::Int(0)) || matches!(v, IntOrString::String(s) if s == "0%")
}

struct World {
    d: k8s_openapi::api::apps::v1::Deployment,
    rss: Vec<ReplicaSet>,
    pods: Vec<Arc<Pod>>,
    clock: i64,
    ids: u64,
}

impl World {
    fn new(d: k8s_openapi::api::apps::v1::Deployment) -> World {
        World {
            d,
            rss: Vec::new(),
            pods: Vec::new(),
            clock: 1_000_000,
            ids: 0,
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_second(self.clock).unwrap()
    }

    fn tick(&mut self) {
        self.clock += 1;
    }

    fn owned(&self, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
        self.pods
            .iter()
            .filter(|p| {
                p.metadata.owner_references.as_ref().unwrap()[0].uid
                    == *rs.metadata.uid.as_ref().unwrap()
            })
            .cloned()
            .collect()
    }

    fn new_pod(&mut self, rs: &ReplicaSet) -> Arc<Pod> {
        self.ids += 1;
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(format!("pod-{}", self.ids)),
                uid: Some(format!("{:08}", self.ids)),
                creation_timestamp: Some(Time(self.now())),
                owner_references: Some(vec![OwnerReference {
                    uid: rs.metadata.uid.clone().unwrap(),
                    controller: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                ..Default::default()
            }),
        })
    }

    /// The ReplicaSet controller, for every ReplicaSet: pods to size, statuses fresh.
    fn reconcile(&mut self) {
        let now = self.now();
        for i in 0..self.rss.len() {
            let rs = self.rss[i].clone();
            let owned = self.owned(&rs);
            let want = rs_replicas(&rs).max(0) as usize;
            if owned.len() < want {
                for _ in owned.len()..want {
                    let p = self.new_pod(&rs);
                    self.pods.push(p);
                }
            } else if owned.len() > want {
                let victims = pods::pods_to_delete(&owned, &self.pods, owned.len() - want, now);
                self.pods
                    .retain(|p| !victims.iter().any(|v| v.metadata.uid == p.metadata.uid));
            }
            let owned = self.owned(&rs);
            let mut status = pods::calculate_status(&rs, &owned, None, now);
            status.observed_generation = Some(1);
            self.rss[i].status = Some(status);
        }
    }

    fn make_ready(&mut self, index: usize) {
        let now = self.now();
        let mut pod = (*self.pods[index]).clone();
        let status = pod.status.get_or_insert_with(Default::default);
        status.phase = Some("Running".into());
        status.conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_transition_time: Some(Time(now)),
            ..Default::default()
        }]);
        self.pods[index] = Arc::new(pod);
    }

    fn make_one_ready(&mut self, rng: &mut Rng) {
        let not_ready: Vec<usize> = (0..self.pods.len())
            .filter(|i| !pods::is_ready(&self.pods[*i]))
            .collect();
        if !not_ready.is_empty() {
            let i = not_ready[rng.below(not_ready.len() as u64) as usize];
            self.make_ready(i);
        }
    }

    fn apply(&mut self, actions: &[ScaleAction]) -> bool {
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let mut changed = false;
        for a in actions {
            let rs = self
                .rss
                .iter_mut()
                .find(|rs| rs.metadata.name.as_deref() == Some(a.name.as_str()))
                .unwrap();
            if rs_replicas(rs) != a.to {
                changed = true;
            }
            rs.spec.as_mut().unwrap().replicas = Some(a.to);
            set_replicas_annotations(&mut rs.metadata, desired, max);
        }
        changed
    }

    /// `getNewReplicaSet`: the new ReplicaSet's index, its revision synced; created if asked.
    fn new_rs(&mut self, create: bool) -> Option<usize> {
        let found = find_new_rs(&self.d, &self.rss).and_then(|f| {
            self.rss
                .iter()
                .position(|rs| rs.metadata.uid == f.metadata.uid)
        });
        let old: Vec<ReplicaSet> = self
            .rss
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != found)
            .map(|(_, rs)| rs.clone())
            .collect();
        let revision = (max_revision(&old) + 1).to_string();
        if let Some(i) = found {
            let d = self.d.clone();
            set_new_rs_annotations(&d, &mut self.rss[i].metadata, &revision, true, 2000);
            let r = self.rss[i].metadata.annotations.as_ref().unwrap()[REVISION].clone();
            set_deployment_revision(&mut self.d, &r);
            return Some(i);
        }
        if !create {
            return None;
        }
        self.tick();
        let t = template(
            self.d
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .as_deref()
                .unwrap(),
        );
        let hash = compute_hash(&t, None);
        let mut labeled = t.clone();
        labeled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let name = format!("web-{hash}");
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                uid: Some(name),
                creation_timestamp: Some(Time(self.now())),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                template: Some(labeled),
                ..Default::default()
            }),
            status: Some(Default::default()),
        };
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.push(&rs);
        let count = new_rs_new_replicas(&self.d, &all, &rs);
        rs.spec.as_mut().unwrap().replicas = Some(count);
        set_new_rs_annotations(&self.d, &mut rs.metadata, &revision, false, 2000);
        set_deployment_revision(&mut self.d, &revision);
        self.rss.push(rs);
        Some(self.rss.len() - 1)
    }

    fn split(&self, new: Option<usize>) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
        let old = self
            .rss
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != new)
            .map(|(_, rs)| rs.clone())
            .collect();
        (new.map(|i| self.rss[i].clone()), old)
    }

    fn pods_by_rs(&self) -> HashMap<String, Vec<Arc<Pod>>> {
        let mut m: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
        for rs in &self.rss {
            m.insert(rs.metadata.uid.clone().unwrap(), self.owned(rs));
        }
        m
    }

    /// One sync of the Deployment controller, dispatched as the controller does. Whether any
    /// ReplicaSet was created or resized.
    fn deployment_sync(&mut self) -> bool {
        let before = self.rss.len();
        if is_scaling_event(&self.d, &self.rss) {
            let new = self.new_rs(false);
            let (new, old) = self.split(new);
            let plan = scale_plan(&self.d, new.as_ref(), &old);
            return self.apply(&plan);
        }
        if is_recreate(&self.d) {
            let new = self.new_rs(false);
            let (new_rs, old) = self.split(new);
            if self.apply(&recreate_scale_down(&old)) {
                return true;
            }
            if old_pods_running(new_rs.as_ref(), &old, &self.pods_by_rs()) {
                return false;
            }
            let Some(i) = self.new_rs(true) else {
                return false;
            };
            let up = recreate_scale_up(&self.d, &self.rss[i]);
            return self.apply(&up.into_iter().collect::<Vec<_>>()) || self.rss.len() > before;
        }
        let Some(i) = self.new_rs(true) else {
            return false;
        };
        let (new, old) = self.split(Some(i));
        let actions = rolling_step(&self.d, new.as_ref().unwrap(), &old);
        self.apply(&actions) || self.rss.len() > before
    }

    fn counts(&self) -> (i32, i32) {
        let total = self.pods.len() as i32;
        let available = self.pods.iter().filter(|p| pods::is_ready(p)).count() as i32;
        (total, available)
    }

    /// Runs syncs with every pod becoming ready until nothing changes.
    fn converge(&mut self) {
        for _ in 0..10_000 {
            let before = self.rss.clone();
            let changed = self.deployment_sync() || self.rss != before;
            self.reconcile();
            let not_ready = self.pods.iter().any(|p| !pods::is_ready(p));
            for i in 0..self.pods.len() {
                if !pods::is_ready(&self.pods[i]) {
                    self.make_ready(i);
                }
            }
            self.tick();
            self.reconcile();
            if !changed && !not_ready {
                return;
            }
        }
        panic!("no convergence");
    }

    fn describe(&self) -> String {
        let mut out = format!(
            "deployment: replicas {} annotations {:?}\n",
            replicas(&self.d),
            self.d.metadata.annotations
        );
        out.push_str(&format!(
            "scaling event {} surge {} unavailable {} new {:?}\n",
            is_scaling_event(&self.d, &self.rss),
            max_surge(&self.d),
            max_unavailable(&self.d),
            find_new_rs(&self.d, &self.rss).map(|r| r.metadata.name.clone())
        ));
        if let Some(new) = find_new_rs(&self.d, &self.rss) {
            let old = old_rss(&self.rss, new.metadata.uid.as_deref());
            out.push_str(&format!("step: {:?}\n", rolling_step(&self.d, new, &old)));
        }
        for rs in &self.rss {
            out.push_str(&format!(
                "  {:?}: spec {} pods {} status {:?} annotations {:?}\n",
                rs.metadata.name,
                rs_replicas(rs),
                self.owned(rs).len(),
                rs.status,
                rs.metadata.annotations
            ));
        }
        out
    }

    fn set_image(&mut self, image: &str) {
        self.d.spec.as_mut().unwrap().template = template(image);
    }

    /// The rollout is complete: one ReplicaSet, matching the template, runs every replica.
    fn assert_complete(&self, context: &str) {
        let context = &format!("{context}\n{}", self.describe());
        let want = replicas(&self.d);
        let new = find_new_rs(&self.d, &self.rss).expect("a new ReplicaSet");
        assert_eq!(rs_replicas(new), want, "{context}");
        for rs in &self.rss {
            if rs.metadata.uid != new.metadata.uid {
                assert_eq!(rs_replicas(rs), 0, "{context}: old {:?}", rs.metadata.name);
            }
        }
        assert_eq!(self.pods.len() as i32, want, "{context}");
        assert_eq!(self.owned(new).len() as i32, want, "{context}");
        let revision = new.metadata.annotations.as_ref().unwrap()[REVISION].clone();
        assert_eq!(
            revision,
            max_revision(&self.rss).to_string(),
            "{context}: the new ReplicaSet has the highest revision"
        );
        assert_eq!(
            self.d.metadata.annotations.as_ref().unwrap()[REVISION],
            revision,
            "{context}"
        );
    }
}

#[test]
fn rolling_updates_keep_surge_and_availability_bounds() {
    let mut rng = Rng(0x006b_7275_7374);
    for case in 0..250 {
        let replicas = rng.below(13) as i32;
        let (surge, unavailable) = loop {
            let s = random_fencepost(&mut rng);
            let u = random_fencepost(&mut rng);
            if !(is_zero(&s) && is_zero(&u)) {
                break (s, u);
            }
        };
        let mut w = World::new(deployment(replicas, surge.clone(), unavailable.clone()));
        let max_total = replicas + max_surge(&w.d);
        let min_available = replicas - max_unavailable(&w.d);
        let context = format!(
            "case {case}: replicas {replicas}, maxSurge {surge:?}, maxUnavailable {unavailable:?}"
        );
        w.converge();
        w.assert_complete(&context);
        let mut images = 1;
        for step in 0..300 {
            match rng.below(100) {
                0..=2 => {
                    images += 1;
                    w.set_image(&format!("web:{images}"));
                }
                3 => {
                    let back = 1 + rng.below(images);
                    w.set_image(&format!("web:{back}"));
                }
                4..=45 => {
                    w.deployment_sync();
                    w.reconcile();
                }
                _ => {
                    w.tick();
                    w.make_one_ready(&mut rng);
                    w.reconcile();
                }
            }
            let (total, available) = w.counts();
            assert!(
                total <= max_total,
                "{context}, step {step}: {total} pods exceed {max_total}"
            );
            assert!(
                available >= min_available,
                "{context}, step {step}: {available} available, fewer than {min_available}"
            );
        }
        w.converge();
        w.assert_complete(&context);
    }
}

#[test]
fn scaling_during_rollouts_converges() {
    let mut rng = Rng(42);
    for case in 0..300 {
        let replicas = rng.below(10) as i32;
        let mut w = World::new(deployment(
            replicas,
            random_fencepost(&mut rng),
            IntOrString::Int(1 + rng.below(3) as i32),
        ));
        w.converge();
        let mut images = 1;
        for _ in 0..200 {
            match rng.below(100) {
                0..=3 => {
                    images += 1;
                    w.set_image(&format!("web:{images}"));
                }
                4..=7 => {
                    w.d.spec.as_mut().unwrap().replicas = Some(rng.below(15) as i32);
                }
                8..=50 => {
                    w.deployment_sync();
                    w.reconcile();
                }
                _ => {
                    w.tick();
                    w.make_one_ready(&mut rng);
                    w.reconcile();
                }
            }
        }
        w.converge();
        w.assert_complete(&format!("case {case}"));
    }
}

#[test]
fn recreate_never_runs_two_versions() {
    let mut rng = Rng(7);
    for case in 0..200 {
        let mut d = deployment(
            rng.below(8) as i32,
            IntOrString::Int(1),
            IntOrString::Int(1),
        );
        d.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        let mut w = World::new(d);
        w.converge();
        w.assert_complete(&format!("case {case}"));
        let mut images = 1;
        for step in 0..150 {
            match rng.below(100) {
                0..=4 => {
                    images += 1;
                    w.set_image(&format!("web:{images}"));
                }
                5..=50 => {
                    w.deployment_sync();
                    w.reconcile();
                }
                _ => {
                    w.tick();
                    w.make_one_ready(&mut rng);
                    w.reconcile();
                }
            }
            let versions = w.rss.iter().filter(|rs| !w.owned(rs).is_empty()).count();
            assert!(
                versions <= 1,
                "case {case}, step {step}: {versions} versions run"
            );
        }
        w.converge();
        w.assert_complete(&format!("case {case}"));
    }
}
