//! Event rows, for core/v1 Events and events.k8s.io/v1 Events (upstream serves both from one
//! storage and prints them alike; krust stores each in its own version, so the fields are read
//! by their names in that version).

use super::{Col, NAME_DESC, Printer, col, int_at, obj_at, s, since, str_at, wide};
use serde_json::Value;

const COLUMNS: &[Col] = &[
    col(
        "Last Seen",
        "string",
        "The time since the event was last recorded.",
    ),
    col("Type", "string", "The type of the event (Normal, Warning)."),
    col(
        "Reason",
        "string",
        "A short, machine understandable reason for the event.",
    ),
    col("Object", "string", "The object the event is about."),
    wide(
        "Subobject",
        "string",
        "The part of the object the event is about.",
    ),
    wide("Source", "string", "The component reporting the event."),
    col(
        "Message",
        "string",
        "A human-readable description of the event.",
    ),
    wide(
        "First Seen",
        "string",
        "The time since the event was first recorded.",
    ),
    wide("Count", "string", "The number of times the event occurred."),
    Col {
        name: "Name",
        type_: "string",
        format: "name",
        description: NAME_DESC,
        priority: 1,
    },
];

pub(super) const CORE_EVENT: Printer = Printer {
    columns: COLUMNS,
    cells: core_event_cells,
};

pub(super) const EVENTS_EVENT: Printer = Printer {
    columns: COLUMNS,
    cells: events_event_cells,
};

/// The fields of an event the row needs, whichever version it is stored in.
struct EventFields<'a> {
    obj: &'a Value,
    regarding: &'a str,
    message: &'a str,
    source: &'a str,
    first: &'a str,
    last: &'a str,
    count: i64,
    reporting_controller: &'a str,
}

fn core_event_cells(ev: &Value) -> Vec<Value> {
    event_cells(&EventFields {
        obj: ev,
        regarding: "involvedObject",
        message: "message",
        source: "source",
        first: "firstTimestamp",
        last: "lastTimestamp",
        count: int_at(ev, &["count"]),
        reporting_controller: "reportingComponent",
    })
}

fn events_event_cells(ev: &Value) -> Vec<Value> {
    event_cells(&EventFields {
        obj: ev,
        regarding: "regarding",
        message: "note",
        source: "deprecatedSource",
        first: "deprecatedFirstTimestamp",
        last: "deprecatedLastTimestamp",
        count: int_at(ev, &["deprecatedCount"]),
        reporting_controller: "reportingController",
    })
}

/// `component, host` of the source, falling back to the reporting controller and instance.
fn source(f: &EventFields) -> String {
    let first_non_empty = |a: &'static str, b: &str| -> String {
        let v = str_at(f.obj, &[f.source, a]);
        if v.is_empty() {
            str_at(f.obj, &[b]).to_string()
        } else {
            v.to_string()
        }
    };
    let component = first_non_empty("component", f.reporting_controller);
    let instance = first_non_empty("host", "reportingInstance");
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}

fn event_cells(f: &EventFields) -> Vec<Value> {
    let ev = f.obj;
    let first = str_at(ev, &[f.first]);
    let first = if first.is_empty() {
        since(str_at(ev, &["eventTime"]))
    } else {
        since(first)
    };
    let last = str_at(ev, &[f.last]);
    let mut last = if last.is_empty() {
        first.clone()
    } else {
        since(last)
    };
    let mut count = f.count;
    if obj_at(ev, &["series"]).is_some() {
        last = since(str_at(ev, &["series", "lastObservedTime"]));
        count = int_at(ev, &["series", "count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(ev, &[f.regarding, "kind"]).to_lowercase();
    let name = str_at(ev, &[f.regarding, "name"]);
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    vec![
        s(last),
        s(str_at(ev, &["type"])),
        s(str_at(ev, &["reason"])),
        s(target),
        s(str_at(ev, &[f.regarding, "fieldPath"])),
        s(source(f)),
        s(str_at(ev, &[f.message]).trim()),
        s(first),
        Value::from(count),
        s(crate::meta::name(ev)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ago, names, row};
    use serde_json::json;

    #[test]
    fn columns() {
        let want = [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name",
        ];
        assert_eq!(names("", "Event"), want);
        assert_eq!(names("events.k8s.io", "Event"), want);
    }

    #[test]
    fn core_events() {
        let ev = json!({"metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "default"},
            "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-5d9 to 3\n",
            "source": {"component": "deployment-controller"},
            "firstTimestamp": ago(3 * 3600), "lastTimestamp": ago(600), "count": 2, "type": "Normal"});
        assert_eq!(
            row("", "Event", &ev),
            [
                "10m",
                "Normal",
                "ScalingReplicaSet",
                "deployment/web",
                "",
                "deployment-controller",
                "Scaled up replica set web-5d9 to 3",
                "3h",
                "2",
                "web.17a"
            ]
        );

        let pod_ev = json!({"metadata": {"name": "p.1"},
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "message": "ok", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"}, "eventTime": ago(600)});
        assert_eq!(
            row("", "Event", &pod_ev),
            [
                "10m",
                "Normal",
                "Pulled",
                "pod/p",
                "spec.containers{app}",
                "kubelet, node-1",
                "ok",
                "10m",
                "1",
                "p.1"
            ]
        );

        let series = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Node"},
            "eventTime": "2024-01-01T00:00:00.000000Z", "reportingComponent": "ctrl",
            "reportingInstance": "ctrl-1", "series": {"count": 7, "lastObservedTime": ago(3 * 3600)}});
        let r = row("", "Event", &series);
        assert_eq!(r[0], "3h");
        assert_eq!(r[3], "node");
        assert_eq!(r[5], "ctrl, ctrl-1");
        assert_eq!(r[8], "7");

        let empty = row("", "Event", &json!({}));
        assert_eq!(empty[0], "<unknown>");
        assert_eq!(empty[7], "<unknown>");
        assert_eq!(empty[8], "1");
    }

    #[test]
    fn events_k8s_io_events() {
        let ev = json!({"metadata": {"name": "web.17b"}, "eventTime": ago(600),
            "regarding": {"kind": "Deployment", "name": "web", "fieldPath": ""},
            "reason": "ScalingReplicaSet", "note": "Scaled down", "type": "Normal",
            "reportingController": "deployment-controller", "reportingInstance": "",
            "action": "Scale"});
        assert_eq!(
            row("events.k8s.io", "Event", &ev),
            [
                "10m",
                "Normal",
                "ScalingReplicaSet",
                "deployment/web",
                "",
                "deployment-controller",
                "Scaled down",
                "10m",
                "1",
                "web.17b"
            ]
        );
        let legacy = json!({"metadata": {"name": "x"}, "regarding": {"kind": "Pod", "name": "p"},
            "deprecatedFirstTimestamp": ago(3 * 3600), "deprecatedLastTimestamp": ago(600),
            "deprecatedCount": 4, "deprecatedSource": {"component": "kubelet", "host": "n1"}});
        let r = row("events.k8s.io", "Event", &legacy);
        assert_eq!(r[0], "10m");
        assert_eq!(r[3], "pod/p");
        assert_eq!(r[5], "kubelet, n1");
        assert_eq!(r[7], "3h");
        assert_eq!(r[8], "4");
    }
}
