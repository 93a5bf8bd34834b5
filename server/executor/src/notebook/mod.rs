//! The notebook document: parsed from `.ipynb` text, checked enough to run, edited in place and
//! written back exactly as `nbformat.writes` would. Unknown fields survive the round trip.

mod cell;
mod lines;

use std::collections::HashSet;
use std::io::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

pub(crate) use self::cell::object_entry;
pub use self::cell::{Cell, CellType, random_cell_id};
pub use self::lines::python_splitlines;
use crate::error::{NotebookError, json_type_name};
use crate::pyjson::{push_json_string, write_python_json};

/// The nbformat minor version nbgate writes.
pub const NBFORMAT_MINOR: u64 = 5;

/// Whether a write waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory before returning.
    Synced,
    /// Leave flushing to the kernel's page cache.
    Cached,
}

/// An nbformat 4 notebook.
#[derive(Debug, Clone, PartialEq)]
pub struct Notebook {
    nbformat_minor: u64,
    metadata: Map<String, Value>,
    cells: Vec<Cell>,
    /// Top-level fields other than the four above, kept as found.
    other: Map<String, Value>,
}

impl Notebook {
    /// Reads `.ipynb` text the way `nbformat.reads(as_version=4)` does: multi-line lists are
    /// joined into strings and transient fields (`orig_nbformat*`, `signature`, cell `trusted`)
    /// dropped. Rejects what cannot run, naming the cell and field.
    pub fn parse(text: &str) -> Result<Notebook, NotebookError> {
        let document: Value = serde_json::from_str(text).map_err(|error| NotebookError::Json {
            message: error.to_string(),
            line: error.line(),
            column: error.column(),
        })?;
        let Value::Object(mut document) = document else {
            return Err(NotebookError::NotAnObject {
                found: json_type_name(&document),
            });
        };
        let major = document.remove("nbformat");
        let minor = document.remove("nbformat_minor");
        match (&major, major.as_ref().and_then(Value::as_u64)) {
            (_, Some(4)) => {}
            (None, _) => return Err(missing("nbformat")),
            (Some(other), Some(_)) => {
                return Err(NotebookError::UnsupportedVersion {
                    found: other.to_string(),
                });
            }
            (Some(other), None) => return Err(invalid("nbformat", "an integer", other)),
        }
        let nbformat_minor = match &minor {
            None => return Err(missing("nbformat_minor")),
            Some(value) => value
                .as_u64()
                .ok_or_else(|| invalid("nbformat_minor", "an integer", value))?,
        };
        let metadata = match document.remove("metadata") {
            None => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(other) => return Err(invalid("metadata", "an object", &other)),
        };
        let cells = match document.remove("cells") {
            None => return Err(missing("cells")),
            Some(Value::Array(cells)) => cells,
            Some(other) => return Err(invalid("cells", "an array", &other)),
        };
        let cells = cells
            .into_iter()
            .enumerate()
            .map(|(index, cell)| parse_cell(index, cell))
            .collect::<Result<_, _>>()?;
        let mut notebook = Notebook {
            nbformat_minor,
            metadata,
            cells,
            other: document,
        };
        notebook.strip_transient();
        Ok(notebook)
    }

    /// Reads and parses a notebook file.
    pub fn read(path: &Path) -> Result<Notebook, NotebookError> {
        let text = std::fs::read_to_string(path).map_err(|source| NotebookError::Read {
            path: path.to_owned(),
            source,
        })?;
        Notebook::parse(&text)
    }

    /// `nbformat.v4.upgrade`: a notebook older than 4.5 becomes 4.5 and every cell gets a new
    /// random id. Missing and duplicate ids are then repaired the way nbformat's validator does.
    pub fn upgrade(&mut self) {
        if self.nbformat_minor < NBFORMAT_MINOR {
            for cell in &mut self.cells {
                cell.set_id(random_cell_id());
            }
            self.nbformat_minor = NBFORMAT_MINOR;
        }
        let mut seen = HashSet::new();
        for cell in &mut self.cells {
            let id = cell.id().map(str::to_owned);
            match id {
                Some(id) if seen.insert(id.clone()) => {}
                _ => {
                    let fresh = random_cell_id();
                    seen.insert(fresh.clone());
                    cell.set_id(fresh);
                }
            }
        }
    }

