//! One notebook cell: a JSON object whose known fields have been checked, unknown ones kept.

use std::sync::Arc;

use serde_json::{Map, Value};

/// The three nbformat 4 cell types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    Code,
    Markdown,
    Raw,
}

impl CellType {
    pub fn parse(text: &str) -> Option<CellType> {
        match text {
            "code" => Some(CellType::Code),
            "markdown" => Some(CellType::Markdown),
            "raw" => Some(CellType::Raw),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CellType::Code => "code",
            CellType::Markdown => "markdown",
            CellType::Raw => "raw",
        }
    }
}

/// A cell. `Notebook::parse` guarantees `cell_type` is known, `source` is a string, `metadata` is
/// an object and code cells have an `outputs` array; the accessors still never panic.
///
/// The fields are shared copy-on-write: cloning a cell (or a whole notebook, as every save point of a
/// run does) copies a pointer, and the first change after a clone copies that one cell. A cell whose
/// fields are still the same allocation is unchanged, which lets the writer reuse its rendered text.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    fields: Arc<Map<String, Value>>,
}

impl Cell {
    pub(crate) fn from_fields(fields: Map<String, Value>) -> Cell {
        Cell {
            fields: Arc::new(fields),
        }
    }

    /// Whether `other` shares this cell's fields (and so certainly has the same content).
    pub(crate) fn same_fields(&self, other: &Cell) -> bool {
        Arc::ptr_eq(&self.fields, &other.fields)
    }

    /// `nbformat.v4.new_code_cell(source)`: a fresh id, no execution count, no outputs.
    pub fn new_code(source: &str) -> Cell {
        let mut fields = Map::new();
        fields.insert("id".into(), Value::String(random_cell_id()));
        fields.insert("cell_type".into(), "code".into());
        fields.insert("metadata".into(), Value::Object(Map::new()));
        fields.insert("execution_count".into(), Value::Null);
        fields.insert("source".into(), source.into());
        fields.insert("outputs".into(), Value::Array(Vec::new()));
        Cell::from_fields(fields)
    }

    /// `nbformat.v4.new_markdown_cell(source)`.
    pub fn new_markdown(source: &str) -> Cell {
        let mut fields = Map::new();
        fields.insert("id".into(), Value::String(random_cell_id()));
        fields.insert("cell_type".into(), "markdown".into());
        fields.insert("source".into(), source.into());
        fields.insert("metadata".into(), Value::Object(Map::new()));
        Cell::from_fields(fields)
    }

    pub fn cell_type(&self) -> CellType {
        self.fields
            .get("cell_type")
            .and_then(Value::as_str)
            .and_then(CellType::parse)
            .unwrap_or(CellType::Raw)
    }

    pub fn is_code(&self) -> bool {
        self.cell_type() == CellType::Code
    }

    pub fn id(&self) -> Option<&str> {
        self.fields.get("id").and_then(Value::as_str)
    }

    pub fn set_id(&mut self, id: String) {
        self.fields_mut().insert("id".into(), Value::String(id));
    }

    /// The source as one string (lists were joined when the notebook was parsed).
    pub fn source(&self) -> &str {
        self.fields
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn set_source(&mut self, source: &str) {
        self.fields_mut().insert("source".into(), source.into());
    }

    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.fields.get("metadata").and_then(Value::as_object)
    }

    /// The metadata object, created if missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        object_entry(self.fields_mut(), "metadata")
    }

    /// `metadata.tags`, ignoring entries that are not strings.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.metadata()
            .and_then(|metadata| metadata.get("tags"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().any(|candidate| candidate == tag)
    }

    /// `execution_count` (`None` when null, missing or not a count).
    pub fn execution_count(&self) -> Option<i64> {
        self.fields.get("execution_count").and_then(Value::as_i64)
    }

    /// `outputs` of a code cell; empty for other cells.
    pub fn outputs(&self) -> &[Value] {
        self.fields
            .get("outputs")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The outputs array, created if missing. Only meaningful on code cells.
    pub fn outputs_mut(&mut self) -> &mut Vec<Value> {
        array_entry(self.fields_mut(), "outputs")
    }

    /// All fields, for what the accessors above do not cover.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        Arc::make_mut(&mut self.fields)
    }
}

/// nbformat's `random_cell_id`: `uuid.uuid4().hex[:8]`.
pub fn random_cell_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(8);
    id
}

/// The object at `map[key]`, replacing a missing or non-object value by `{}`.
pub(crate) fn object_entry<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(object) => object,
        _ => unreachable!("the slot was just made an object"),
    }
}

/// The array at `map[key]`, replacing a missing or non-array value by `[]`.
pub(crate) fn array_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("the slot was just made an array"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cell(value: Value) -> Cell {
        match value {
            Value::Object(fields) => Cell::from_fields(fields),
            other => panic!("test cell must be an object: {other}"),
        }
    }

    #[test]
    fn new_cells_have_nbformat_fields() {
        let code = Cell::new_code("x = 1\n");
        assert_eq!(code.id().map(str::len), Some(8));
        assert!(
            code.id()
                .is_some_and(|id| id.chars().all(|c| c.is_ascii_hexdigit()))
        );
        assert_eq!(code.cell_type(), CellType::Code);
        assert_eq!(code.fields().get("execution_count"), Some(&Value::Null));
        assert_eq!(code.outputs(), &[] as &[Value]);
        let markdown = Cell::new_markdown("# hi");
        assert_eq!(markdown.cell_type(), CellType::Markdown);
        assert!(!markdown.fields().contains_key("outputs"));
        assert_ne!(Cell::new_code("").id(), Cell::new_code("").id());
    }

    #[test]
    fn tags_ignore_non_strings_and_missing_metadata() {
        let tagged =
            cell(json!({"cell_type": "code", "metadata": {"tags": ["parameters", 3, "x"]}}));
        assert_eq!(tagged.tags().collect::<Vec<_>>(), ["parameters", "x"]);
        assert!(tagged.has_tag("parameters"));
        let bare = cell(json!({"cell_type": "raw"}));
        assert_eq!(bare.tags().count(), 0);
        assert_eq!(bare.source(), "");
    }

    #[test]
    fn entries_replace_wrong_types() {
        let mut broken = cell(json!({"metadata": 5, "outputs": {}}));
        broken.metadata_mut().insert("a".into(), json!(1));
        broken.outputs_mut().push(json!({}));
        assert_eq!(
            Value::Object(broken.fields().clone()),
            json!({"metadata": {"a": 1}, "outputs": [{}]})
        );
    }
}
