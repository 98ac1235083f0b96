//! Every metric an alarm or the dashboard of `template.yaml` reads is one that is emitted:
//! the app's own by the EMF layer (its name, its dimension sets, an event the code logs),
//! AWS's with the names and dimensions AWS publishes them under, on a resource of the stack.
//! An alarm on a metric nobody emits never fires; this is what keeps them from drifting.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use otp_shared::telemetry::EmfLayer;
use serde_yaml_ng::Value;
use tracing_subscriber::layer::SubscriberExt;

const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The namespace of the app's own metrics, as the template names it.
const OURS: &str = "MetricsNamespace";

/// One metric read by an alarm or a widget.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MetricUse {
    /// Where: the alarm's logical id, or `Dashboard`.
    place: String,
    /// `AWS/Lambda` and so on, or [`OURS`].
    namespace: String,
    name: String,
    /// Dimension name to value; a value that is a resource is its logical id, and a
    /// Metrics Insights query names its dimensions with the value `*`.
    dimensions: BTreeMap<String, String>,
}

/// The metrics AWS publishes that the stack may read: (namespace, name, the dimension sets
/// it is published with, the resource type a dimension value must be).
struct AwsMetric {
    namespace: &'static str,
    names: &'static [&'static str],
    dimension_sets: &'static [&'static [&'static str]],
}

/// From the CloudWatch metric references of API Gateway (HTTP APIs), Lambda, DynamoDB and
/// SNS (SMS).
const AWS_METRICS: [AwsMetric; 5] = [
    AwsMetric {
        namespace: "AWS/ApiGateway",
        names: &["4xx", "5xx", "Count", "Latency", "IntegrationLatency", "DataProcessed"],
        dimension_sets: &[&["ApiId"], &["ApiId", "Stage"]],
    },
    AwsMetric {
        namespace: "AWS/Lambda",
        names: &["Errors", "Throttles", "Duration", "Invocations", "ConcurrentExecutions"],
        dimension_sets: &[&["FunctionName"]],
    },
    AwsMetric {
        namespace: "AWS/DynamoDB",
        names: &["ThrottledRequests", "SystemErrors", "SuccessfulRequestLatency"],
        dimension_sets: &[&["Operation", "TableName"]],
    },
    AwsMetric { namespace: "AWS/SNS", names: &["SMSMonthToDateSpentUSD"], dimension_sets: &[&[]] },
    AwsMetric {
        namespace: "AWS/SNS",
        names: &["NumberOfNotificationsFailed", "NumberOfNotificationsDelivered"],
        dimension_sets: &[&["Country", "SMSType"]],
    },
];

/// The resource type each AWS dimension's value must be.
const DIMENSION_RESOURCES: [(&str, &str); 3] = [
    ("ApiId", "AWS::Serverless::HttpApi"),
    ("FunctionName", "AWS::Serverless::Function"),
    ("TableName", "AWS::DynamoDB::Table"),
];

/// The DynamoDB operations the functions call (docs/architecture.md, Requests per call,
/// asserted by `moto::end_to_end`; an `UpdateItem` also records a breaker trip).
const TABLE_OPERATIONS: [&str; 4] = ["GetItem", "BatchGetItem", "TransactWriteItems", "UpdateItem"];

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Tagged(tagged) if tagged.tag == "Ref" => text(&tagged.value),
        other => panic!("not a scalar or a !Ref: {other:?}"),
    }
}

