use super::*;
use serde_json::{Value, json};

const CRON: &str = r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$";

fn crontab_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["cronSpec"],
                "properties": {
                    "cronSpec": {"type": "string", "pattern": CRON},
                    "image": {"type": "string"},
                    "name": {"type": "string", "maxLength": 5, "minLength": 2},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "port": {
                        "x-kubernetes-int-or-string": true,
                        "anyOf": [{"type": "integer"}, {"type": "string"}]
                    },
                    "config": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"known": {"type": "string"}}
                    },
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true
                    },
                    "ports": {
                        "type": "array",
                        "maxItems": 3,
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string"},
                                "port": {"type": "integer", "default": 80}
                            }
                        }
                    },
                    "tags": {
                        "type": "array",
                        "minItems": 1,
                        "x-kubernetes-list-type": "set",
                        "items": {"type": "string"}
                    },
                    "labels": {
                        "type": "object",
                        "maxProperties": 2,
                        "additionalProperties": {"type": "string"}
                    },
                    "schedule": {
                        "type": "object",
                        "default": {},
                        "properties": {"timezone": {"type": "string", "default": "UTC"}}
                    },
                    "note": {"type": "string", "nullable": true},
                    "when": {"type": "string", "format": "date-time"},
                    "ratio": {"type": "number", "multipleOf": 0.5, "maximum": 2, "exclusiveMaximum": true}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "labelSelector": {"type": "string"}
                }
            }
        }
    })
}

fn valid_crontab() -> Value {
    json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "my-cron", "namespace": "default"},
        "spec": {"cronSpec": "* * * * */5", "image": "my-cron-image", "replicas": 2}
    })
}

fn messages(errs: &[crate::FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

/// Validates `spec` (merged over a valid CronTab's spec) and returns the messages.
fn spec_errors(spec: Value) -> Vec<String> {
    let mut obj = valid_crontab();
    if let (Some(base), Some(extra)) = (obj["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    messages(&validate(&obj, &crontab_schema()))
}

fn schema_errors(schema: Value) -> Vec<String> {
    messages(&validate_schema(
        &schema,
        "spec.versions[0].schema.openAPIV3Schema",
    ))
}

const P: &str = "spec.versions[0].schema.openAPIV3Schema";

#[test]
fn crontab_schema_is_structural() {
    assert_eq!(schema_errors(crontab_schema()), Vec::<String>::new());
    assert!(validate(&valid_crontab(), &crontab_schema()).is_empty());
}

#[test]
fn prunes_unknown_fields() {
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "x", "labels": {"a": "b"}, "someRandomField": 42, "annotations": "bad"},
        "unknownTop": 1,
        "spec": {
            "cronSpec": "* * * * */5",
            "someRandomField": 42,
            "config": {"known": "k", "anything": {"deep": [1, {"x": 1}]}},
            "template": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "bogus": true},
                "spec": {"containers": []}
            },
            "ports": [{"name": "http", "port": 80, "extra": 1}],
            "labels": {"a": "b"}
        },
        "status": {"replicas": 1, "other": "x"}
    });
    prune(&mut obj, &crontab_schema());
    assert_eq!(
        obj,
        json!({
            "apiVersion": "stable.example.com/v1",
            "kind": "CronTab",
            "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {
                "cronSpec": "* * * * */5",
                "config": {"known": "k", "anything": {"deep": [1, {"x": 1}]}},
                "template": {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p"},
                    "spec": {"containers": []}
                },
                "ports": [{"name": "http", "port": 80}],
                "labels": {"a": "b"}
            },
            "status": {"replicas": 1}
        })
    );
}

#[test]
fn prune_keeps_preserved_array_items_and_drops_non_nullable_nulls() {
    let schema = json!({
        "type": "object",
        "properties": {
            "free": {"x-kubernetes-preserve-unknown-fields": true},
            "list": {
                "type": "array",
                "x-kubernetes-preserve-unknown-fields": true,
                "items": {"type": "object", "properties": {"a": {"type": "string"}}}
            },
            "gone": {"type": "string"},
            "kept": {"type": "string", "nullable": true},
            "defaulted": {"type": "string", "default": "d"}
        }
    });
    let mut obj = json!({
        "free": [{"x": 1}],
        "list": [{"a": "1", "b": 2}],
        "gone": null, "kept": null, "defaulted": null
    });
    prune(&mut obj, &schema);
    assert_eq!(
        obj,
        json!({"free": [{"x": 1}], "list": [{"a": "1", "b": 2}], "kept": null, "defaulted": null})
    );
}

