//! Rows of batch/v1 kinds: Job (status, completions, duration) and CronJob.

use super::{
    AGE, CONTAINERS, Col, IMAGES, NAME, Printer, age_cell, arr_at, bool_at, col, container_cells,
    format_label_selector, int_at, n, name_cell, opt_int_at, parse_ts, print_bool_ptr, s, since,
    str_at, wide,
};
use crate::meta::get_path;
use serde_json::Value;

const SELECTOR: Col = wide(
    "Selector",
    "string",
    "The label query over the pods of the job.",
);

pub(super) const JOB: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string", "Status of the job."),
        col(
            "Completions",
            "string",
            "The number of pods that succeeded out of the completions wanted.",
        ),
        col("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: job_cells,
};

pub(super) const CRON_JOB: Printer = Printer {
    columns: &[
        NAME,
        col("Schedule", "string", "The cron schedule of the job."),
        col(
            "Timezone",
            "string",
            "The time zone the schedule is interpreted in.",
        ),
        col(
            "Suspend",
            "boolean",
            "Whether subsequent executions are suspended.",
        ),
        col("Active", "integer", "The number of running jobs."),
        col(
            "Last Schedule",
            "string",
            "When the job was last successfully scheduled.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: cron_job_cells,
};

/// Whether the first condition of `type_` is True (upstream's `hasJobCondition`).
fn has_condition(job: &Value, type_: &str) -> bool {
    arr_at(job, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// The Status cell.
fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if crate::meta::is_deleting(job) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// The Completions cell: `succeeded/completions`, or `succeeded/1 of parallelism`.
fn job_completions(job: &Value) -> String {
    let succeeded = int_at(job, &["status", "succeeded"]);
    if let Some(completions) = opt_int_at(job, &["spec", "completions"]) {
        return format!("{succeeded}/{completions}");
    }
    let parallelism = int_at(job, &["spec", "parallelism"]);
    if parallelism > 1 {
        format!("{succeeded}/1 of {parallelism}")
    } else {
        format!("{succeeded}/1")
    }
}

/// The Duration cell: start to completion, or start to now; empty before the start.
fn job_duration(job: &Value) -> String {
    let Some(start) = parse_ts(str_at(job, &["status", "startTime"])) else {
        return String::new();
    };
    match parse_ts(str_at(job, &["status", "completionTime"])) {
        None => super::human_since(start),
        Some(end) => crate::time::human_duration(end.as_second() - start.as_second()),
    }
}

fn job_cells(job: &Value) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(job, &["spec", "template", "spec", "containers"]));
    vec![
        name_cell(job),
        s(job_status(job)),
        s(job_completions(job)),
        s(job_duration(job)),
        age_cell(job),
        s(names),
        s(images),
        s(format_label_selector(get_path(job, &["spec", "selector"]))),
    ]
}

fn cron_job_cells(cj: &Value) -> Vec<Value> {
    let last = str_at(cj, &["status", "lastScheduleTime"]);
    let last = if last.is_empty() {
        "<none>".to_string()
    } else {
        since(last)
    };
    let time_zone = get_path(cj, &["spec", "timeZone"])
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let (names, images) = container_cells(arr_at(
        cj,
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
    ));
    vec![
        name_cell(cj),
        s(str_at(cj, &["spec", "schedule"])),
        s(time_zone),
        s(print_bool_ptr(bool_at(cj, &["spec", "suspend"]))),
        n(arr_at(cj, &["status", "active"]).len() as i64),
        s(last),
        age_cell(cj),
        s(names),
        s(images),
        s(format_label_selector(get_path(
            cj,
            &["spec", "jobTemplate", "spec", "selector"],
        ))),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ago, row};
    use serde_json::{Value, json};

    fn job(spec: Value, status: Value) -> Value {
        let mut spec = spec;
        spec["template"] = json!({"spec": {"containers": [{"name": "pi", "image": "perl"}]}});
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}});
        json!({"metadata": {"name": "pi", "creationTimestamp": ago(3 * 3600)}, "spec": spec, "status": status})
    }

    #[test]
    fn jobs() {
        let cases: Vec<(Value, [&str; 4])> = vec![
            (
                job(json!({"completions": 1}), json!({})),
                ["Running", "0/1", "", "3h"],
            ),
            (
                job(json!({"completions": 1}), json!({"startTime": ago(600)})),
                ["Running", "0/1", "10m", "3h"],
            ),
            (
                job(
                    json!({"completions": 3}),
                    json!({"succeeded": 3, "startTime": "2024-01-01T00:00:00Z",
                    "completionTime": "2024-01-01T00:00:42Z",
                    "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                   {"type": "Complete", "status": "True"}]}),
                ),
                ["Complete", "3/3", "42s", "3h"],
            ),
            (
                job(
                    json!({"parallelism": 4}),
                    json!({"succeeded": 1, "conditions": [
                    {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}),
                ),
                ["Failed", "1/1 of 4", "", "3h"],
            ),
            (
                job(
                    json!({"parallelism": 1}),
                    json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
                ),
                ["Suspended", "0/1", "", "3h"],
            ),
            (
                job(
                    json!({}),
                    json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}),
                ),
                ["FailureTarget", "0/1", "", "3h"],
            ),
            (
                job(
                    json!({}),
                    json!({"conditions": [{"type": "Complete", "status": "False"}]}),
                ),
                ["Running", "0/1", "", "3h"],
            ),
            (
                {
                    let mut j = job(json!({"completions": 2}), json!({"succeeded": 1}));
                    j["metadata"]["deletionTimestamp"] = json!(ago(1));
                    j
                },
                ["Terminating", "1/2", "", "3h"],
            ),
        ];
        for (obj, want) in cases {
            let r = row("batch", "Job", &obj);
            assert_eq!(r[1..5], want, "{obj}");
            assert_eq!(
                r[5..],
                ["pi", "perl", "batch.kubernetes.io/controller-uid=u1"]
            );
        }
    }

    #[test]
    fn cron_jobs() {
        let cj = json!({"metadata": {"name": "hello", "creationTimestamp": ago(3 * 3600)},
            "spec": {"schedule": "*/5 * * * *", "suspend": false, "jobTemplate": {"spec": {
                "template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(600)}});
        let r = super::super::cells("batch", "CronJob", &cj);
        assert_eq!(
            r,
            [
                json!("hello"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("10m"),
                json!("3h"),
                json!("hello"),
                json!("busybox"),
                json!("<none>")
            ]
        );
        let tz = json!({"metadata": {"name": "tz"}, "spec": {"schedule": "0 0 * * *",
            "timeZone": "Etc/UTC", "suspend": true}});
        assert_eq!(
            row("batch", "CronJob", &tz)[..7],
            [
                "tz",
                "0 0 * * *",
                "Etc/UTC",
                "True",
                "0",
                "<none>",
                "<unknown>"
            ]
        );
        assert_eq!(row("batch", "CronJob", &json!({}))[3], "<unset>");
    }
}
