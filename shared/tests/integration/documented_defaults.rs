//! The README's configuration table, the code's defaults (`config::DEFAULTS`) and the
//! parameter defaults of `template.yaml` say the same thing.
//!
//! A table row is `| VARIABLE | DEFAULT | PARAMETER | meaning |`: DEFAULT is `` `text` `` or
//! words (unset, required, ...); PARAMETER is `` `Name` ``, `` `Name` (`text`) `` when the
//! template deliberately defaults to something else, or words when no parameter sets it.

use std::collections::BTreeMap;

use otp_shared::config::DEFAULTS;
use serde_yaml_ng::Value;

const README: &str = include_str!("../../../README.md");
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

fn readme_table() -> BTreeMap<String, Row> {
    let section = README.split("## Configuration").nth(1).expect("a Configuration section");
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
fn every_code_default_is_the_readme_default() {
    let table = readme_table();
    for (variable, default) in DEFAULTS {
        let row = table.get(*variable).unwrap_or_else(|| panic!("{variable} is in the README"));
        assert_eq!(row.default.as_deref(), Some(*default), "README default of {variable}");
    }
}

#[test]
fn every_readme_parameter_sets_its_variable_with_the_same_default() {
    let template = template();
    for (variable, row) in readme_table() {
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
fn every_variable_the_template_sets_from_a_parameter_is_in_the_readme() {
    let table = readme_table();
    for (variable, parameter) in template().variables {
        if !template().defaults.contains_key(&parameter) {
            continue; // a resource, such as the table's name
        }
        let row = table.get(&variable).unwrap_or_else(|| panic!("{variable} is in the README"));
        assert_eq!(
            row.parameter.as_ref().map(|(name, _)| name),
            Some(&parameter),
            "README names {parameter} for {variable}"
        );
    }
}