#[test]
fn prune_additional_properties() {
    let schema = json!({
        "type": "object",
        "properties": {
            "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"a": {"type": "string"}}}},
            "any": {"type": "object", "additionalProperties": true}
        }
    });
    let mut obj = json!({"m": {"k": {"a": "x", "b": "y"}}, "any": {"k": {"nested": 1}, "s": 1}});
    prune(&mut obj, &schema);
    // `additionalProperties: true` has no schema for the values, so their fields are pruned.
    assert_eq!(
        obj,
        json!({"m": {"k": {"a": "x"}}, "any": {"k": {}, "s": 1}})
    );
}

#[test]
fn applies_defaults() {
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "x"},
        "spec": {"cronSpec": "* * * * *", "ports": [{"name": "http"}, {"name": "b", "port": 81}], "note": null}
    });
    apply_defaults(&mut obj, &crontab_schema());
    assert_eq!(obj["spec"]["replicas"], json!(1));
    assert_eq!(obj["spec"]["schedule"], json!({"timezone": "UTC"}));
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"name": "http", "port": 80}, {"name": "b", "port": 81}])
    );
    assert_eq!(obj["spec"]["note"], Value::Null);
    // status does not exist, so nothing is created there.
    assert!(obj.get("status").is_none());

    // A null in a non-nullable field takes the default.
    let mut obj = json!({"spec": {"cronSpec": "x", "replicas": null}});
    apply_defaults(&mut obj, &crontab_schema());
    assert_eq!(obj["spec"]["replicas"], json!(1));

    // Defaults only apply where the parent exists.
    let mut obj = json!({"apiVersion": "v1"});
    apply_defaults(&mut obj, &crontab_schema());
    assert_eq!(obj, json!({"apiVersion": "v1"}));

    // An explicit value is kept.
    let mut obj = json!({"spec": {"replicas": 5}});
    apply_defaults(&mut obj, &crontab_schema());
    assert_eq!(obj["spec"]["replicas"], json!(5));
}

#[test]
fn defaults_in_additional_properties_and_items() {
    let schema = json!({
        "type": "object",
        "properties": {
            "m": {"type": "object", "additionalProperties": {
                "type": "object", "properties": {"x": {"type": "integer", "default": 3}}
            }},
            "l": {"type": "array", "items": {"type": "string", "default": "d"}}
        }
    });
    let mut obj = json!({"m": {"a": {}, "b": {"x": 1}}, "l": [null, "v"]});
    apply_defaults(&mut obj, &schema);
    assert_eq!(
        obj,
        json!({"m": {"a": {"x": 3}, "b": {"x": 1}}, "l": ["d", "v"]})
    );
}

#[test]
fn type_errors() {
    assert_eq!(
        spec_errors(json!({"replicas": "string"})),
        vec![
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
        ]
    );
    assert_eq!(
        spec_errors(json!({"replicas": 1.5})),
        vec![
            r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#
        ]
    );
    // An integral float is an integer.
    assert!(spec_errors(json!({"replicas": 2.0})).is_empty());
    assert_eq!(
        spec_errors(json!({"image": 5})),
        vec![
            r#"spec.image: Invalid value: "integer": spec.image in body must be of type string: "integer""#
        ]
    );
    assert_eq!(
        spec_errors(json!({"labels": {"a": 1}})),
        vec![
            r#"spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#
        ]
    );
}

#[test]
fn nullable() {
    assert!(spec_errors(json!({"note": null})).is_empty());
    assert_eq!(
        spec_errors(json!({"image": null})),
        vec![
            r#"spec.image: Invalid value: "null": spec.image in body must be of type string: "null""#
        ]
    );
}

