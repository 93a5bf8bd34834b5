//! Prints the executor API's OpenAPI document as `frontend/src/generated/openapi.json` keeps it.
//! `make openapi` writes that file with it, then the TypeScript types from the file.

fn main() {
    print!("{}", nbgate_api::executor::openapi_json());
}
