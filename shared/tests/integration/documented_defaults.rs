//! The configuration table of docs/configuration.md, the code's defaults (`config::DEFAULTS`)
//! and the parameter defaults of `template.yaml` say the same thing.
//!
//! A table row is `| VARIABLE | DEFAULT | PARAMETER | meaning |`: DEFAULT is `` `text` `` or
//! words (unset, required, ...); PARAMETER is `` `Name` ``, `` `Name` (`text`) `` when the
//! template deliberately defaults to something else, or words when no parameter sets it.

use std::collections::BTreeMap;

use otp_shared::config::DEFAULTS;
use serde_yaml_ng::Value;

const CONFIGURATION: &str = include_str!("../../../docs/configuration.md");
const TEMPLATE: &str = include_str!("../../../template.yaml");

/// One row of the configuration table.
#[derive(Debug)]
struct Row {
    /// The default, when the table gives one as code text.
    default: Option<String>,
    /// The template parameter, and the template's own default when it differs.
    parameter: Option<(String, Option<String>)>,
}

/// The text between the first pair of backticks.
fn code_text(cell: &str) -> Option<String> {
    let (_, rest) = cell.split_once('`')?;
    rest.split_once('`').map(|(text, _)| text.to_owned())
}

fn documented_table() -> BTreeMap<String, Row> {
    let section = CONFIGURATION
        .split("\n## Every setting\n")
        .nth(1)
        .expect("docs/configuration.md has an \"Every setting\" section");
    section
        .lines()
        .skip_while(|line| !line.starts_with("| variable"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .flat_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 4, "four cells: {line}");
            let default = cells[1].starts_with('`').then(|| code_text(cells[1])).flatten();
            let parameter = cells[2].starts_with('`').then(|| {
                let name = code_text(cells[2]).unwrap();
                let differs = cells[2].split_once('(').and_then(|(_, rest)| code_text(rest));
                (name, differs)
            });
            // A row may name several variables (`A`, `B`): each gets the row.
            let names: Vec<String> = cells[0]
                .split(", ")
                .map(|name| code_text(name).unwrap_or_else(|| panic!("a variable: {line}")))
                .collect();
            names.into_iter().map(move |name| {
                (name, Row { default: default.clone(), parameter: parameter.clone() })
            })
        })
        .collect()
}

/// A scalar as text; YAML numbers and strings alike.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

struct Template {
    /// Parameter name to its default ("" when it has none).
    defaults: BTreeMap<String, String>,
    /// Environment variable to the parameter it is `!Ref`'d from, in any function.
    variables: BTreeMap<String, String>,
}

fn template() -> Template {
    let yaml: Value = serde_yaml_ng::from_str(TEMPLATE).unwrap();
    let defaults = yaml["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, spec)| (text(name), spec.get("Default").map(text).unwrap_or_default()))
        .collect();
    let mut environments = vec![&yaml["Globals"]["Function"]["Environment"]["Variables"]];
    for (_, resource) in yaml["Resources"].as_mapping().unwrap() {
        if resource["Type"] == "AWS::Serverless::Function" {
            environments.push(&resource["Properties"]["Environment"]["Variables"]);
        }
    }
    let mut variables = BTreeMap::new();
    for environment in environments.into_iter().filter_map(Value::as_mapping) {
        for (name, value) in environment {
            if let Value::Tagged(tagged) = value
                && tagged.tag == "Ref"
            {
                variables.insert(text(name), text(&tagged.value));
            }
        }
    }
    Template { defaults, variables }
}

#[test]
fn every_code_default_is_the_documented_default() {
    let table = documented_table();
    for (variable, default) in DEFAULTS {
        let row = table
            .get(*variable)
            .unwrap_or_else(|| panic!("{variable} is in docs/configuration.md"));
        assert_eq!(
            row.default.as_deref(),
            Some(*default),
            "docs/configuration.md default of {variable}"
        );
    }
}

#[test]
fn every_documented_parameter_sets_its_variable_with_the_same_default() {
    let template = template();
    for (variable, row) in documented_table() {
        let Some((parameter, differs)) = &row.parameter else { continue };
        assert_eq!(
            template.variables.get(&variable),
            Some(parameter),
            "template.yaml sets {variable} from {parameter}"
        );
        let expected = differs.clone().or(row.default.clone()).unwrap_or_default();
        let actual = template.defaults.get(parameter).unwrap_or_else(|| panic!("{parameter}"));
        assert_eq!(actual, &expected, "template default of {parameter} ({variable})");
    }
}

#[test]
fn every_variable_the_template_sets_from_a_parameter_is_documented() {
    let table = documented_table();
    for (variable, parameter) in template().variables {
        if !template().defaults.contains_key(&parameter) {
            continue; // a resource, such as the table's name
        }
        let row = table
            .get(&variable)
            .unwrap_or_else(|| panic!("{variable} is in docs/configuration.md"));
        assert_eq!(
            row.parameter.as_ref().map(|(name, _)| name),
            Some(&parameter),
            "docs/configuration.md names {parameter} for {variable}"
        );
    }
}

/// The prefixes of the variables this project reads.
const VARIABLE_PREFIXES: [&str; 11] = [
    "OTP_",
    "JWT_",
    "SMS_",
    "VERIFICATION_TOKEN_",
    "AWS_",
    "TABLE_",
    "METRICS_",
    "SECRETS_",
    "ALLOW_",
    "RUST_",
    "PORT",
];

/// Documented variables this project's code does not read by name: the per-service endpoint
/// variables, whose names `aws::sdk_config_from` makes from the services' ids, and
/// `SECRETS_VERSION`, which is there to be changed, so that Lambda starts new instances that
/// read the secrets again.
const NOT_READ_BY_NAME: [&str; 5] = [
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SSM",
    "SECRETS_VERSION",
];

/// Every `"NAME"` literal of the Rust sources under `dirs` that looks like one of this
/// project's variables; the error codes (`OTP_NOT_FOUND`, ...) are left out.
fn variables_in_code(dirs: &[&str]) -> std::collections::BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let error_codes = std::fs::read_to_string(root.join("shared/src/http/error.rs")).unwrap();
    let mut files: Vec<_> = dirs.iter().map(|dir| root.join(dir)).collect();
    let mut names = std::collections::BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for literal in source.split('"').skip(1).step_by(2) {
            let shaped = literal.len() >= 4
                && literal
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                && VARIABLE_PREFIXES.iter().any(|prefix| literal.starts_with(prefix));
            if shaped && !error_codes.contains(&format!("\"{literal}\"")) {
                names.insert(literal.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_variable_the_code_reads_is_documented_and_every_documented_one_is_read() {
    let documented = documented_table();
    let read = variables_in_code(&["shared/src", "local/src", "functions"]);
    for name in &read {
        assert!(documented.contains_key(name), "{name} is read but not in docs/configuration.md");
    }
    for name in documented.keys() {
        // A secret's reference variables are made from its name (`<NAME>_SECRET_ARN`).
        let referenced = ["_SECRET_ARN", "_PARAMETER"]
            .iter()
            .any(|suffix| name.strip_suffix(suffix).is_some_and(|secret| read.contains(secret)));
        assert!(
            read.contains(name) || referenced || NOT_READ_BY_NAME.contains(&name.as_str()),
            "{name} is in docs/configuration.md but nothing reads it"
        );
    }
}
