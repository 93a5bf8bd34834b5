//! What users submit is checked, and each error carries the facts.

mod support;

use nbgate_scheduler::{
    NewExecution, Notify, Recurrence, SchedulePatch, ScheduleSpec, SchedulerError, TokioClock,
    ValidationError,
};
use serde_json::json;
use support::*;
use tokio_util::sync::CancellationToken;

fn params(value: serde_json::Value) -> nbgate_scheduler::ParameterValues {
    value.as_object().cloned().expect("object")
}

/// Parameters from JSON text, numbers exact as an HTTP request body gives them.
fn exact(text: &str) -> nbgate_scheduler::ParameterValues {
    serde_json::from_str(text).expect("a JSON object")
}

fn invalid(result: Result<impl std::fmt::Debug, SchedulerError>) -> ValidationError {
    match result {
        Err(SchedulerError::Validation(error)) => error,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn requests_are_validated_with_facts() {
    let root = tempfile::tempdir().expect("root");
    let data = tempfile::tempdir().expect("data");
    let cell = "days = 60  # history\nrate = 0.5\nlabel = \"buy\"\nflags = [1]\nopt = None";
    write(
        root.path(),
        "nb.ipynb",
        &notebook("python3", "python", Some(cell), &["ok"]),
    );
    write(
        root.path(),
        "plain.ipynb",
        &notebook("python3", "python", None, &["ok"]),
    );
    write(
        root.path(),
        "nokernel.ipynb",
        &notebook("", "python", None, &["ok"]),
    );
    let runner = FakeRunner::new(fake_specs(data.path()));
    let clock = TokioClock::starting_at(utc("2026-01-01T00:00:00Z"));
    let shutdown = CancellationToken::new();
    let handle = start_fake(root.path(), data.path(), clock, runner, shutdown.clone()).await;
    let spec = |name: &str| {
        ScheduleSpec::new(
            name,
            "nb.ipynb",
            Recurrence::Every("15m".into()),
            "Europe/Paris",
        )
    };

    let ok = handle
        .create_schedule(spec("good_one"))
        .await
        .expect("valid");
    assert_eq!(ok.description, "Every 15 minutes (Europe/Paris)");
    assert!(ok.snapshot_hash.is_some());

    let cases: Vec<(ScheduleSpec, &str)> = vec![
        (spec("Bad-Name"), "InvalidName"),
        (spec("good_one"), "NameTaken"),
        (
            ScheduleSpec {
                notebook: "../x.ipynb".into(),
                ..spec("a")
            },
            "InvalidPath",
        ),
        (
            ScheduleSpec {
                notebook: "/etc/x.ipynb".into(),
                ..spec("a")
            },
            "InvalidPath",
        ),
        (
            ScheduleSpec {
                notebook: "missing.ipynb".into(),
                ..spec("a")
            },
            "NotebookNotFound",
        ),
        (
            ScheduleSpec {
                recurrence: Recurrence::Cron("* *".into()),
                ..spec("a")
            },
            "InvalidCron",
        ),
        (
            ScheduleSpec {
                recurrence: Recurrence::Every("5 days".into()),
                ..spec("a")
            },
            "InvalidInterval",
        ),
        (
            ScheduleSpec {
                timezone: "Europe/Atlantis".into(),
                ..spec("a")
            },
            "InvalidTimezone",
        ),
        (
            ScheduleSpec {
                kernel: Some("julia".into()),
                ..spec("a")
            },
            "KernelNotFound",
        ),
        (
            ScheduleSpec {
                notebook: "nokernel.ipynb".into(),
                ..spec("a")
            },
            "NoKernel",
        ),
        (
            ScheduleSpec {
                max_concurrent: 0,
                ..spec("a")
            },
            "OutOfRange",
        ),
        (
            ScheduleSpec {
                output_dir: "../out".into(),
                ..spec("a")
            },
            "InvalidPath",
        ),
        (
            ScheduleSpec {
                notify: Some(Notify {
                    url: "https://hooks.example/x".into(),
                    on_failure: true,
                    on_success: false,
                }),
                ..spec("a")
            },
            "InvalidWebhook",
        ),
        (
            ScheduleSpec {
                parameters: params(json!({"dayz": 1, "rate": 2})),
                ..spec("a")
            },
            "UnknownParameters",
        ),
        (
            ScheduleSpec {
                parameters: params(json!({"days": "60"})),
                ..spec("a")
            },
            "WrongParameterType",
        ),
        (
            ScheduleSpec {
                parameters: params(json!({"days": 1.5})),
                ..spec("a")
            },
            "WrongParameterType",
        ),
        (
            ScheduleSpec {
                parameters: params(json!({"label": 3})),
                ..spec("a")
            },
            "WrongParameterType",
        ),
        (
            // `1e3` is a float in JSON, as Python's json reads it, whatever its value.
            ScheduleSpec {
                parameters: exact(r#"{"days": 1e3}"#),
                ..spec("a")
            },
            "WrongParameterType",
        ),
        (
            ScheduleSpec {
                notebook: "plain.ipynb".into(),
                parameters: params(json!({"x": 1})),
                ..spec("a")
            },
            "NoParametersCell",
        ),
    ];
    for (spec, expected) in cases {
        let error = invalid(handle.create_schedule(spec.clone()).await);
        let kind = format!("{error:?}");
        assert!(kind.starts_with(expected), "{spec:?}: {kind}");
    }

    // The messages carry the facts.
    let unknown = invalid(
        handle
            .create_schedule(ScheduleSpec {
                parameters: params(json!({"dayz": 1})),
                ..spec("a")
            })
            .await,
    );
    assert_eq!(
        unknown.to_string(),
        "unknown parameters [\"dayz\"]; the notebook's parameters cell declares [\"days\", \"rate\", \
         \"label\", \"flags\", \"opt\"]"
    );
    let wrong = invalid(
        handle
            .create_schedule(ScheduleSpec {
                parameters: params(json!({"days": "60"})),
                ..spec("a")
            })
            .await,
    );
    assert_eq!(
        wrong.to_string(),
        "parameter \"days\" must be an integer (its default in the notebook is 60), got a string"
    );

    let float = invalid(
        handle
            .create_schedule(ScheduleSpec {
                parameters: exact(r#"{"days": 60.0}"#),
                ..spec("a")
            })
            .await,
    );
    assert_eq!(
        float.to_string(),
        "parameter \"days\" must be an integer (its default in the notebook is 60), got a float"
    );

    // Integers of any size are integers, kept exact through the store (what a run gets).
    let big = r#"{"days": 99999999999999999999999, "rate": -9007199254740993, "flags": [1180591620717411303424]}"#;
    let exact_schedule = handle
        .create_schedule(ScheduleSpec {
            parameters: exact(big),
            ..spec("big_ints")
        })
        .await
        .expect("a 23-digit integer is an integer");
    let stored = handle
        .get_schedule(&exact_schedule.id)
        .await
        .expect("stored");
    assert_eq!(
        serde_json::to_string(&stored.spec.parameters).expect("JSON"),
        big.replace(": ", ":").replace(", ", ",")
    );
    let run = handle
        .run_now(
            &exact_schedule.id,
            exact(r#"{"days": -123456789012345678901234567890}"#),
        )
        .await
        .expect("an override of any size");
    let run = handle.get_execution(&run.id).await.expect("stored");
    assert_eq!(
        serde_json::to_string(&run.parameters).expect("JSON"),
        r#"{"days":-123456789012345678901234567890,"rate":-9007199254740993,"flags":[1180591620717411303424]}"#
    );

    // Accepted: ints for floats, anything for a None default, null anywhere, opt-outs.
    let fine = params(json!({"days": 7, "rate": 1, "label": "sell", "flags": [], "opt": {"a": 1}}));
    handle
        .create_schedule(ScheduleSpec {
            parameters: fine,
            ..spec("typed")
        })
        .await
        .expect("typed parameters");
    handle
        .create_schedule(ScheduleSpec {
            notebook: "plain.ipynb".into(),
            parameters: params(json!({"x": 1})),
            allow_undeclared_parameters: true,
            ..spec("opted_out")
        })
        .await
        .expect("opt-out");

    // Ad-hoc runs and edits are checked the same way.
    let adhoc = handle
        .create_execution(NewExecution {
            notebook: "nb.ipynb".into(),
            parameters: params(json!({"nope": 1})),
            ..Default::default()
        })
        .await;
    assert!(matches!(
        invalid(adhoc),
        ValidationError::UnknownParameters { .. }
    ));
    let edit = handle
        .update_schedule(
            "good_one",
            SchedulePatch {
                timezone: Some("Nowhere".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(
        invalid(edit),
        ValidationError::InvalidTimezone { .. }
    ));
    let bad_cursor = handle
        .list_executions(Default::default(), 10, Some("zzz"))
        .await;
    assert!(matches!(
        invalid(bad_cursor),
        ValidationError::InvalidCursor { .. }
    ));

    // Helpers for forms.
    let form = handle
        .notebook_parameters("nb.ipynb")
        .await
        .expect("parameters");
    let names: Vec<(&str, &str)> = form
        .parameters
        .as_deref()
        .expect("cell")
        .iter()
        .map(|p| (p.name.as_str(), p.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("days", "int"),
            ("rate", "float"),
            ("label", "str"),
            ("flags", "list"),
            ("opt", "null")
        ]
    );
    assert_eq!(form.parameters.as_deref().expect("cell")[0].help, "history");
    assert_eq!(
        handle
            .environments()
            .await
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["python3"]
    );
    shutdown.cancel();
    handle.stopped().await;
}