    pub fn nbformat_minor(&self) -> u64 {
        self.nbformat_minor
    }

    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.metadata
    }

    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// The cells, to insert, remove or edit.
    pub fn cells_mut(&mut self) -> &mut Vec<Cell> {
        &mut self.cells
    }

    pub fn cell(&self, index: usize) -> Option<&Cell> {
        self.cells.get(index)
    }

    pub fn cell_mut(&mut self, index: usize) -> Option<&mut Cell> {
        self.cells.get_mut(index)
    }

    /// The source of cell `index` as one string (empty if there is no such cell).
    pub fn cell_source(&self, index: usize) -> String {
        self.cells
            .get(index)
            .map(|cell| cell.source().to_owned())
            .unwrap_or_default()
    }

    /// Index of the first cell carrying `tag`.
    pub fn first_tagged_cell(&self, tag: &str) -> Option<usize> {
        self.cells.iter().position(|cell| cell.has_tag(tag))
    }

    /// `metadata.kernelspec.name`.
    pub fn kernel_name(&self) -> Option<&str> {
        self.metadata.get("kernelspec")?.get("name")?.as_str()
    }

    /// `metadata.language_info.name`, else `metadata.kernelspec.language` (papermill's order).
    pub fn language(&self) -> Option<&str> {
        let from_info = self
            .metadata
            .get("language_info")
            .and_then(|info| info.get("name"))
            .and_then(Value::as_str);
        let from_spec = || self.metadata.get("kernelspec")?.get("language")?.as_str();
        from_info
            .filter(|name| !name.is_empty())
            .or_else(from_spec)
            .filter(|name| !name.is_empty())
    }

    /// `nbformat.writes(nb)`: multi-line text split into line lists, transient fields stripped,
    /// one-space indentation, sorted keys, no trailing newline.
    pub fn to_ipynb_string(&self) -> String {
        self.render(&mut RenderCache::default())
    }

    /// [`Notebook::to_ipynb_string`], reusing the text of every cell that `cache` rendered before and
    /// that has not changed since (see [`Cell`]: an unchanged cell shares its fields). A run saves
    /// after every cell; without the cache each save would render every cell again.
    pub fn render(&self, cache: &mut RenderCache) -> String {
        let mut previous = std::mem::take(&mut cache.cells).into_iter();
        cache.cells = self
            .cells
            .iter()
            .map(|cell| match previous.next() {
                Some((seen, text)) if seen.same_fields(cell) => (seen, text),
                _ => (cell.clone(), render_cell(cell)),
            })
            .collect();

        let mut metadata = self.metadata.clone();
        strip_transient_metadata(&mut metadata);
        let metadata = Value::Object(metadata);
        let nbformat = Value::from(4);
        let minor = Value::from(self.nbformat_minor);
        let mut fields: Vec<(&str, Option<&Value>)> = self
            .other
            .iter()
            .map(|(key, value)| (key.as_str(), Some(value)))
            .collect();
        fields.extend([
            ("cells", None),
            ("metadata", Some(&metadata)),
            ("nbformat", Some(&nbformat)),
            ("nbformat_minor", Some(&minor)),
        ]);
        fields.sort_by(|left, right| left.0.cmp(right.0));

        let size = cache
            .cells
            .iter()
            .map(|(_, text)| text.len() + 4)
            .sum::<usize>();
        let mut out = String::with_capacity(size + 1024);
        out.push('{');
        for (position, (key, value)) in fields.into_iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            out.push_str("\n ");
            push_json_string(&mut out, key);
            out.push_str(": ");
            match value {
                Some(value) => write_python_json(&mut out, value, 1),
                None if cache.cells.is_empty() => out.push_str("[]"),
                None => {
                    out.push('[');
                    for (position, (_, text)) in cache.cells.iter().enumerate() {
                        if position > 0 {
                            out.push(',');
                        }
                        out.push_str("\n  ");
                        out.push_str(text);
                    }
                    out.push_str("\n ]");
                }
            }
        }
        out.push_str("\n}");
        out
    }

    /// Writes the notebook so that a crash never leaves a half-written file: a temporary file in
    /// the same directory is written, synced and renamed over `path`. Missing parent directories
    /// are created.
    pub fn write_atomic(&self, path: &Path) -> Result<(), NotebookError> {
        self.write_replacing(path, Durability::Synced)
    }

    /// Replaces `path` atomically (temporary file and rename), syncing to disk or not: an unsynced
    /// replacement still never leaves a half-written file after a crash of nbgate, only after a crash
    /// of the machine. Runs use it between cells and sync the final write.
    pub fn write_replacing(
        &self,
        path: &Path,
        durability: Durability,
    ) -> Result<(), NotebookError> {
        replace_file(path, &self.to_ipynb_string(), durability)
    }

    /// [`Notebook::write_replacing`] rendering with `cache` ([`Notebook::render`]).
    pub fn write_rendered(
        &self,
        path: &Path,
        durability: Durability,
        cache: &mut RenderCache,
    ) -> Result<(), NotebookError> {
        replace_file(path, &self.render(cache), durability)
    }

    fn strip_transient(&mut self) {
        strip_transient_metadata(&mut self.metadata);
        for cell in &mut self.cells {
            strip_transient_cell(cell.fields_mut());
        }
    }
}