#[test]
fn required_enum_pattern() {
    let obj =
        json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "spec": {"image": "x"}});
    assert_eq!(
        messages(&validate(&obj, &crontab_schema())),
        vec!["spec.cronSpec: Required value"]
    );
    assert_eq!(
        spec_errors(json!({"mode": "c"})),
        vec![r#"spec.mode: Unsupported value: "c": supported values: "a", "b""#]
    );
    assert_eq!(
        spec_errors(json!({"cronSpec": "x"})),
        vec![format!(
            r#"spec.cronSpec: Invalid value: "x": spec.cronSpec in body should match '{CRON}'"#
        )]
    );
}

#[test]
fn numbers() {
    assert_eq!(
        spec_errors(json!({"replicas": 0})),
        vec![
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
        ]
    );
    assert_eq!(
        spec_errors(json!({"replicas": 11})),
        vec![
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"
        ]
    );
    assert_eq!(
        spec_errors(json!({"ratio": 0.7})),
        vec!["spec.ratio: Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5"]
    );
    assert_eq!(
        spec_errors(json!({"ratio": 2})),
        vec!["spec.ratio: Invalid value: 2: spec.ratio in body should be less than 2"]
    );
    assert!(spec_errors(json!({"ratio": 1.5})).is_empty());
    let schema = json!({"type": "object", "properties": {
        "n": {"type": "integer", "multipleOf": 3, "minimum": 0, "exclusiveMinimum": true}
    }});
    assert_eq!(
        messages(&validate(&json!({"n": 0}), &schema)),
        vec!["n: Invalid value: 0: n in body should be greater than 0"]
    );
    assert_eq!(
        messages(&validate(&json!({"n": 4}), &schema)),
        vec!["n: Invalid value: 4: n in body should be a multiple of 3"]
    );
}

