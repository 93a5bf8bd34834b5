use super::*;

/// (name, inferred_type_name, default, help), papermill's `Parameter` tuple.
type Inspected = (String, String, String, String);

fn spec(name: &str, type_name: &str, default: &str, help: &str) -> Inspected {
    (name.into(), type_name.into(), default.into(), help.into())
}

fn papermill_view(specs: &[ParameterSpec]) -> Vec<Inspected> {
    specs
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.type_name.clone(),
                p.default.clone(),
                p.help.clone(),
            )
        })
        .collect()
}

#[test]
fn inspects_like_papermill() {
    // Cases from papermill's tests/test_translators.py::test_inspect_python.
    let cases: Vec<(&str, Vec<Inspected>)> = vec![
        ("a = 2", vec![spec("a", "None", "2", "")]),
        ("a: int = 2", vec![spec("a", "int", "2", "")]),
        ("a = 2 # type:int", vec![spec("a", "int", "2", "")]),
        (
            "a = False # Nice variable a",
            vec![spec("a", "None", "False", "Nice variable a")],
        ),
        (
            "a: float = 2.258 # type: int Nice variable a",
            vec![spec("a", "float", "2.258", "Nice variable a")],
        ),
        (
            "a = 'this is a string' # type: int Nice variable a",
            vec![spec("a", "int", "'this is a string'", "Nice variable a")],
        ),
        (
            "a: List[str] = ['this', 'is', 'a', 'string', 'list'] # Nice variable a",
            vec![spec(
                "a",
                "List[str]",
                "['this', 'is', 'a', 'string', 'list']",
                "Nice variable a",
            )],
        ),
        (
            "a: List[str] = [\n    'this', # First\n    'is',\n    'a',\n    'string',\n    'list' # Last\n] # Nice variable a",
            vec![spec(
                "a",
                "List[str]",
                "['this','is','a','string','list']",
                "Nice variable a",
            )],
        ),
        (
            "a: List[str] = [\n                'this', # First\n                'is',\n\n                'a',\n                'string',\n                'list' # Last\n            ] # Nice variable a\n\n            b: float = -2.3432 # My b variable\n            ",
            vec![
                spec(
                    "a",
                    "List[str]",
                    "['this','is','a','string','list']",
                    "Nice variable a",
                ),
                spec("b", "float", "-2.3432", "My b variable"),
            ],
        ),
        // complex_parameters.ipynb's parameters cell (tests/test_inspect.py).
        (
            "msg = None\na: float = 2.25 # Variable a\nb = [\n    'Hello', # First element\n# Dummy comment\n    'World'\n] # type: List[str] Nice list\n\n# Interesting c variable\nc: \"NoneType\" = None\n# Not introspectable line\nd = a == 3\n# Broken name definition\n= 2",
            vec![
                spec("msg", "None", "None", ""),
                spec("a", "float", "2.25", "Variable a"),
                spec("b", "List[str]", "['Hello','World']", "Nice list"),
                spec("c", "NoneType", "None", ""),
            ],
        ),
        ("", vec![]),
        ("# only a comment\n\n", vec![]),
    ];
    for (source, expected) in cases {
        assert_eq!(
            papermill_view(&inspect_source(source)),
            expected,
            "{source:?}"
        );
    }
}

#[test]
fn kinds_and_typed_defaults_for_forms() {
    let source = "DATA_DAY_RANGE = 60  # days of history\nLABEL = 'buy'\nrate: float = 3\nflags = [True, False]\nopts = {'a': 1}\nnothing = None\nwhen = datetime.now()\nratio = 1e-3\n";
    let specs = inspect_source(source);
    let view: Vec<(&str, &str, Option<ParamValue>)> = specs
        .iter()
        .map(|p| (p.name.as_str(), p.kind.as_str(), p.default_value.clone()))
        .collect();
    assert_eq!(
        view,
        [
            ("DATA_DAY_RANGE", "int", Some(ParamValue::Int(60))),
            ("LABEL", "str", Some(ParamValue::Str("buy".into()))),
            ("rate", "float", Some(ParamValue::Int(3))),
            (
                "flags",
                "list",
                Some(ParamValue::List(vec![
                    ParamValue::Bool(true),
                    ParamValue::Bool(false)
                ]))
            ),
            (
                "opts",
                "dict",
                Some(ParamValue::Dict(vec![("a".into(), ParamValue::Int(1))]))
            ),
            ("nothing", "null", Some(ParamValue::Null)),
            ("when", "unknown", None),
            ("ratio", "float", Some(ParamValue::Float(0.001))),
        ]
    );
    assert_eq!(specs[0].help, "days of history");
}

fn notebook(metadata: &str, cells: &str) -> Notebook {
    let text = format!(
        r#"{{"nbformat": 4, "nbformat_minor": 5, "metadata": {metadata}, "cells": [{cells}]}}"#
    );
    Notebook::parse(&text).unwrap_or_else(|e| panic!("fixture: {e}"))
}

#[test]
fn discovery_uses_the_first_parameters_cell() {
    let python = r#"{"kernelspec": {"name": "python3", "language": "python"}}"#;
    let cells = r#"{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []},
        {"cell_type": "code", "source": "a = 1", "metadata": {"tags": ["parameters"]}, "outputs": []},
        {"cell_type": "code", "source": "b = 2", "metadata": {"tags": ["parameters"]}, "outputs": []}"#;
    let names = |specs: Option<Vec<ParameterSpec>>| {
        specs.map(|s| s.into_iter().map(|p| p.name).collect::<Vec<_>>())
    };
    assert_eq!(
        names(discover_parameters(&notebook(python, cells))),
        Some(vec!["a".to_owned()])
    );
    let untagged = r#"{"cell_type": "code", "source": "a = 1", "metadata": {}, "outputs": []}"#;
    assert_eq!(
        names(discover_parameters(&notebook(python, untagged))),
        None
    );
    // papermill cannot introspect other languages: a parameters cell, but nothing inferred.
    let r = r#"{"kernelspec": {"name": "ir", "language": "R"}}"#;
    assert_eq!(
        names(discover_parameters(&notebook(r, cells))),
        Some(vec![])
    );
}

#[test]
fn help_text_matches_papermill() {
    // Lines echoed by display_notebook_help for tests/notebooks/complex_parameters.ipynb.
    let source = "msg = None\na: float = 2.25 # Variable a\nb = [\n    'Hello', # First element\n    'World'\n] # type: List[str] Nice list\nc: \"NoneType\" = None\n";
    let specs = inspect_source(source);
    assert_eq!(
        format_notebook_help("nb.ipynb", Some(&specs)),
        "\nParameters inferred for notebook 'nb.ipynb':\n  msg: Unknown type (default None)\n  a: float (default 2.25)         Variable a\n  b: List[str] (default ['Hello','World'])\n                                  Nice list\n  c: NoneType (default None)      \n"
    );
    assert_eq!(
        format_notebook_help("x", None),
        "\nParameters inferred for notebook 'x':\n\n  No cell tagged 'parameters'\n"
    );
    assert_eq!(
        format_notebook_help("x", Some(&[])),
        "\nParameters inferred for notebook 'x':\n\n  Can't infer anything about this notebook's parameters. It may not have any parameter defined.\n"
    );
}
