//! Criterion micro benchmarks of the wire format at M = 1,000 / 20,000 / 200,000 objects:
//! canonicalizing and hashing manifests, building the index, diffing two indexes, and encoding,
//! decoding and applying delta packs of 1 and 10 changes.
//!
//! ```text
//! nice -n 10 cargo bench -p cairn-benches --bench format
//! CAIRN_BENCH_SIZES=1000,20000 cargo bench -p cairn-benches --bench format -- diff   # a subset
//! ```
//!
//! Inputs are generated once per size, outside the timed loops; every group takes 10 samples so
//! that the 200,000-object cases stay feasible on a small machine.

use cairn_env_vars::EnvVars;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use cairn_benches::manifests::{Manifest, manifest, spread};
use cairn_state_format::{
    Change, DeltaReader, Digest, EntrySet, Index, Snapshot, apply_delta, diff_indexes,
    encode_delta, parse_documents,
};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};

/// Snapshot sizes, overridable with `CAIRN_BENCH_SIZES=1000,20000`.
fn sizes() -> Vec<usize> {
    match std::env::var(EnvVars::CAIRN_BENCH_SIZES) {
        Ok(text) => text
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("CAIRN_BENCH_SIZES is a comma-separated list of sizes")
            })
            .collect(),
        Err(_) => vec![1_000, 20_000, 200_000],
    }
}

/// Changes per delta benchmark.
const CHANGES: [usize; 2] = [1, 10];

/// Everything the benchmarks of one size need, built once.
struct Fixture {
    m: usize,
    files: Vec<Manifest>,
    base: EntrySet,
    base_index: Index,
    base_digest: Digest,
    /// Per number of changes.
    changed: Vec<Changed>,
}

/// The base snapshot with `k` objects changed.
struct Changed {
    k: usize,
    index: Index,
    digest: Digest,
    changes: Vec<Change>,
    blobs: HashMap<Digest, Vec<u8>>,
    pack: Vec<u8>,
}

impl Fixture {
    fn new(m: usize) -> Fixture {
        let files: Vec<Manifest> = (0..m).map(|i| manifest(i, 0)).collect();
        let mut base = EntrySet::new();
        for file in &files {
            for r in parse_documents(&file.path, &file.yaml).expect("generated manifests parse") {
                base.insert(r.id.clone(), r.entry());
            }
        }
        let (snapshot, base_index) = Snapshot::build(&base);
        let base_digest = snapshot.digest();
        let changed = CHANGES
            .iter()
            .map(|&k| Changed::new(&base, &base_index, &base_digest, m, k))
            .collect();
        Fixture {
            m,
            files,
            base,
            base_index,
            base_digest,
            changed,
        }
    }
}

impl Changed {
    fn new(
        base: &EntrySet,
        base_index: &Index,
        base_digest: &Digest,
        m: usize,
        k: usize,
    ) -> Changed {
        let mut entries = base.clone();
        let mut blobs = HashMap::new();
        for i in spread(m, k) {
            let file = manifest(i, 1);
            for r in parse_documents(&file.path, &file.yaml).expect("generated manifests parse") {
                entries.insert(r.id.clone(), r.entry());
                blobs.insert(r.digest, r.canonical);
            }
        }
        let (snapshot, index) = Snapshot::build(&entries);
        let digest = snapshot.digest();
        let changes = diff_indexes(base_index, &base_index.root(), &index, &index.root())
            .expect("both indexes are complete");
        assert_eq!(changes.len(), k, "every change is seen");
        let pack = encode_delta(base_digest, &digest, &changes, |d| blobs.get(d).cloned())
            .expect("every changed blob is at hand");
        Changed {
            k,
            index,
            digest,
            changes,
            blobs,
            pack,
        }
    }
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

fn canonicalize(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("canonicalize");
    configure(&mut group);
    group.throughput(Throughput::Elements(f.m as u64));
    group.bench_with_input(BenchmarkId::from_parameter(f.m), &f.files, |b, files| {
        b.iter(|| {
            for file in files {
                black_box(parse_documents(&file.path, &file.yaml).expect("parses"));
            }
        })
    });
    group.finish();
}

fn index_build(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("index_build");
    configure(&mut group);
    group.throughput(Throughput::Elements(f.m as u64));
    group.bench_with_input(BenchmarkId::from_parameter(f.m), &f.base, |b, base| {
        b.iter(|| black_box(Snapshot::build(base)))
    });
    group.finish();
}

fn diff(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("diff_indexes");
    configure(&mut group);
    for ch in &f.changed {
        let id = BenchmarkId::new(format!("{}_changes", ch.k), f.m);
        group.bench_with_input(id, ch, |b, ch| {
            b.iter(|| {
                black_box(
                    diff_indexes(
                        &f.base_index,
                        &f.base_index.root(),
                        &ch.index,
                        &ch.index.root(),
                    )
                    .expect("complete"),
                )
            })
        });
    }
    group.finish();
}

fn delta(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("delta_encode");
    configure(&mut group);
    for ch in &f.changed {
        let id = BenchmarkId::new(format!("{}_changes", ch.k), f.m);
        group.bench_with_input(id, ch, |b, ch| {
            b.iter(|| {
                black_box(
                    encode_delta(&f.base_digest, &ch.digest, &ch.changes, |d| {
                        ch.blobs.get(d).cloned()
                    })
                    .expect("encodes"),
                )
            })
        });
    }
    group.finish();

    // Decoding alone: reading and verifying every record and blob of the pack.
    let mut group = c.benchmark_group("delta_decode");
    configure(&mut group);
    for ch in &f.changed {
        let id = BenchmarkId::new(format!("{}_changes", ch.k), f.m);
        group.bench_with_input(id, ch, |b, ch| {
            b.iter(|| {
                let mut reader = DeltaReader::new(ch.pack.as_slice()).expect("decodes");
                while let Some(item) = reader.next_item().expect("decodes") {
                    black_box(item);
                }
            })
        });
    }
    group.finish();

    // Applying: the base entry set plus the pack, rebuilt and checked against the target digest.
    let mut group = c.benchmark_group("delta_apply");
    configure(&mut group);
    for ch in &f.changed {
        let id = BenchmarkId::new(format!("{}_changes", ch.k), f.m);
        group.bench_with_input(id, ch, |b, ch| {
            b.iter(|| {
                black_box(
                    apply_delta(&f.base, &f.base_digest, ch.pack.as_slice()).expect("applies"),
                )
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for m in sizes() {
        let fixture = Fixture::new(m);
        canonicalize(&mut c, &fixture);
        index_build(&mut c, &fixture);
        diff(&mut c, &fixture);
        delta(&mut c, &fixture);
    }
    c.final_summary();
}