#[test]
fn lengths_and_counts() {
    assert_eq!(
        spec_errors(json!({"name": "abcdef"})),
        vec!["spec.name: Too long: may not be more than 5 bytes"]
    );
    assert_eq!(
        spec_errors(json!({"name": "a"})),
        vec![r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#]
    );
    // Lengths count characters, as upstream does.
    assert!(spec_errors(json!({"name": "ééééé"})).is_empty());
    assert_eq!(
        spec_errors(json!({"ports": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]})),
        vec!["spec.ports: Too many: 4: must have at most 3 items"]
    );
    assert_eq!(
        spec_errors(json!({"tags": []})),
        vec!["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]
    );
    assert_eq!(
        spec_errors(json!({"labels": {"a": "1", "b": "2", "c": "3"}})),
        vec!["spec.labels: Too many: 3: must have at most 2 items"]
    );
    let schema = json!({"type": "object", "properties": {"o": {"type": "object", "minProperties": 1,
        "additionalProperties": {"type": "string"}}}});
    assert_eq!(
        messages(&validate(&json!({"o": {}}), &schema)),
        vec!["o: Invalid value: 0: o in body should have at least 1 properties"]
    );
}

#[test]
fn list_types() {
    assert_eq!(
        spec_errors(json!({"ports": [{"name": "a"}, {"name": "a", "port": 1}]})),
        vec![r#"spec.ports[1]: Duplicate value: map[string]string{"name":"a"}"#]
    );
    assert_eq!(
        spec_errors(json!({"tags": ["x", "y", "x", "x"]})),
        vec![r#"spec.tags[2]: Duplicate value: "x""#]
    );
    assert_eq!(
        spec_errors(json!({"ports": ["a"]})),
        vec![
            r#"spec.ports[0]: Invalid value: "string": spec.ports[0] in body must be of type object: "string""#,
            r#"spec.ports[0]: Invalid value: "a": must be an object for an x-kubernetes-list-type of map"#
        ]
    );
    let schema = json!({"type": "object", "properties": {"l": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "p"],
        "items": {"type": "object", "required": ["k"], "properties": {
            "k": {"type": "string"}, "p": {"type": "string", "default": "TCP"}
        }}
    }}});
    assert_eq!(
        messages(&validate(
            &json!({"l": [{"k": "a"}, {"k": "a", "p": "UDP"}, {"k": "a", "p": "TCP"}]}),
            &schema
        )),
        vec![r#"l[2]: Duplicate value: map[string]string{"k":"a", "p":"TCP"}"#]
    );
}

#[test]
fn int_or_string() {
    assert!(spec_errors(json!({"port": 8080})).is_empty());
    assert!(spec_errors(json!({"port": "http"})).is_empty());
    assert_eq!(
        spec_errors(json!({"port": true})),
        vec![
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
            r#"<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"#,
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer: "boolean""#,
        ]
    );
}

#[test]
fn formats() {
    assert!(spec_errors(json!({"when": "2024-01-02T03:04:05Z"})).is_empty());
    assert_eq!(
        spec_errors(json!({"when": "soon"})),
        vec![
            r#"spec.when: Invalid value: "soon": spec.when in body must be of type date-time: "soon""#
        ]
    );
    // Unsupported formats are ignored, as upstream strips them.
    let schema = json!({"type": "object", "properties": {"x": {"type": "string", "format": "int-or-string"}}});
    assert!(validate(&json!({"x": "anything"}), &schema).is_empty());
}

#[test]
fn preserve_unknown_fields_are_not_validated() {
    assert!(spec_errors(json!({"config": {"known": "k", "x": {"y": [1, 2]}}})).is_empty());
    assert_eq!(
        spec_errors(json!({"config": {"known": 1}})),
        vec![
            r#"spec.config.known: Invalid value: "integer": spec.config.known in body must be of type string: "integer""#
        ]
    );
}

#[test]
fn embedded_resources() {
    assert!(
        spec_errors(
            json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}})
        )
        .is_empty()
    );
    assert_eq!(
        spec_errors(json!({"template": {"spec": {}}})),
        vec![
            "spec.template.apiVersion: Required value: must not be empty",
            "spec.template.kind: Required value: must not be empty"
        ]
    );
    let errs = spec_errors(
        json!({"template": {"apiVersion": "a/b/c", "kind": "not_valid", "metadata": {"name": "a/b"}}}),
    );
    assert_eq!(
        errs[0],
        r#"spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#
    );
    assert!(errs[1].starts_with(r#"spec.template.kind: Invalid value: "not_valid": may have mixed case, but should otherwise match: a DNS-1035 label"#), "{errs:?}");
    assert_eq!(
        errs[2],
        r#"spec.template.metadata.name: Invalid value: "a/b": may not contain '/'"#
    );
}

#[test]
fn combinators() {
    let schema = json!({"type": "object", "properties": {
        "one": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        "all": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]},
        "not": {"type": "string", "not": {"enum": ["bad"]}}
    }});
    assert!(validate(&json!({"one": {"a": "x"}, "all": 3, "not": "ok"}), &schema).is_empty());
    assert_eq!(
        messages(&validate(&json!({"one": {"a": "x", "b": "y"}}), &schema)),
        vec![
            r#"<nil>: Invalid value: "": "one" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
        ]
    );
    assert_eq!(
        messages(&validate(&json!({"one": {}}), &schema)),
        vec![
            r#"<nil>: Invalid value: "": "one" must validate one and only one schema (oneOf). Found none valid"#,
            "one.a: Required value"
        ]
    );
    assert_eq!(
        messages(&validate(&json!({"all": 9}), &schema)),
        vec![
            "all: Invalid value: 9: all in body should be less than or equal to 5",
            r#"<nil>: Invalid value: "": "all" must validate all the schemas (allOf)"#
        ]
    );
    assert_eq!(
        messages(&validate(&json!({"not": "bad"}), &schema)),
        vec![r#"<nil>: Invalid value: "": "not" must not validate the schema (not)"#]
    );
}