/// `SELECT SUM(Count) FROM SCHEMA("ns", A, B) ...` as the metric it reads, every dimension of
/// the schema given the value `*`, plus those its `WHERE` pins with `=`.
fn metrics_insights(place: &str, query: &str) -> MetricUse {
    let (_, after) = query.split_once("SUM(").expect("SUM(metric)");
    let (name, rest) = after.split_once(')').unwrap();
    let (_, schema) = rest.split_once("SCHEMA(").expect("FROM SCHEMA(...)");
    let (schema, rest) = schema.split_once(')').unwrap();
    let mut parts = schema.split(',').map(|part| part.trim().trim_matches(['"', '\\']));
    let namespace = parts.next().unwrap().to_owned();
    let mut dimensions: BTreeMap<String, String> =
        parts.map(|dimension| (dimension.to_owned(), "*".to_owned())).collect();
    if let Some((_, condition)) = rest.split_once("WHERE ") {
        let condition = condition.split(" GROUP BY").next().unwrap();
        for clause in condition.replace(" AND ", " OR ").split(" OR ") {
            if let Some((dimension, value)) = clause.split_once(" = ") {
                let value = value.trim().trim_matches('\'').to_owned();
                let values = dimensions.entry(dimension.trim().to_owned()).or_default();
                if values == "*" {
                    *values = value;
                } else if !values.split('|').any(|known| known == value) {
                    values.push('|');
                    values.push_str(&value);
                }
            }
        }
    }
    let namespace = namespace.replace("${MetricsNamespace}", OURS);
    MetricUse { place: place.to_owned(), namespace, name: name.trim().to_owned(), dimensions }
}

/// Every metric the template's alarms read.
fn alarm_metrics(resources: &serde_yaml_ng::Mapping) -> Vec<MetricUse> {
    let mut uses = Vec::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let (id, properties) = (text(id), &resource["Properties"]);
        let dimensions = |list: &Value| -> BTreeMap<String, String> {
            list.as_sequence()
                .map(|list| list.iter().map(|d| (text(&d["Name"]), text(&d["Value"]))).collect())
                .unwrap_or_default()
        };
        let before = uses.len();
        if let Some(name) = properties.get("MetricName") {
            uses.push(MetricUse {
                place: id.clone(),
                namespace: text(&properties["Namespace"]),
                name: text(name),
                dimensions: dimensions(&properties["Dimensions"]),
            });
        }
        for query in properties["Metrics"].as_sequence().into_iter().flatten() {
            if let Some(stat) = query.get("MetricStat") {
                let metric = &stat["Metric"];
                uses.push(MetricUse {
                    place: id.clone(),
                    namespace: text(&metric["Namespace"]),
                    name: text(&metric["MetricName"]),
                    dimensions: dimensions(&metric["Dimensions"]),
                });
            } else if let Some(expression) = query["Expression"].as_str()
                && expression.starts_with("SELECT")
            {
                uses.push(metrics_insights(&id, expression));
            }
        }
        assert!(uses.len() > before, "{id} reads no metric");
    }
    uses
}

/// Every metric the dashboard's widgets read, `${Name}` substitutions taken as `!Ref Name`.
fn dashboard_metrics(resources: &serde_yaml_ng::Mapping) -> Vec<MetricUse> {
    let body = resources
        .iter()
        .find(|(_, resource)| resource["Type"] == "AWS::CloudWatch::Dashboard")
        .map(|(_, dashboard)| &dashboard["Properties"]["DashboardBody"])
        .expect("a dashboard");
    let Value::Tagged(sub) = body else { panic!("the body is a !Sub") };
    let mut source = text(&sub.value);
    // Numbers substituted into the body (the budget line) are not metrics; names are.
    source = source.replace("${SmsMonthlyBudgetUsd}", "0");
    let json: serde_json::Value = serde_json::from_str(&source).expect("the body is JSON");
    let mut uses = Vec::new();
    for widget in json["widgets"].as_array().unwrap() {
        for row in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().unwrap();
            let strings: Vec<&str> = row.iter().filter_map(serde_json::Value::as_str).collect();
            if let Some(expression) = row[0]["expression"].as_str() {
                if expression.starts_with("SELECT") {
                    uses.push(metrics_insights("Dashboard", expression));
                }
                continue;
            }
            let reference = |value: &str| {
                value
                    .strip_prefix("${")
                    .and_then(|v| v.strip_suffix('}'))
                    .unwrap_or(value)
                    .to_owned()
            };
            let namespace = reference(strings[0]);
            let dimensions = strings[2..]
                .chunks(2)
                .map(|pair| (pair[0].to_owned(), reference(pair[1])))
                .collect();
            uses.push(MetricUse {
                place: "Dashboard".into(),
                namespace,
                name: strings[1].to_owned(),
                dimensions,
            });
        }
    }
    uses
}

