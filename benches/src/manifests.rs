//! Realistic synthetic Kubernetes manifests, generated deterministically from an index.
//!
//! Object `i` belongs to application `i / 3` and is its Deployment, ConfigMap or Service
//! (`i % 3`); applications are grouped twenty to a namespace (60 objects), and each namespace is a
//! directory of one file per object, as GitOps repositories are usually laid out. Labels, env
//! vars, ports, resources and config data vary with a hash of the application index, so blobs
//! differ in size and content the way real manifests do. The same `(i, revision)` always gives
//! the same bytes.
//!
//! ```
//! use cairn_benches::manifests::{manifest, spread};
//!
//! let deployment = manifest(0, 0);
//! assert!(deployment.yaml.contains("kind: Deployment"));
//! // Revision 1 of the same object is a change of content, not of identity.
//! assert_ne!(manifest(0, 1).yaml, deployment.yaml);
//! assert_eq!(manifest(0, 1).path, deployment.path);
//! assert_eq!(spread(1_000, 4), vec![0, 250, 500, 750]);
//! ```

use std::fmt::Write as _;

/// Applications per namespace (each application is three objects).
pub const APPS_PER_NAMESPACE: usize = 20;

const WORDS: &[&str] = &[
    "checkout",
    "cart",
    "search",
    "payments",
    "ledger",
    "catalog",
    "inventory",
    "billing",
    "gateway",
    "auth",
    "profile",
    "orders",
    "shipping",
    "pricing",
    "reviews",
    "notify",
    "ingest",
    "reports",
    "media",
    "session",
];
const TIERS: &[&str] = &["frontend", "backend", "worker", "data"];
const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error"];

/// One generated manifest file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Path relative to the manifest root: `<namespace>/<name>-<kind>.yaml`.
    pub path: String,
    /// The YAML document.
    pub yaml: String,
}

/// The `i`th object at `revision` (0 is the base content; any other revision changes the
/// object's content while keeping its identity and path).
pub fn manifest(i: usize, revision: u32) -> Manifest {
    let app = App::new(i / 3, revision);
    let (kind, yaml) = match i % 3 {
        0 => ("deployment", app.deployment()),
        1 => ("configmap", app.config_map()),
        _ => ("service", app.service()),
    };
    Manifest {
        path: format!("{}/{}-{kind}.yaml", app.namespace, app.name),
        yaml,
    }
}

/// `k` object indices spread evenly over `0..m` (so changes land in different namespaces and
/// index paths), in increasing order. Never more than `m`.
pub fn spread(m: usize, k: usize) -> Vec<usize> {
    let k = k.min(m);
    (0..k).map(|j| j * m / k).collect()
}

/// The documents of `m` objects as `(path, yaml)`, with the objects in `changed` at `revision`
/// and all others at revision 0.
pub fn files(m: usize, changed: &[usize], revision: u32) -> Vec<Manifest> {
    (0..m)
        .map(|i| manifest(i, if changed.contains(&i) { revision } else { 0 }))
        .collect()
}

/// A stable 64-bit hash of `x` (splitmix64): the source of all variety.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pick<'a>(list: &[&'a str], h: u64) -> &'a str {
    list[(h % list.len() as u64) as usize]
}

/// The properties shared by an application's three objects.
struct App {
    hash: u64,
    name: String,
    namespace: String,
    tier: &'static str,
    version: String,
    port: u64,
    revision: u32,
}

impl App {
    fn new(app: usize, revision: u32) -> App {
        let hash = mix(app as u64);
        let word = pick(WORDS, hash);
        App {
            hash,
            name: format!("{word}-{app}"),
            namespace: format!("team-{:04}", app / APPS_PER_NAMESPACE),
            tier: pick(TIERS, hash >> 8),
            version: format!(
                "{}.{}.{}",
                1 + (hash >> 12) % 4,
                (hash >> 16) % 30,
                revision
            ),
            port: 8000 + (hash >> 20) % 100,
            revision,
        }
    }

    fn metadata(&self, out: &mut String) {
        let App {
            name,
            namespace,
            tier,
            version,
            ..
        } = self;
        let _ = writeln!(
            out,
            "metadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    \
             app.kubernetes.io/name: {name}\n    app.kubernetes.io/part-of: {namespace}\n    \
             app.kubernetes.io/version: \"{version}\"\n    tier: {tier}"
        );
        if self.hash.is_multiple_of(5) {
            out.push_str("    cost-center: \"cc-");
            let _ = writeln!(out, "{}\"", 1000 + (self.hash >> 24) % 9000);
        }
    }

