use super::*;
use serde_json::json;

const SAMPLE: &str = include_str!("testdata/sample.ipynb");
/// `nbformat.writes(nbformat.reads(SAMPLE, as_version=4))` with nbformat 5.11.1.
const SAMPLE_WRITTEN: &str = include_str!("testdata/sample.expected.ipynb");

fn parse(value: Value) -> Result<Notebook, NotebookError> {
    Notebook::parse(&value.to_string())
}

fn minimal(cells: Value) -> Value {
    json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})
}

#[test]
fn writes_exactly_like_nbformat() -> Result<(), NotebookError> {
    let notebook = Notebook::parse(SAMPLE)?;
    assert_eq!(notebook.to_ipynb_string(), SAMPLE_WRITTEN);
    // Reading our own output gives the same document back: written again, the same bytes. (Numbers
    // keep their text, so the sample's `2.50`, written `2.5` as Python does, is not `==` to it.)
    assert_eq!(
        Notebook::parse(SAMPLE_WRITTEN)?.to_ipynb_string(),
        SAMPLE_WRITTEN
    );
    Ok(())
}

#[test]
fn a_cached_render_follows_every_change_of_a_run() -> Result<(), NotebookError> {
    let mut notebook = Notebook::parse(SAMPLE)?;
    let mut cache = RenderCache::default();
    assert_eq!(notebook.render(&mut cache), SAMPLE_WRITTEN);

    // As a run does: snapshot, then change an earlier cell (a display update), add outputs to a later
    // one, insert a cell and remove one; each render must equal a fresh one.
    let snapshot = notebook.clone();
    let last = notebook.cells().len() - 1;
    notebook
        .cell_mut(0)
        .expect("a first cell")
        .set_source("changed = 1\nprint(changed)");
    notebook
        .cell_mut(last)
        .expect("a last cell")
        .metadata_mut()
        .insert("tags".into(), json!(["x"]));
    assert_eq!(notebook.render(&mut cache), notebook.to_ipynb_string());
    assert_ne!(notebook.render(&mut cache), snapshot.to_ipynb_string());

    notebook
        .cells_mut()
        .insert(1, Cell::new_markdown("inserted\ntext"));
    assert_eq!(notebook.render(&mut cache), notebook.to_ipynb_string());
    notebook.cells_mut().remove(0);
    notebook
        .metadata_mut()
        .insert("papermill".into(), json!({"done": true}));
    assert_eq!(notebook.render(&mut cache), notebook.to_ipynb_string());

    // The snapshot taken before the changes still renders as it was.
    assert_eq!(snapshot.render(&mut RenderCache::default()), SAMPLE_WRITTEN);
    assert_eq!(snapshot.render(&mut cache), SAMPLE_WRITTEN);
    Ok(())
}

#[test]
fn sources_and_texts_are_joined_on_read() -> Result<(), NotebookError> {
    let notebook = Notebook::parse(SAMPLE)?;
    assert_eq!(notebook.cell_source(0), "# Title\nline é\r\nend");
    assert_eq!(notebook.cell_source(1), "x = 1\ny = 2\n");
    assert_eq!(notebook.cell_source(9), "");
    let outputs = notebook.cells()[1].outputs();
    assert_eq!(outputs[0]["text"], json!("a\nb\n"));
    assert_eq!(outputs[1]["data"]["text/html"], json!("<b>\n</b>"));
    assert_eq!(
        outputs[2]["traceback"],
        json!(["\u{1b}[0;31mline1\n", "line2"])
    );
    assert!(!notebook.metadata().contains_key("orig_nbformat"));
    assert!(!notebook.metadata().contains_key("signature"));
    assert_eq!(
        notebook.cells()[0]
            .metadata()
            .and_then(|m| m.get("trusted")),
        None
    );
    Ok(())
}