/// The crate's source, every file of it.
fn source() -> String {
    fn visit(dir: &Path, text: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, text);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut text = String::new();
    visit(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut text);
    text
}

/// The lifecycle events the code logs: every `"otp.*"` literal in the crate's source.
fn logged_events() -> BTreeSet<String> {
    let mut events = BTreeSet::new();
    for piece in source().split("\"otp.").skip(1) {
        let name: String =
            piece.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if piece[name.len()..].starts_with('"') && !name.is_empty() {
            events.insert(format!("otp.{name}"));
        }
    }
    events
}

/// The metric names and dimension sets the EMF layer writes, read from its output for an
/// event with a country and a rule.
fn emitted_shapes() -> (BTreeSet<String>, BTreeSet<Vec<String>>) {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber =
        tracing_subscriber::registry().with(EmfLayer::new("Ns", move || writer.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("send", country = "IN");
        let _entered = span.enter();
        tracing::info!(event = "otp.rate_limited", rule = "cooldown");
    });
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    let names = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| metric["Name"].as_str().unwrap().to_owned())
        .collect();
    let sets = directive["Dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| {
            let mut set: Vec<String> =
                set.as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
            set.sort();
            set
        })
        .collect();
    (names, sets)
}

fn check(
    metric: &MetricUse,
    resource_types: &BTreeMap<String, String>,
    events: &BTreeSet<String>,
    (names, sets): &(BTreeSet<String>, BTreeSet<Vec<String>>),
) {
    let dimension_names: Vec<String> = metric.dimensions.keys().cloned().collect();
    if metric.namespace == OURS {
        assert!(names.contains(&metric.name), "{metric:?}: the EMF layer writes {names:?}");
        assert!(sets.contains(&dimension_names), "{metric:?}: the EMF layer writes {sets:?}");
        let event = &metric.dimensions["Event"];
        for event in event.split('|').filter(|event| *event != "*") {
            assert!(events.contains(event), "{metric:?}: the code logs no {event}");
        }
        let rules = metric.dimensions.get("Rule").map_or("*", String::as_str);
        for rule in rules.split('|').filter(|rule| *rule != "*") {
            let named = source().contains(&format!("\"{rule}\""));
            assert!(named, "{metric:?}: the code names no rule {rule}");
        }
        return;
    }
    let known = AWS_METRICS
        .iter()
        .find(|aws| aws.namespace == metric.namespace && aws.names.contains(&metric.name.as_str()));
    let known = known.unwrap_or_else(|| panic!("{metric:?}: not a metric AWS publishes"));
    assert!(
        known.dimension_sets.iter().any(|set| *set == dimension_names),
        "{metric:?}: {} is published with the dimensions {:?}",
        metric.name,
        known.dimension_sets
    );
    for (dimension, value) in &metric.dimensions {
        if let Some((_, kind)) = DIMENSION_RESOURCES.iter().find(|(name, _)| name == dimension) {
            assert_eq!(resource_types.get(value).map(String::as_str), Some(*kind), "{metric:?}");
        }
        if dimension == "Operation" {
            assert!(TABLE_OPERATIONS.contains(&value.as_str()), "{metric:?}");
        }
    }
}

