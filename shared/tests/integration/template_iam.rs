//! What each function's role may do, read from `template.yaml` with its conditions decided
//! every way: only verify can read the secret that holds the signing key, whether the stack
//! creates its secrets or is given existing ones; only verify writes owner records and the
//! failure counters; the sending functions may write every send counter of the limits table.

use std::collections::BTreeMap;

use otp_shared::otp::limits::{Counts, LIMITS};
use serde_yaml_ng::{Mapping, Value};

const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The conditions the secrets' wiring depends on.
const CONDITIONS: [&str; 2] = ["CreateSecrets", "HasExistingSigningKey"];

/// Every assignment of [`CONDITIONS`].
fn assignments() -> Vec<BTreeMap<String, bool>> {
    (0..1 << CONDITIONS.len())
        .map(|bits: u32| {
            CONDITIONS
                .iter()
                .enumerate()
                .map(|(index, name)| ((*name).to_owned(), bits & (1 << index) != 0))
                .collect()
        })
        .collect()
}

/// `value` with every `!If` decided by `conditions` (false for any other), and
/// `AWS::NoValue` left out.
fn decide(value: &Value, conditions: &BTreeMap<String, bool>) -> Option<Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!If" => {
            let branches = tagged.value.as_sequence().expect("!If takes a list");
            let condition = branches[0].as_str().expect("!If names a condition");
            // The others (alarms, reserved concurrency, local endpoint) touch no right.
            let holds = conditions.get(condition).copied().unwrap_or(false);
            decide(&branches[if holds { 1 } else { 2 }], conditions)
        }
        Value::Tagged(tagged) if tagged.tag == "!Ref" && tagged.value == "AWS::NoValue" => None,
        Value::Sequence(items) => Some(Value::Sequence(
            items.iter().filter_map(|item| decide(item, conditions)).collect(),
        )),
        Value::Mapping(map) => Some(Value::Mapping(
            map.iter()
                .filter_map(|(key, item)| Some((key.clone(), decide(item, conditions)?)))
                .collect::<Mapping>(),
        )),
        other => Some(other.clone()),
    }
}

/// A value or a list of them, as a list; nested lists flattened.
fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Sequence(items) => items.iter().flat_map(list).collect(),
        other => vec![other.clone()],
    }
}

/// The statements of a function's inline policies.
fn statements(function: &Value) -> Vec<Value> {
    let policies = function["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default();
    policies.iter().flat_map(|policy| list(&policy["Statement"])).collect()
}

/// Whether `statement` allows `action`.
fn allows(statement: &Value, action: &str) -> bool {
    statement["Effect"] == "Allow" && list(&statement["Action"]).iter().any(|a| a == action)
}

fn resources(conditions: &BTreeMap<String, bool>) -> Mapping {
    let template: Value = serde_yaml_ng::from_str(TEMPLATE).unwrap();
    let decided = decide(&template, conditions).unwrap();
    decided["Resources"].as_mapping().unwrap().clone()
}

const SENDING: [&str; 2] = ["RegisterFunction", "ResendFunction"];

#[test]
fn no_sending_function_can_read_the_secret_that_holds_the_signing_key() {
    for conditions in assignments() {
        let resources = resources(&conditions);
        let verify = &resources["VerifyFunction"];
        let variables = &verify["Properties"]["Environment"]["Variables"];
        let Some(key_secret) = variables.get("VERIFICATION_TOKEN_PRIVATE_KEY_SECRET_ARN") else {
            assert!(!conditions["CreateSecrets"], "the stack's own signing key secret is read");
            continue; // no signing key: no tokens, nothing to keep from the others
        };
        let readable = |function: &Value| -> Vec<Value> {
            statements(function)
                .iter()
                .filter(|statement| allows(statement, "secretsmanager:GetSecretValue"))
                .flat_map(|statement| list(&statement["Resource"]))
                .collect()
        };
        assert!(readable(verify).contains(key_secret), "{conditions:?}: verify reads its key");
        for name in SENDING {
            let secrets = readable(&resources[name]);
            assert!(!secrets.is_empty(), "{name} reads its own secrets");
            assert!(
                !secrets.contains(key_secret),
                "{conditions:?}: {name} can read {key_secret:?}, which holds the signing key"
            );
        }
        // Of the secrets the stack creates, only the one verify reads holds the key.
        for (id, resource) in &resources {
            let text = serde_yaml_ng::to_string(&resource["Properties"]["SecretString"]).unwrap();
            if resource["Type"] == "AWS::SecretsManager::Secret"
                && text.contains("VERIFICATION_TOKEN_PRIVATE_KEY")
            {
                let reference = format!("{key_secret:?}");
                assert!(reference.contains(id.as_str().unwrap()), "{id:?} holds the key too");
            }
        }
    }
}

/// The key prefixes `statement` is limited to (`challenge#*`), none when it is not.
fn leading_keys(statement: &Value) -> Vec<String> {
    let condition = &statement["Condition"]["ForAllValues:StringLike"];
    list(&condition["dynamodb:LeadingKeys"])
        .iter()
        .map(|key| key.as_str().unwrap().to_owned())
        .collect()
}

/// Whether the key pattern `pattern` (`counter#*`) covers a key that starts with `start`.
fn covers(pattern: &str, start: &str) -> bool {
    let fixed = pattern.trim_end_matches('*');
    start.starts_with(fixed) || fixed.starts_with(start)
}

/// The key patterns the sending functions may write, per function.
fn sending_writes(resources: &Mapping) -> Vec<(&'static str, Vec<String>)> {
    SENDING
        .iter()
        .map(|name| {
            let writes: Vec<Value> = statements(&resources[*name])
                .into_iter()
                .filter(|statement| {
                    ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:PutItem"]
                        .iter()
                        .any(|action| allows(statement, action))
                })
                .collect();
            assert!(!writes.is_empty(), "{name} writes challenges and counters");
            let keys: Vec<String> = writes.iter().flat_map(leading_keys).collect();
            assert!(
                writes.iter().all(|statement| !leading_keys(statement).is_empty()),
                "{name}: every write limited by key prefix"
            );
            (*name, keys)
        })
        .collect()
}

#[test]
fn only_verify_writes_owner_records_and_failure_counters() {
    let failures = LIMITS.iter().find(|row| row.counts == Counts::WrongCodes).unwrap();
    let verify_only = ["verified#".to_owned(), format!("counter#{}#", failures.name)];
    for conditions in assignments() {
        for (name, keys) in sending_writes(&resources(&conditions)) {
            for key in &keys {
                for start in &verify_only {
                    assert!(!covers(key, start), "{name} may write {key}, which covers {start}");
                }
            }
        }
    }
}

#[test]
fn the_sending_functions_may_write_every_send_counter() {
    for conditions in assignments() {
        for (name, keys) in sending_writes(&resources(&conditions)) {
            for row in LIMITS.iter().filter(|row| row.counts == Counts::Sends) {
                let counter = format!("counter#{}#", row.name);
                assert!(
                    keys.iter().any(|key| covers(key, &counter) && key.len() <= counter.len() + 1),
                    "{name} may not write {counter}: a send would be refused by IAM"
                );
            }
        }
    }
}
