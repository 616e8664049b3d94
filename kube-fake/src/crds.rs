//! CustomResourceDefinitions as the API server handles them: a new CRD becomes Established
//! after a few reads of it (the establishing controller's delay), and its served versions are
//! served from then on; discovery lists them only some time later ([`World::discovery_lag`]),
//! as the apiextensions-apiserver's `DiscoveryController` syncs from an informer through a
//! work queue and the aggregated discovery document follows it. Deleting a CRD removes its
//! objects and stops serving its kinds, so the same group can be created again.

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::ssa::{self, Writer};
use crate::world::{Kind, World, key};

const GROUP: &str = "apiextensions.k8s.io";
const PLURAL: &str = "customresourcedefinitions";

/// The kinds a CRD serves: one per served version.
fn kinds(crd: &Value) -> Vec<Kind> {
    let spec = &crd["spec"];
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] != false)
        .map(|version| {
            Kind::new(
                spec["group"].as_str().unwrap_or_default(),
                version["name"].as_str().unwrap_or_default(),
                spec["names"]["kind"].as_str().unwrap_or_default(),
                spec["names"]["plural"].as_str().unwrap_or_default(),
                spec["scope"] == "Namespaced",
            )
        })
        .collect()
}

fn crd_kind(world: &World) -> Kind {
    world
        .kinds
        .iter()
        .find(|k| k.group == GROUP && k.plural == PLURAL)
        .cloned()
        .unwrap_or_else(|| Kind::new(GROUP, "v1", "CustomResourceDefinition", PLURAL, false))
}

impl World {
    /// Counts a read of CRD `name`; marks it Established (serving its kinds, listed in
    /// discovery after the lag) after enough.
    pub fn read_crd(&mut self, name: &str) {
        let Some(left) = self.establishing.get_mut(name) else {
            return;
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return;
        }
        self.establishing.remove(name);
        let k = key(GROUP, PLURAL, "", name);
        let Some(mut crd) = self.objects.get(&k).cloned() else {
            return;
        };
        let time = self.tick();
        let status = json!({"conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}]});
        let writer = Writer {
            manager: "kube-apiserver",
            api_version: "apiextensions.k8s.io/v1",
            time: &time,
        };
        ssa::write_status(&mut crd, status, &writer);
        let listed_at = Instant::now() + self.discovery_lag;
        for served in kinds(&crd) {
            if !self.discovery_lag.is_zero() {
                let gvk = (
                    served.group.clone(),
                    served.version.clone(),
                    served.kind.clone(),
                );
                self.undiscovered.insert(gvk, listed_at);
            }
            if !self.kinds.contains(&served) {
                self.kinds.push(served);
            }
        }
        let before = crd.clone();
        self.stamp(&mut crd, Some(&before));
        let kind = crd_kind(self);
        self.commit(&kind, k, Some(crd));
    }

    /// Whether discovery lists `kind` yet.
    pub fn discovered(&self, kind: &Kind) -> bool {
        let gvk = (kind.group.clone(), kind.version.clone(), kind.kind.clone());
        self.undiscovered
            .get(&gvk)
            .is_none_or(|at| *at <= Instant::now())
    }

    /// After CRD `crd` was deleted: its objects are removed and its kinds no longer served.
    pub fn crd_deleted(&mut self, crd: &Value) {
        if let Some(name) = crd["metadata"]["name"].as_str() {
            self.establishing.remove(name);
        }
        for gone in kinds(crd) {
            self.kinds.retain(|k| *k != gone);
            let gvk = (gone.group.clone(), gone.version.clone(), gone.kind.clone());
            self.undiscovered.remove(&gvk);
            let prefix = format!("{}/{}/", gone.group, gone.plural);
            let objects: Vec<String> = self
                .objects
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone())
                .collect();
            for k in objects {
                self.commit(&gone, k, None);
            }
        }
    }
}