#[test]
fn additional_properties_false() {
    let schema = json!({"type": "object", "properties": {"o": {"type": "object", "additionalProperties": false}}});
    assert_eq!(
        messages(&validate(&json!({"o": {"x": 1}}), &schema)),
        vec![r#"o: Invalid value: "x": o.x in body is a forbidden property"#]
    );
}

#[test]
fn schema_structural_errors() {
    assert_eq!(
        schema_errors(json!({"type": "object", "properties": {"a": {}}})),
        vec![format!(
            "{P}.properties[a].type: Required value: must not be empty for specified object fields"
        )]
    );
    assert_eq!(
        schema_errors(json!({"properties": {"a": {"type": "array"}}})),
        vec![
            format!("{P}.properties[a].items: Required value: must be specified"),
            format!("{P}.type: Required value: must not be empty at the root"),
        ]
    );
    assert_eq!(
        schema_errors(json!({"type": "string"})),
        vec![format!(
            r#"{P}.type: Invalid value: "string": must be object at the root"#
        )]
    );
    assert_eq!(
        schema_errors(json!({"type": "object", "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": {"type": "string"}}
        }})),
        vec![format!(
            "{P}.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 10}, "labels": {"type": "object"}
            }}}})
        ),
        vec![format!(
            "{P}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        )]
    );
    assert!(
        schema_errors(
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 10}
            }}}})
        )
        .is_empty()
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"a": {"type": "string",
            "anyOf": [{"type": "string", "description": "d"}]}}})
        ),
        vec![
            format!(
                "{P}.properties[a].anyOf[0].description: Forbidden: must be empty to be structural"
            ),
            format!("{P}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"),
        ]
    );
    // The int-or-string patterns may set types under anyOf.
    assert!(schema_errors(json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true,
        "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^[0-9a-z]+$"}]}}}))
    .is_empty());
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"e": {"type": "object", "x-kubernetes-embedded-resource": true}}})
        ),
        vec![format!(
            "{P}.properties[e].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"a": {"type": "object"}},
            "anyOf": [{"properties": {"b": {"minLength": 1}}}]})
        ),
        vec![format!(
            "{P}.properties[b]: Required value: because it is defined in {P}.anyOf[0].properties[b]"
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"a": {"type": "object",
            "anyOf": [{"properties": {"metadata": {"minProperties": 1}}}]}}})
        ),
        vec![format!(
            "{P}.properties[a].anyOf[0].properties[metadata]: Forbidden: must not be specified in a nested context"
        )]
    );
}

#[test]
fn schema_generic_errors() {
    assert_eq!(
        schema_errors(json!({"type": "object", "properties": {
            "r": {"$ref": "#/definitions/x"},
            "u": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}
        }})),
        vec![
            format!("{P}.properties[r].$ref: Forbidden: $ref is not supported"),
            format!(
                "{P}.properties[u].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ),
        ]
    );
    assert_eq!(
        schema_errors(json!({"type": "object", "nullable": true})),
        vec![format!(
            "{P}.nullable: Forbidden: nullable cannot be true at the root"
        )]
    );
    assert_eq!(
        schema_errors(json!({"type": "object", "properties": {"x": {"type": "foo"}}})),
        vec![format!(
            r#"{P}.properties[x].type: Unsupported value: "foo": supported values: "array", "boolean", "integer", "number", "object", "string""#
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map",
            "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}})
        ),
        vec![format!(
            "{P}.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["k"],
            "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}})
        ),
        vec![format!(
            "{P}.properties[l].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {"name": "x"}}}})
        ),
        vec![format!(
            "{P}.properties[metadata].default: Forbidden: must not be set in top-level metadata"
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"s": {"type": "string", "pattern": "(abc"}}})
        ),
        vec![format!(
            r#"{P}.properties[s].pattern: Invalid value: "(abc": must be a valid regular expression, but isn't: error parsing regexp: unclosed group: `(abc`"#
        )]
    );
    // Look-arounds are not RE2 either: a schema error, not a panic.
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"s": {"type": "string", "pattern": "a(?=b)"}}})
        )
        .len(),
        1
    );
    assert_eq!(
        schema_errors(json!({"type": "object", "properties": {"x": {"type": 5}}})),
        vec![
            format!(
                "{P}.properties[x].type: Invalid value: 5: json: cannot unmarshal number into Go struct field JSONSchemaProps.type of type string"
            ),
            format!(
                "{P}.properties[x].type: Required value: must not be empty for specified object fields"
            ),
        ]
    );
}

