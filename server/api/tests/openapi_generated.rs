//! `frontend/src/generated/openapi.json` is the document the server derives from its DTOs today: a DTO
//! or route changed without `make openapi` fails here (the frontend's jest checks `api.ts` against the
//! JSON in turn).

use std::path::Path;

#[test]
fn the_frontend_keeps_the_current_document() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frontend/src/generated/openapi.json");
    let kept = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}; run `make openapi`", path.display()));
    let current = nbgate_api::executor::openapi_json();
    if kept != current {
        let line = kept
            .lines()
            .zip(current.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || kept.lines().count().min(current.lines().count()) + 1,
                |index| index + 1,
            );
        panic!(
            "frontend/src/generated/openapi.json is stale (first difference at line {line}): run `make openapi`"
        );
    }
}