#[test]
fn every_alarm_and_widget_reads_a_metric_that_is_emitted() {
    let yaml: Value = serde_yaml_ng::from_str(TEMPLATE).unwrap();
    let resources = yaml["Resources"].as_mapping().unwrap();
    let resource_types: BTreeMap<String, String> =
        resources.iter().map(|(id, resource)| (text(id), text(&resource["Type"]))).collect();
    let events = logged_events();
    assert!(events.contains("otp.sent") && events.contains("otp.verified"), "{events:?}");
    let shapes = emitted_shapes();
    let alarms = alarm_metrics(resources);
    let dashboard = dashboard_metrics(resources);
    for metric in alarms.iter().chain(&dashboard) {
        check(metric, &resource_types, &events, &shapes);
    }

    // What the stack must watch, each by at least one alarm.
    let watched = |namespace: &str, name: &str, dimension: Option<(&str, &str)>| {
        alarms.iter().any(|metric| {
            metric.namespace == namespace
                && metric.name == name
                && dimension.is_none_or(|(key, value)| {
                    metric.dimensions.get(key).is_some_and(|v| v.split('|').any(|v| v == value))
                })
        })
    };
    let functions: Vec<&String> = resource_types
        .iter()
        .filter(|(_, kind)| *kind == "AWS::Serverless::Function")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(functions.len(), 3, "{functions:?}");
    for function in functions {
        for name in ["Errors", "Throttles"] {
            let by = Some(("FunctionName", function.as_str()));
            assert!(watched("AWS/Lambda", name, by), "no {name} alarm for {function}");
        }
    }
    for operation in TABLE_OPERATIONS {
        for name in ["ThrottledRequests", "SystemErrors"] {
            let by = Some(("Operation", operation));
            assert!(watched("AWS/DynamoDB", name, by), "no {name} alarm on {operation}");
        }
    }
    for (namespace, name, dimension) in [
        ("AWS/ApiGateway", "5xx", None),
        ("AWS/SNS", "SMSMonthToDateSpentUSD", None),
        ("AWS/SNS", "NumberOfNotificationsFailed", None),
        (OURS, "Count", Some(("Event", "otp.sms_failed"))),
        (OURS, "Count", Some(("Event", "otp.rate_limited"))),
        (OURS, "Count", Some(("Event", "otp.refused"))),
        (OURS, "Count", Some(("Rule", "breaker_prefix"))),
        (OURS, "Count", Some(("Rule", "budget_day"))),
    ] {
        assert!(
            watched(namespace, name, dimension),
            "no alarm on {namespace} {name} {dimension:?}"
        );
    }
}

#[test]
fn the_checks_catch_a_metric_nobody_emits() {
    let yaml: Value = serde_yaml_ng::from_str(TEMPLATE).unwrap();
    let resources = yaml["Resources"].as_mapping().unwrap();
    let resource_types = resources.iter().map(|(id, r)| (text(id), text(&r["Type"]))).collect();
    let (events, shapes) = (logged_events(), emitted_shapes());
    let ours = |event: &str, dimensions: &[&str]| MetricUse {
        place: "test".into(),
        namespace: OURS.into(),
        name: "Count".into(),
        dimensions: dimensions
            .iter()
            .map(|d| ((*d).to_owned(), if *d == "Event" { event.to_owned() } else { "*".into() }))
            .collect(),
    };
    let aws = |namespace: &str, name: &str, dimensions: &[(&str, &str)]| MetricUse {
        place: "test".into(),
        namespace: namespace.into(),
        name: name.into(),
        dimensions: dimensions.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
    };
    let fails = |metric: MetricUse| {
        std::panic::catch_unwind(|| check(&metric, &resource_types, &events, &shapes)).is_err()
    };
    assert!(!fails(ours("otp.sent", &["Event", "Country"])));
    assert!(fails(ours("otp.sms_lost", &["Event"])), "an event the code never logs");
    let mut rule = ours("otp.refused", &["Event", "Rule"]);
    assert!(!fails(rule.clone()));
    rule.dimensions.insert("Rule".into(), "budget_week".into());
    assert!(fails(rule), "a rule the code never names");
    assert!(
        fails(ours("otp.sent", &["Event", "Country", "Rule"])),
        "a dimension set never written"
    );
    assert!(
        fails(aws("AWS/Lambda", "Errors", &[("FunctionName", "CodesTable")])),
        "not a function"
    );
    assert!(
        fails(aws("AWS/Lambda", "Error", &[("FunctionName", "VerifyFunction")])),
        "no such metric"
    );
    assert!(fails(aws("AWS/DynamoDB", "ThrottledRequests", &[("TableName", "CodesTable")])));
    assert!(fails(aws(
        "AWS/DynamoDB",
        "ThrottledRequests",
        &[("TableName", "CodesTable"), ("Operation", "Query")]
    )));
}