/// What `nbformat` drops from the notebook's metadata on reading and writing.
fn strip_transient_metadata(metadata: &mut Map<String, Value>) {
    for key in ["orig_nbformat", "orig_nbformat_minor", "signature"] {
        metadata.remove(key);
    }
}

/// What `nbformat` drops from a cell on reading and writing: `metadata.trusted`.
fn strip_transient_cell(cell: &mut Map<String, Value>) {
    if let Some(Value::Object(metadata)) = cell.get_mut("metadata") {
        metadata.remove("trusted");
    }
}

/// What [`Notebook::render`] keeps between renders: each cell as last rendered, with its text.
#[derive(Default)]
pub struct RenderCache {
    cells: Vec<(Cell, String)>,
}

/// One cell as it appears in the file: lines split, `metadata.trusted` dropped, indented for its
/// place in the `cells` list.
fn render_cell(cell: &Cell) -> String {
    let mut fields = cell.fields().clone();
    strip_transient_cell(&mut fields);
    lines::split_cell(&mut fields);
    let mut text = String::new();
    write_python_json(&mut text, &Value::Object(fields), 2);
    text
}

/// Replaces `path` with `text` atomically, synced or not (see [`Notebook::write_replacing`]).
fn replace_file(path: &Path, text: &str, durability: Durability) -> Result<(), NotebookError> {
    let synced = durability == Durability::Synced;
    let error = |source| NotebookError::Write {
        path: path.to_owned(),
        source,
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(directory).map_err(error)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".nbgate-").suffix(".ipynb.tmp");
    #[cfg(unix)]
    {
        // A notebook is an ordinary file (0644 less the umask), not a private temp file.
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut file = builder.tempfile_in(directory).map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    if synced {
        file.as_file().sync_all().map_err(error)?;
    }
    file.persist(path).map_err(|persist| error(persist.error))?;
    // Make the rename itself durable; not every platform can open a directory.
    if synced && let Ok(handle) = std::fs::File::open(directory) {
        let _ = handle.sync_all();
    }
    Ok(())
}

fn parse_cell(index: usize, cell: Value) -> Result<Cell, NotebookError> {
    let field = |name: &str| format!("cells[{index}].{name}");
    let Value::Object(mut fields) = cell else {
        return Err(invalid(&format!("cells[{index}]"), "an object", &cell));
    };
    let cell_type = match fields.get("cell_type") {
        None => return Err(missing(&field("cell_type"))),
        Some(value) => value.as_str().and_then(CellType::parse).ok_or_else(|| {
            invalid(
                &field("cell_type"),
                "\"code\", \"markdown\" or \"raw\"",
                value,
            )
        })?,
    };
    match fields.get("metadata") {
        None => {
            fields.insert("metadata".into(), Value::Object(Map::new()));
        }
        Some(Value::Object(_)) => {}
        Some(other) => return Err(invalid(&field("metadata"), "an object", other)),
    }
    lines::rejoin_cell(&mut fields);
    match fields.get("source") {
        None => return Err(missing(&field("source"))),
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(invalid(
                &field("source"),
                "a string or a list of strings",
                other,
            ));
        }
    }
    if cell_type == CellType::Code {
        match fields.get("outputs") {
            None => return Err(missing(&field("outputs"))),
            Some(Value::Array(outputs)) => {
                if let Some((position, output)) = outputs
                    .iter()
                    .enumerate()
                    .find(|(_, output)| !output.is_object())
                {
                    return Err(invalid(
                        &field(&format!("outputs[{position}]")),
                        "an object",
                        output,
                    ));
                }
            }
            Some(other) => return Err(invalid(&field("outputs"), "an array", other)),
        }
    }
    Ok(Cell::from_fields(fields))
}

fn missing(field: &str) -> NotebookError {
    NotebookError::MissingField {
        field: field.to_owned(),
    }
}

fn invalid(field: &str, expected: &'static str, found: &Value) -> NotebookError {
    let found = match found {
        Value::String(text) => format!("the string {text:?}"),
        Value::Number(number) => format!("the number {number}"),
        other => json_type_name(other).to_owned(),
    };
    NotebookError::InvalidField {
        field: field.to_owned(),
        expected,
        found,
    }
}

#[cfg(test)]
mod tests;