#[test]
fn schema_default_errors() {
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"r": {"type": "integer", "default": "one"}}})
        ),
        vec![format!(
            r#"{P}.properties[r].default: Invalid value: "string":  in body must be of type integer: "string""#
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"o": {"type": "object",
            "properties": {"a": {"type": "string"}}, "default": {"a": "x", "b": 1}}}})
        ),
        vec![format!(
            r#"{P}.properties[o].default: Invalid value: {{"a":"x","b":1}}: must not have unknown fields"#
        )]
    );
    assert_eq!(
        schema_errors(
            json!({"type": "object", "properties": {"r": {"type": "integer", "minimum": 1, "default": 0}}})
        ),
        vec![format!(
            "{P}.properties[r].default: Invalid value: 0:  in body should be greater than or equal to 1"
        )]
    );
}

#[test]
fn deep_and_hostile_inputs_do_not_panic() {
    let mut schema = json!({"type": "string"});
    for _ in 0..100 {
        schema = json!({"type": "object", "properties": {"a": schema}});
    }
    let errs = schema_errors(schema.clone());
    assert!(errs.iter().any(|e| e.contains("levels deep")), "{errs:?}");
    let mut obj = json!("x");
    for _ in 0..100 {
        obj = json!({"a": obj});
    }
    let _ = validate(&obj, &schema);
    prune(&mut obj, &schema);
    apply_defaults(&mut obj, &schema);
    for garbage in [
        json!(1),
        json!(null),
        json!([1, 2]),
        json!({"type": ["x"], "properties": 3, "items": "y",
        "anyOf": {}, "enum": 1, "required": "r", "additionalProperties": 5, "maxLength": "x", "pattern": 1}),
    ] {
        let _ = validate_schema(&garbage, P);
        let mut obj = json!({"a": [1, {"b": null}], "type": "x"});
        prune(&mut obj, &garbage);
        apply_defaults(&mut obj, &garbage);
        let _ = validate(&obj, &garbage);
    }
}

#[test]
fn json_paths() {
    let obj = json!({
        "metadata": {"name": "x", "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app.kubernetes.io/name": "cron"}},
        "spec": {"cronSpec": "* * * * */5", "replicas": 3,
            "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]},
        "status": {"replicas": 2, "conditions": [
            {"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True", "count": 2}
        ]}
    });
    assert_eq!(
        json_path(&obj, ".spec.cronSpec"),
        vec![json!("* * * * */5")]
    );
    assert_eq!(json_path(&obj, ".status.replicas"), vec![json!(2)]);
    assert_eq!(
        json_path(&obj, ".metadata.creationTimestamp"),
        vec![json!("2024-01-01T00:00:00Z")]
    );
    assert_eq!(
        json_path(&obj, ".spec.containers[*].image"),
        vec![json!("nginx"), json!("redis")]
    );
    assert_eq!(
        json_path(&obj, ".spec.containers[-1].name"),
        vec![json!("b")]
    );
    assert_eq!(
        json_path(&obj, ".spec.containers[0:1].name"),
        vec![json!("a")]
    );
    assert_eq!(
        json_path(&obj, r#".status.conditions[?(@.type=="Ready")].status"#),
        vec![json!("True")]
    );
    assert_eq!(
        json_path(&obj, ".status.conditions[?(@.type == 'Synced')].status"),
        vec![json!("False")]
    );
    assert_eq!(
        json_path(&obj, ".status.conditions[?(@.count > 1)].type"),
        vec![json!("Ready")]
    );
    assert_eq!(
        json_path(&obj, ".status.conditions[?(@.count)].type"),
        vec![json!("Ready")]
    );
    assert_eq!(json_path(&obj, "{.spec['replicas']}"), vec![json!(3)]);
    assert_eq!(
        json_path(&obj, r".metadata.labels.app\.kubernetes\.io/name"),
        vec![json!("cron")]
    );
    assert_eq!(
        json_path(&obj, "..image"),
        vec![json!("nginx"), json!("redis")]
    );
    assert!(json_path(&obj, ".spec.missing").is_empty());
    assert!(json_path(&obj, ".spec.containers[5].name").is_empty());
    assert!(json_path(&obj, ".spec[").is_empty());
    assert!(json_path(&obj, "[?(").is_empty());
}