    fn deployment(&self) -> String {
        let App {
            name,
            namespace,
            tier,
            version,
            port,
            ..
        } = self;
        let h = self.hash;
        let mut out = String::from("apiVersion: apps/v1\nkind: Deployment\n");
        self.metadata(&mut out);
        let replicas = 1 + (h >> 28) % 6;
        let image = pick(WORDS, h >> 4);
        let _ = writeln!(
            out,
            "spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {name}\n  \
             template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {name}\n        tier: {tier}\n    \
             spec:\n      containers:\n        - name: {image}\n          \
             image: registry.example.com/{namespace}/{image}:{version}\n          \
             ports:\n            - containerPort: {port}\n              name: http\n          env:"
        );
        let vars = 1 + (h >> 32) % 8;
        for v in 0..vars {
            let value = match v {
                0 => pick(LOG_LEVELS, h >> 36).to_owned(),
                1 => format!("postgres://{name}-db.{namespace}.svc:5432/{image}"),
                2 => format!("{}", 1 + (h >> 40) % 64),
                _ => format!("{:x}", mix(h ^ v)),
            };
            let _ = writeln!(
                out,
                "            - name: VAR_{v}_{}\n              value: \"{value}\"",
                image.to_uppercase()
            );
        }
        let cpu = 50 * (1 + (h >> 44) % 8);
        let memory = 64 << ((h >> 48) % 4);
        let _ = writeln!(
            out,
            "          resources:\n            requests:\n              cpu: {cpu}m\n              memory: {memory}Mi\n            \
             limits:\n              memory: {}Mi\n          readinessProbe:\n            httpGet:\n              \
             path: /healthz\n              port: http\n            periodSeconds: {}",
            memory * 2,
            5 + (h >> 52) % 10
        );
        out
    }

    fn config_map(&self) -> String {
        let h = mix(self.hash ^ 0x00c0_ffee);
        let mut out = String::from("apiVersion: v1\nkind: ConfigMap\n");
        self.metadata(&mut out);
        let _ = writeln!(
            out,
            "data:\n  revision: \"{}\"\n  LOG_FORMAT: json",
            self.revision
        );
        let keys = 1 + h % 10;
        for k in 0..keys {
            let kh = mix(h ^ k);
            if kh.is_multiple_of(4) {
                // A small config file as a block scalar.
                let _ = writeln!(out, "  app-{k}.properties: |");
                for line in 0..(2 + kh % 12) {
                    let _ = writeln!(
                        out,
                        "    {}.{line}={:x}",
                        pick(WORDS, kh >> line),
                        mix(kh ^ line)
                    );
                }
            } else {
                let _ = writeln!(
                    out,
                    "  {}_{k}: \"{:x}\"",
                    pick(WORDS, kh).to_uppercase(),
                    kh
                );
            }
        }
        out
    }

    fn service(&self) -> String {
        let App {
            name,
            port,
            revision,
            ..
        } = self;
        let mut out = String::from("apiVersion: v1\nkind: Service\n");
        self.metadata(&mut out);
        let service_type = if self.hash.is_multiple_of(7) {
            "LoadBalancer"
        } else {
            "ClusterIP"
        };
        let _ = writeln!(
            out,
            "  annotations:\n    bench.cairn.dev/revision: \"{revision}\"\nspec:\n  type: {service_type}\n  \
             selector:\n    app.kubernetes.io/name: {name}\n  ports:\n    - name: http\n      port: 80\n      \
             targetPort: {port}"
        );
        if self.hash.is_multiple_of(3) {
            let _ = writeln!(
                out,
                "    - name: metrics\n      port: 9090\n      targetPort: 9090"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::parse_documents;
    use std::collections::BTreeSet;

    #[test]
    fn every_manifest_parses_with_a_unique_identity_and_path() {
        let mut ids = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for i in 0..600 {
            let m = manifest(i, 0);
            let resources = parse_documents(&m.path, &m.yaml).unwrap();
            assert_eq!(resources.len(), 1, "{}", m.yaml);
            assert!(ids.insert(resources[0].id.clone()));
            assert!(paths.insert(m.path));
        }
    }

    #[test]
    fn a_new_revision_changes_content_but_not_identity() {
        for i in 0..30 {
            let (a, b) = (manifest(i, 0), manifest(i, 7));
            let (ra, rb) = (
                parse_documents("a", &a.yaml).unwrap(),
                parse_documents("b", &b.yaml).unwrap(),
            );
            assert_eq!(ra[0].id, rb[0].id);
            assert_ne!(ra[0].digest, rb[0].digest);
        }
    }

    #[test]
    fn spread_picks_distinct_indices() {
        assert_eq!(spread(10, 3), vec![0, 3, 6]);
        assert_eq!(spread(2, 5), vec![0, 1]);
        assert!(spread(0, 5).is_empty());
    }
}
