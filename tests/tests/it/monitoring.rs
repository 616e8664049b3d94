//! deploy/monitoring: every query of the Grafana dashboard and every alerting rule parses as
//! PromQL and names only metrics real agents expose (scraped from running `cairn-agent`s, not
//! from a list kept here), and the PrometheusRule holds exactly the rules of the plain rules file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cairn_tests::{Agent, cairn, publish, value, wait_until};

use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

fn monitoring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring")
}

/// The sample names real agents expose: two `cairn-agent run` processes on a local store, one
/// converging and one refusing the head (signed by a key it does not trust), scraped over HTTP,
/// so that every family has series (a family without any is not exposed at all).
fn registered() -> &'static BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let store = dir.join("store").to_str().unwrap().to_owned();
        cairn(dir, &["keygen", "--out", "hub.key"]);
        cairn(dir, &["keygen", "--out", "other.key"]);
        std::fs::create_dir_all(dir.join("m")).unwrap();
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: app}\ndata: {a: b}\n";
        std::fs::write(dir.join("m/web.yaml"), yaml).unwrap();
        publish(dir, &store, "prod", &[]);
        let good = Agent::start(dir, &store, "prod", &dir.join("hub.key.pub"), "good", "1s");
        let refused = Agent::start(dir, &store, "prod", &dir.join("other.key.pub"), "refused", "1s");
        let mut names = BTreeSet::new();
        wait_until(Duration::from_secs(60), "a converged and a frozen agent", || {
            let up = |a: &Agent| std::net::TcpStream::connect(a.metrics).is_ok();
            if !up(&good) || !up(&refused) {
                return false;
            }
            let (g, r) = (good.metrics(), refused.metrics());
            // A second poll of the converged agent is answered 304 (that family appears then).
            let done = value(&g, "cairn_agent_applied_generation{channel=\"prod\"}") >= 1.0
                && value(&g, "cairn_agent_not_modified_total{channel=\"prod\"}") >= 1.0
                && value(&r, "cairn_agent_phase{channel=\"prod\",phase=\"frozen\"}") == 1.0;
            names = g.keys().chain(r.keys()).filter_map(|k| k.split('{').next()).map(str::to_owned).collect();
            done
        });
        assert!(names.len() >= 10, "the agents expose their metrics: {names:?}");
        names
    })
}

struct Names(BTreeSet<String>);

impl ExprVisitor for Names {
    type Error = ();
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        match expr {
            Expr::VectorSelector(vs) => self.0.extend(vs.name.clone()),
            Expr::MatrixSelector(ms) => self.0.extend(ms.vs.name.clone()),
            _ => {}
        }
        Ok(true)
    }
}

/// The metric names `expr` selects; panics naming `what` if it is not PromQL or selects none.
fn metrics_of(what: &str, expr: &str) -> BTreeSet<String> {
    // Grafana's variables, as Grafana would substitute them.
    let expr = expr.replace("$__rate_interval", "5m");
    let ast = parser::parse(&expr).unwrap_or_else(|e| panic!("{what}: {e}\n{expr}"));
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &ast).unwrap();
    assert!(!names.0.is_empty(), "{what} selects no metric: {expr}");
    names.0
}

fn check(what: &str, expr: &str, known: &BTreeSet<String>) {
    for name in metrics_of(what, expr) {
        assert!(
            known.contains(&name),
            "{what}: {name} is not a metric the agent registers ({known:?})"
        );
    }
}

#[test]
fn every_dashboard_panel_queries_real_agent_metrics() {
    let known = registered();
    let text = std::fs::read_to_string(monitoring().join("grafana-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8);
    let mut seen = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            check(&format!("panel {title:?}"), expr, known);
            seen.extend(metrics_of(title, expr));
        }
    }
    for needed in [
        "cairn_agent_applied_generation",
        "cairn_agent_errors_total",
        "cairn_agent_phase",
        "cairn_agent_head_age_seconds",
    ] {
        assert!(seen.contains(needed), "no panel shows {needed}");
    }
}

fn rules(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_alert_queries_real_agent_metrics_and_both_rule_files_agree() {
    let known = registered();
    let plain = rules(&monitoring().join("cairn-agent.rules.yaml"));
    let operator = rules(&monitoring().join("cairn-agent-prometheusrule.yaml"));
    assert_eq!(operator["kind"], "PrometheusRule");
    assert_eq!(
        operator["spec"], plain,
        "the PrometheusRule holds the plain file's groups"
    );
    let mut alerts = 0;
    for group in plain["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["alert"].as_str().unwrap();
            check(
                &format!("alert {name}"),
                rule["expr"].as_str().unwrap(),
                known,
            );
            assert!(
                rule["labels"]["severity"].is_string(),
                "{name} has a severity"
            );
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{name} has a summary"
            );
            alerts += 1;
        }
    }
    assert!(alerts >= 6);
}

#[test]
fn a_misspelt_metric_is_caught() {
    let known = registered();
    let caught =
        std::panic::catch_unwind(|| check("probe", "sum(rate(cairn_agent_poll_total[5m]))", known));
    assert!(caught.is_err(), "the check would miss a wrong name");
}