#[test]
fn accessors() -> Result<(), NotebookError> {
    let notebook = Notebook::parse(SAMPLE)?;
    assert_eq!(notebook.kernel_name(), Some("python3"));
    assert_eq!(notebook.language(), Some("python"));
    assert_eq!(notebook.first_tagged_cell("parameters"), Some(1));
    assert_eq!(notebook.first_tagged_cell("injected-parameters"), None);
    assert_eq!(notebook.cells()[1].execution_count(), Some(3));

    let cases = [
        (json!({}), None, None),
        (
            json!({"kernelspec": {"name": "ir", "language": "R"}}),
            Some("ir"),
            Some("R"),
        ),
        (
            json!({"kernelspec": {"name": "k", "language": "R"}, "language_info": {"name": "python"}}),
            Some("k"),
            Some("python"),
        ),
        (
            json!({"kernelspec": {"name": 3}, "language_info": {"name": ""}}),
            None,
            None,
        ),
    ];
    for (metadata, kernel, language) in cases {
        let notebook =
            parse(json!({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": []}))?;
        assert_eq!(notebook.kernel_name(), kernel, "{metadata}");
        assert_eq!(notebook.language(), language, "{metadata}");
    }
    Ok(())
}

#[test]
fn rejects_what_cannot_run_naming_the_field() {
    let code = |extra: Value| {
        let mut cell = json!({"cell_type": "code", "metadata": {}, "source": "", "outputs": []});
        if let (Value::Object(cell), Value::Object(extra)) = (&mut cell, extra) {
            cell.extend(extra);
        }
        cell
    };
    let cases: Vec<(String, &str)> = vec![
        (
            "not json".into(),
            "notebook is not valid JSON: expected ident at line 1 column 2 (line 1, column 2)",
        ),
        (
            "[1]".into(),
            "notebook must be a JSON object, found an array",
        ),
        (
            json!({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}).to_string(),
            "notebook format 3 is not supported: nbgate runs nbformat 4 notebooks; convert it with `jupyter nbconvert --to notebook --nbformat 4 <file>` or by opening and saving it in JupyterLab",
        ),
        (
            json!({"nbformat": "4", "nbformat_minor": 5, "cells": []}).to_string(),
            "notebook field `nbformat` must be an integer, found the string \"4\"",
        ),
        (
            json!({"nbformat_minor": 5, "cells": []}).to_string(),
            "notebook field `nbformat` is missing",
        ),
        (
            json!({"nbformat": 4, "cells": []}).to_string(),
            "notebook field `nbformat_minor` is missing",
        ),
        (
            json!({"nbformat": 4, "nbformat_minor": 5}).to_string(),
            "notebook field `cells` is missing",
        ),
        (
            json!({"nbformat": 4, "nbformat_minor": 5, "cells": {}}).to_string(),
            "notebook field `cells` must be an array, found an object",
        ),
        (
            json!({"nbformat": 4, "nbformat_minor": 5, "metadata": [], "cells": []}).to_string(),
            "notebook field `metadata` must be an object, found an array",
        ),
        (
            minimal(json!([code(json!({})), 5])).to_string(),
            "notebook field `cells[1]` must be an object, found the number 5",
        ),
        (
            minimal(json!([{"cell_type": "heading", "source": ""}])).to_string(),
            "notebook field `cells[0].cell_type` must be \"code\", \"markdown\" or \"raw\", found the string \"heading\"",
        ),
        (
            minimal(json!([{"source": ""}])).to_string(),
            "notebook field `cells[0].cell_type` is missing",
        ),
        (
            minimal(json!([{"cell_type": "markdown"}])).to_string(),
            "notebook field `cells[0].source` is missing",
        ),
        (
            minimal(json!([code(json!({"source": ["a", 1]}))])).to_string(),
            "notebook field `cells[0].source` must be a string or a list of strings, found an array",
        ),
        (
            minimal(json!([code(json!({"metadata": "x"}))])).to_string(),
            "notebook field `cells[0].metadata` must be an object, found the string \"x\"",
        ),
        (
            minimal(json!([{"cell_type": "code", "source": ""}])).to_string(),
            "notebook field `cells[0].outputs` is missing",
        ),
        (
            minimal(json!([code(json!({"outputs": [{}, "x"]}))])).to_string(),
            "notebook field `cells[0].outputs[1]` must be an object, found the string \"x\"",
        ),
    ];
    for (text, expected) in cases {
        match Notebook::parse(&text) {
            Ok(_) => panic!("{text} should be rejected"),
            Err(error) => assert_eq!(error.to_string(), expected, "{text}"),
        }
    }
}

#[test]
fn accepts_missing_metadata_and_markdown_without_outputs() -> Result<(), NotebookError> {
    let notebook = parse(
        json!({"nbformat": 4, "nbformat_minor": 2, "cells": [{"cell_type": "markdown", "source": "x"}]}),
    )?;
    assert!(notebook.metadata().is_empty());
    assert_eq!(notebook.cells()[0].metadata(), Some(&Map::new()));
    Ok(())
}

#[test]
fn upgrade_gives_ids_like_nbformat() -> Result<(), NotebookError> {
    let cell = json!({"cell_type": "markdown", "metadata": {}, "source": "x", "id": "keep"});
    // Minor < 5: every cell gets a new random id, the notebook becomes 4.5.
    let mut old = parse(
        json!({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [cell.clone(), cell.clone()]}),
    )?;
    old.upgrade();
    assert_eq!(old.nbformat_minor(), 5);
    let ids: Vec<&str> = old.cells().iter().filter_map(Cell::id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| id.len() == 8 && *id != "keep"));
    assert_ne!(ids[0], ids[1]);
    assert!(!old.to_ipynb_string().contains("orig_nbformat"));

    // Minor 5: valid ids are kept, missing and duplicate ones repaired.
    let bare = json!({"cell_type": "markdown", "metadata": {}, "source": "x"});
    let mut current = parse(minimal(json!([cell.clone(), cell, bare])))?;
    current.upgrade();
    let ids: Vec<&str> = current.cells().iter().filter_map(Cell::id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], "keep");
    assert!(ids[1] != "keep" && ids[2] != "keep" && ids[1] != ids[2]);
    Ok(())
}

#[test]
fn write_atomic_creates_directories_and_replaces() -> Result<(), Box<dyn std::error::Error>> {
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("out/nested/result.ipynb");
    let notebook = Notebook::parse(SAMPLE)?;
    notebook.write_atomic(&path)?;
    assert_eq!(std::fs::read_to_string(&path)?, SAMPLE_WRITTEN);
    let mut changed = notebook.clone();
    changed.cells_mut().truncate(1);
    changed.write_atomic(&path)?;
    assert_eq!(
        Notebook::read(&path)?,
        Notebook::parse(&changed.to_ipynb_string())?
    );
    // Only the notebook is left behind, no temporary files.
    let names: Vec<_> =
        std::fs::read_dir(path.parent().ok_or("no parent")?)?.collect::<Result<_, _>>()?;
    assert_eq!(names.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o600,
            0o600
        );
    }
    Ok(())
}

#[test]
fn read_reports_the_path() {
    let error = Notebook::read(Path::new("/nonexistent/x.ipynb"))
        .map(|_| ())
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("cannot read notebook /nonexistent/x.ipynb: No such file or directory (os error 2)")
    );
}
